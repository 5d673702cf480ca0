"""Shared fixtures: where the real development data lives, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _support.shared import missing_data

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data beside the checkout, or $RADLENS_SHARED_DATA."""
    env = os.environ.get("RADLENS_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def medmnist_data_dir() -> Path:
    """$RADLENS_DATA_DIR (CI points it at ../shared/data/medmnist), else the shared copy."""
    env = os.environ.get("RADLENS_DATA_DIR")
    return Path(env) if env else shared_data_dir() / "medmnist"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        missing_data(f"shared data folder not found at {path} (set RADLENS_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def medmnist_dir() -> Path:
    path = medmnist_data_dir()
    if not path.is_dir():
        missing_data(f"MedMNIST data folder not found at {path} (set RADLENS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def reports_dir(shared_data: Path) -> Path:
    path = shared_data / "reports"
    if not path.is_dir():
        missing_data(f"report data folder not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each test on few threads: CI has two cores."""
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
