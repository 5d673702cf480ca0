"""Content-addressed file store: each blob lives at `ROOT/ab/cd/<sha256>`.

Writes go to a temporary file in the same directory, are fsynced and renamed into place, so a blob
path either holds the complete content or does not exist. Writing the same content twice is a no-op.
Orphan blobs (written before a failed database transaction) are harmless and can be swept later.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from radlens.errors import ServiceError

_HEX = frozenset("0123456789abcdef")


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
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def read_bytes(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        if not path.is_file():
            raise ServiceError(f"stored file {sha256} is missing from {self.root}")
        return path.read_bytes()
