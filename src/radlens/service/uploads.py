"""Safe unpacking of uploaded files: size limits, zip bombs and path traversal.

Everything here runs before any byte is stored, so a rejected upload leaves nothing behind.
Entry sizes are enforced on the bytes actually inflated, not on the sizes the zip header claims.
`read_upload_form` reads a multipart `POST /studies` body within the upload size limit.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from radlens.errors import DataError

_CHUNK = 1 << 20


class UploadError(DataError):
    """An upload that is refused; `status_code` is the HTTP status to answer with."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int
    max_uncompressed_bytes: int
    max_ratio: float
    max_entries: int


def check_entry_name(name: str) -> str:
    """Reject absolute paths, drive letters and `..` components in a zip entry name."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise UploadError(f"zip entry {name[:200]!r} has an absolute path; refusing the upload")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UploadError(f"zip entry {name[:200]!r} escapes the archive with '..'; refusing")
    return posixpath.join(*parts) if parts else ""


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def unpack_zip(data: bytes, limits: UploadLimits) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in a zip, after every safety check passed."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UploadError(f"upload is not a readable zip archive: {exc}") from None
    files = [i for i in infos if not i.is_dir()]
    if len(files) > limits.max_entries:
        raise UploadError(
            f"zip holds {len(files)} files, more than the limit of {limits.max_entries}", 413
        )
    for info in infos:
        check_entry_name(info.filename)
    out: list[tuple[str, bytes]] = []
    total = 0
    for info in files:
        if info.flag_bits & 0x1:
            raise UploadError(f"zip entry {info.filename[:200]!r} is encrypted; not supported")
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if total > limits.max_uncompressed_bytes:
                        raise UploadError(
                            f"zip inflates to more than {limits.max_uncompressed_bytes} bytes "
                            "(possible zip bomb); refusing the upload",
                            413,
                        )
                    if size > _CHUNK and size > limits.max_ratio * max(info.compress_size, 1):
                        raise UploadError(
                            f"zip entry {info.filename[:200]!r} inflates more than "
                            f"{limits.max_ratio:g}x (possible zip bomb); refusing the upload",
                            413,
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise UploadError(f"zip entry {info.filename[:200]!r} is corrupt: {exc}") from None
        out.append((info.filename, b"".join(chunks)))
    if total > limits.max_ratio * max(len(data), 1) and total > _CHUNK:
        raise UploadError(
            f"zip inflates {total / max(len(data), 1):.0f}x, above the limit of "
            f"{limits.max_ratio:g}x (possible zip bomb); refusing the upload",
            413,
        )
    if not out:
        raise UploadError("zip archive holds no files")
    return out


def expand_uploads(
    uploads: list[tuple[str, bytes]], limits: UploadLimits
) -> list[tuple[str, bytes]]:
    """Flatten the uploaded parts: zips are unpacked (one level), other files kept as they are."""
    total = sum(len(d) for _, d in uploads)
    if total > limits.max_upload_bytes:
        raise UploadError(
            f"upload of {total} bytes exceeds the limit of {limits.max_upload_bytes} bytes "
            "(RADLENS_MAX_UPLOAD_BYTES)",
            413,
        )
    out: list[tuple[str, bytes]] = []
    for name, data in uploads:
        if is_zip(data):
            out.extend(unpack_zip(data, limits))
        else:
            out.append((name, data))
    if not out:
        raise UploadError("no files in the upload; send DICOM files, one zip, or one NIfTI")
    return out


@dataclass
class UploadForm:
    """The files (name, bytes) and the known text fields of a multipart upload."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def _too_big(limit: int, size: str = "") -> UploadError:
    what = f"upload of {size} bytes exceeds" if size else "upload exceeds"
    return UploadError(f"{what} the limit of {limit} bytes (RADLENS_MAX_UPLOAD_BYTES)", 413)


# Room for multipart boundaries, part headers and text fields on top of the file bytes.
_FORM_OVERHEAD = 1_000_000


def counting_receive(receive: Receive, max_upload_bytes: int) -> Receive:
    """`receive` that raises 413 as soon as the body bytes received pass the limit (plus the
    multipart overhead), whatever Content-Length or Transfer-Encoding says; nothing more is read."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_upload_bytes + _FORM_OVERHEAD:
                raise _too_big(max_upload_bytes)
        return message

    return counted


async def read_upload_form(
    request: Request, max_upload_bytes: int, known_fields: Collection[str]
) -> UploadForm:
    """The multipart body's files (any field name) and its `known_fields` text fields; 413 as soon
    as the declared length, the body bytes received (chunked or not) or the files read so far pass
    `max_upload_bytes`, 400 without files."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_upload_bytes + _FORM_OVERHEAD:
        raise _too_big(max_upload_bytes, length)
    counted = Request(request.scope, counting_receive(request.receive, max_upload_bytes))
    form = await counted.form(max_files=100_000, max_fields=50)
    out, total = UploadForm(), 0
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            total += len(data)
            if total > max_upload_bytes:
                raise _too_big(max_upload_bytes)
            out.files.append((value.filename or key, data))
        elif key in known_fields:
            out.fields[key] = str(value)
    await form.close()
    if not out.files:
        raise UploadError("no files in the upload; send multipart field 'files'", 400)
    return out
