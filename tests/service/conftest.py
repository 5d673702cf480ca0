"""Fixtures shared by the DICOM-node tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.service_fixtures import free_port

from radlens.service.dicom_node import DicomNode
from radlens.service.files import FileStore
from radlens.service.store import Database


@pytest.fixture
def node(tmp_path: Path):
    """A started DICOM node on a free port over a fresh SQLite store."""
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    server = DicomNode(db, FileStore(tmp_path / "blobs"), port=free_port())
    server.start()
    yield server
    server.stop()
    db.dispose()
