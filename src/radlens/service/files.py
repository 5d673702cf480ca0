"""Content-addressed file store: each blob lives at `ROOT/ab/cd/<sha256>`.

Writes go to a temporary file in the same directory, are fsynced and renamed into place, so a blob
path either holds the complete content or does not exist. Writing the same content twice is a no-op.
The folder is fsynced after the rename, so a blob that `put_bytes` returned survives a crash.
Orphan blobs (written before a failed or interrupted database transaction) are removed by
`radlens.service.ingest.reconcile_store` at start-up.
A writer killed mid-write (`kill -9`) leaves its `.tmp-*` file behind, and a killed scoring its
`radlens-score-*` folder in the temp dir: `sweep_leftovers` (run at service start-up) removes
those that are old enough that no live writer can still own them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from radlens.errors import ServiceError

log = logging.getLogger(__name__)
_HEX = frozenset("0123456789abcdef")
TEMP_PREFIX = ".tmp-"  # FileStore.put_bytes' temporary files
SCORE_TMP_PREFIX = "radlens-score-"  # the worker's per-scoring temporary folders
TEMP_FILE_MIN_AGE_S = 60.0  # a blob write takes well under this
SCORE_DIR_MIN_AGE_S = 3600.0  # a scoring takes well under this


class FileStore:
    """Content-addressed blobs under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise ServiceError(f"file key {sha256[:80]!r} is not a lower-case sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_bytes(self, data: bytes) -> str:
        """Store `data`; return its sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(target.parent.parent)  # new ab/cd folders: their names on disk too
            _fsync_dir(self.root)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)  # the rename (the blob's name) is on disk too
        return digest

    def blobs(self) -> Iterator[Path]:
        """Every stored blob (`ROOT/ab/cd/<sha256>`), temporary files excluded."""
        for path in self.root.glob("??/??/*"):
            name = path.name
            if len(name) == 64 and set(name) <= _HEX and path.is_file():
                yield path

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def read_bytes(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        if not path.is_file():
            raise ServiceError(f"stored file {sha256} is missing from {self.root}")
        return path.read_bytes()

    def sweep_temp_files(self, min_age_s: float = TEMP_FILE_MIN_AGE_S) -> int:
        """Remove `.tmp-*` files under `root/ab/cd/` untouched for `min_age_s`; return how many."""
        cutoff = time.time() - min_age_s
        removed = 0
        for path in self.root.glob(f"??/??/{TEMP_PREFIX}*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError as exc:  # another process swept it first, or no permission
                log.warning("cannot remove store leftover %s: %s", path, exc)
        return removed


def _fsync_dir(folder: Path) -> None:
    """fsync a directory so renames and new entries in it survive a crash (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _owned(path: Path) -> bool:
    """Whether this user owns `path` (always true where there are no POSIX uids)."""
    getuid = getattr(os, "getuid", None)
    return getuid is None or path.stat().st_uid == getuid()


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for child in folder.rglob("*"):
        newest = max(newest, child.lstat().st_mtime)
    return newest


def sweep_score_dirs(tmp_dir: Path | None = None, min_age_s: float = SCORE_DIR_MIN_AGE_S) -> int:
    """Remove this user's `radlens-score-*` folders in the temp dir in which nothing changed for
    `min_age_s` (a live scoring writes into its folder within seconds); return how many."""
    base = Path(tmp_dir or tempfile.gettempdir())
    cutoff = time.time() - min_age_s
    removed = 0
    for folder in base.glob(f"{SCORE_TMP_PREFIX}*"):
        try:
            if folder.is_symlink() or not folder.is_dir():
                continue
            if not _owned(folder) or _newest_mtime(folder) >= cutoff:
                continue
            shutil.rmtree(folder)
            removed += 1
        except OSError as exc:
            log.warning("cannot remove scoring leftover %s: %s", folder, exc)
    return removed


def sweep_leftovers(files: FileStore, tmp_dir: Path | None = None) -> dict[str, int]:
    """Start-up sweep of what killed processes left: store temp files and scoring folders."""
    swept = {"temp_files": files.sweep_temp_files(), "score_dirs": sweep_score_dirs(tmp_dir)}
    if any(swept.values()):
        log.info(
            "removed %d stale temp file(s) from %s and %d stale %s* folder(s)",
            swept["temp_files"],
            files.root,
            swept["score_dirs"],
            SCORE_TMP_PREFIX,
        )
    return swept
