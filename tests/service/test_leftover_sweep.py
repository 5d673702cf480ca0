"""Issue 18 item 8: a `kill -9` leaves FileStore `.tmp-*` files and `radlens-score-*` folders; the
service's start-up sweep removes the stale ones and keeps fresh ones (a live writer's)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from radlens.service.app import Services
from radlens.service.files import FileStore, sweep_score_dirs
from radlens.service.settings import Settings

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _plant(store_root: Path, tmp_dir: Path) -> dict[str, Path]:
    shard = store_root / "ab" / "cd"
    shard.mkdir(parents=True)
    planted = {
        "old_tmp": shard / ".tmp-killed",
        "fresh_tmp": shard / ".tmp-writing",
        "blob": shard / ("abcd" + "0" * 60),
        "old_score": tmp_dir / "radlens-score-killed",
        "fresh_score": tmp_dir / "radlens-score-live",
        "other": tmp_dir / "someone-else-old",
    }
    for key in ("old_tmp", "fresh_tmp", "blob"):
        planted[key].write_bytes(b"partial")
    for key in ("old_score", "fresh_score", "other"):
        planted[key].mkdir(parents=True)
        (planted[key] / "volume.npy").write_bytes(b"x")
    for key in ("old_tmp", "blob"):
        _age(planted[key], HOUR)
    for key in ("old_score", "other"):
        _age(planted[key] / "volume.npy", 2 * HOUR)
        _age(planted[key], 2 * HOUR)
    return planted


def test_service_start_sweeps_stale_leftovers(tmp_path, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger="radlens")
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_dir))
    settings = Settings(service_dir=tmp_path / "svc", enable_dicom=False, enable_worker=False)
    services = Services.build(settings)
    planted = _plant(services.files.root, tmp_dir)
    services.start_background()
    try:
        assert not planted["old_tmp"].exists() and not planted["old_score"].exists()
        for key in ("fresh_tmp", "blob", "fresh_score", "other"):
            assert planted[key].exists(), key
        assert "removed 1 stale temp file(s)" in caplog.text
        assert "1 stale radlens-score-* folder(s)" in caplog.text
    finally:
        services.stop_background()
        services.db.dispose()


def test_store_sweep_keeps_fresh_temp_files(tmp_path) -> None:
    store = FileStore(tmp_path / "blobs")
    planted = _plant(store.root, tmp_path / "tmp")
    assert store.sweep_temp_files() == 1
    assert store.sweep_temp_files() == 0
    assert planted["fresh_tmp"].exists() and planted["blob"].exists()


def test_score_dir_with_a_fresh_file_inside_is_kept(tmp_path) -> None:
    folder = tmp_path / "radlens-score-busy"
    folder.mkdir()
    (folder / "new.npy").write_bytes(b"x")
    _age(folder, 2 * HOUR)  # the folder is old, but a file in it was just written
    assert sweep_score_dirs(tmp_path) == 0 and folder.exists()
