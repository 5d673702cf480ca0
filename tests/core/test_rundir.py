"""Atomic run-directory writes: a temporary file and a rename, one temporary per process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from radlens.core import atomic_write_json, atomic_write_text
from radlens.core.rundir import atomic_save


def _write_many(path: str, text: str, times: int) -> None:
    for _ in range(times):
        atomic_write_text(path, text)


def test_two_processes_writing_the_same_file_never_collide(tmp_path: Path) -> None:
    """Every torchrun rank writes the run's config.yaml: with one shared temporary name, one
    rank's rename could move the other's temporary away (FileNotFoundError in CI)."""
    target = tmp_path / "config.yaml"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_write_many, args=(str(target), f"rank {r}\n", 300)) for r in (0, 1)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert target.read_text() in ("rank 0\n", "rank 1\n")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["config.yaml"]  # no temporary left


def test_atomic_writers_leave_only_the_target(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_save(tmp_path / "b.pt", {"y": 2})
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a.json", "b.pt"]
    with pytest.raises(FileNotFoundError):  # a missing folder is an error, not a stray file
        atomic_write_text(tmp_path / "nowhere" / "c.txt", "z")
