"""The start-up sweep of the store against the index (`reconcile_store`): old orphan blobs are
removed, young ones kept, rows without a file flagged and unflagged when the file is back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from _support.service import write_series
from sqlalchemy import select

from radlens.service.files import FileStore
from radlens.service.ingest import ORPHAN_MIN_AGE_S, ingest_dicom_files, reconcile_store
from radlens.service.store import Database, Instance


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_reconcile_removes_old_orphans_and_flags_missing_files(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    files = FileStore(tmp_path / "files")
    try:
        _, paths = write_series(tmp_path / "s", shape=(2, 16, 16))
        ingest_dicom_files(db, files, [(p.name, p.read_bytes()) for p in paths])
        old_orphan = files.path_of(files.put_bytes(b"never acknowledged"))
        young_orphan = files.path_of(files.put_bytes(b"being committed elsewhere"))
        _age(old_orphan, ORPHAN_MIN_AGE_S + 1)
        with db.session() as session:
            first, second = session.scalars(select(Instance).order_by(Instance.id)).all()
        gone = files.path_of(first.sha256)
        kept = gone.read_bytes()
        gone.unlink()
        assert reconcile_store(db, files) == {"orphans_removed": 1, "rows_without_file": 1}
        assert not old_orphan.exists() and young_orphan.exists()
        assert files.exists(second.sha256)
        with db.session() as session:
            assert session.get(Instance, first.id).file_missing
            assert not session.get(Instance, second.id).file_missing
        files.put_bytes(kept)  # the file is restored from a backup
        assert reconcile_store(db, files)["rows_without_file"] == 0
        with db.session() as session:
            assert not session.get(Instance, first.id).file_missing
    finally:
        db.dispose()
