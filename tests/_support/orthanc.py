"""A real Orthanc server for integration tests: temp storage, free ports, no auth, loopback only,
optionally the DicomWeb plugin (Debian `orthanc-dicomweb`). Loud skip when Orthanc is missing."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from _support.service_fixtures import free_port, need_program

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def http_json(url: str, data: bytes | None = None, method: str = "GET") -> object:
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def http_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: REST base URL, DICOM AE title and port."""

    base: str
    aet: str
    dicom_port: int

    def get(self, path: str) -> object:
        return http_json(self.base + path)

    def upload(self, data: bytes) -> object:
        return http_json(self.base + "/instances", data, "POST")

    @property
    def dicomweb(self) -> str:
        return self.base + "/dicom-web"


@contextmanager
def orthanc_server(
    tmp_path: Path, *, modalities: dict | None = None, dicomweb: bool = False
) -> Iterator[Orthanc]:
    """Start Orthanc with its storage under `tmp_path`; stop it when the block ends."""
    program = need_program("Orthanc", "orthanc")
    if dicomweb and not DICOMWEB_PLUGIN.exists():
        pytest.skip(f"!!! {DICOMWEB_PLUGIN} NOT INSTALLED: apt-get install orthanc-dicomweb !!!")
    http_port, dicom_port = free_port(), free_port()
    storage = tmp_path / "orthanc-db"
    config = {
        "Name": "radlens-test",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
        "DicomModalities": modalities or {},
    }
    if dicomweb:
        config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
    cfg = tmp_path / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log_path = tmp_path / "orthanc.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([program, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{http_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    http_json(f"{base}/system")
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise AssertionError(log_path.read_text()[-2000:]) from None
                    time.sleep(0.2)
            yield Orthanc(base, "ORTHANC", dicom_port)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
