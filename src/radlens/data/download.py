"""Checksummed, atomic downloads and cached file MD5s.

`download_file` streams a URL into a temporary file in the destination folder with a rich progress
bar, checks the byte count and the MD5, and only then renames it into place (`os.replace`, atomic on
one file system): a failed, interrupted or corrupted download never leaves a file at the target.
`file_md5` remembers digests by (absolute path, size, mtime) in a small JSON sidecar in the radlens
cache folder, so multi-gigabyte files are not re-hashed on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from radlens.errors import DataError

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_MD5_SIDECAR = "md5-cache.json"


def cache_root() -> Path:
    """$RADLENS_CACHE_DIR, else ~/.cache/radlens (not created here)."""
    env = os.environ.get("RADLENS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "radlens"


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5(path: str | Path, *, use_cache: bool = True) -> str:
    """MD5 hex digest of a file; cached by (absolute path, size, mtime_ns) when use_cache."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    sidecar = cache_root() / _MD5_SIDECAR
    table: dict[str, str] = {}
    if use_cache:
        with contextlib.suppress(OSError, ValueError):
            table = json.loads(sidecar.read_text(encoding="utf-8"))
        if isinstance(table, dict) and isinstance(table.get(key), str):
            return table[key]
    digest = _md5_of(path)
    if use_cache and stat.st_size >= CHUNK:  # only worth remembering for big files
        table = table if isinstance(table, dict) else {}
        table[key] = digest
        try:
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(table), encoding="utf-8")
            os.replace(tmp, sidecar)
        except OSError as exc:  # read-only home: hashing still works, just not cached
            log.debug("cannot write MD5 cache %s: %s", sidecar, exc)
    return digest


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


def download_file(url: str, target: str | Path, *, md5: str | None, timeout: float = 60.0) -> Path:
    """Download `url` to `target` atomically, verifying the byte count and (if given) the MD5.

    Raises DataError naming the URL on HTTP/connection errors, short reads (connection closed
    early) and MD5 mismatches; in every failure case no file is left at `target` or beside it.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as exc:
        raise DataError(
            f"cannot write into {target.parent}: {exc.strerror or exc}; choose another "
            "destination (--dest) or set RADLENS_DATA_DIR"
        ) from exc
    tmp = Path(tmp_name)
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    ok = False
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "radlens"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    with _progress() as progress:
                        task = progress.add_task(target.name, total=total)
                        while chunk := response.read(CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            progress.update(task, advance=len(chunk))
            except urllib.error.HTTPError as exc:
                raise DataError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DataError(
                    f"download of {url} failed after {received} bytes: {reason}"
                ) from exc
            if total is not None and received != total:
                raise DataError(
                    f"download of {url} incomplete: connection closed after {received} of "
                    f"{total} bytes; nothing was written to {target}"
                )
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if md5 is not None and actual != md5.lower():
            raise DataError(
                f"download of {url} has MD5 {actual}, expected {md5.lower()}; "
                f"the file was discarded and nothing was written to {target}"
            )
        os.replace(tmp, target)
        ok = True
        log.info("downloaded %s (%d bytes, MD5 %s)", target, received, actual)
        return target
    finally:
        if not ok:
            with contextlib.suppress(OSError):
                tmp.unlink()
