"""A remote DICOM node written `AE@HOST:PORT` (e.g. `ORTHANC@pacs.example.org:4242`).

The one parser for `radlens serve --send-results`, `radlens fetch --from` and the
`RADLENS_SEND_RESULTS` setting; a bad address gets a ConfigError naming the part that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from radlens.errors import ConfigError

AE_TITLE_MAX = 16


def check_ae_title(value: str, what: str = "AE title") -> str:
    """`value` stripped when it is a valid AE title (1-16 ASCII characters, no backslash)."""
    value = value.strip()
    if not value or len(value) > AE_TITLE_MAX or not value.isascii() or "\\" in value:
        raise ConfigError(f"{what} {value!r} must be 1-16 ASCII characters without '\\'")
    return value


@dataclass(frozen=True)
class DicomAddress:
    """Called AE title, host and port of a DICOM node."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_dicom_address(text: str, *, option: str = "address") -> DicomAddress:
    """`AE@HOST:PORT` -> DicomAddress; ConfigError saying what was expected otherwise."""
    expected = f"{option} {text!r}: expected AE@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242"
    ae, at, rest = text.strip().partition("@")
    host, colon, port = rest.rpartition(":")
    if not at or not colon or not host or not ae:
        raise ConfigError(expected)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{expected} (port {port!r} is not 1-65535)")
    return DicomAddress(check_ae_title(ae, f"{option} AE title"), host.strip("[]"), int(port))
