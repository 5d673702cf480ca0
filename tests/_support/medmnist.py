"""Small MedMNIST-shaped arrays and a way to make their MD5 the catalogue's official one."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from radlens.data.medmnist import catalogue as medmnist_catalogue
from radlens.data.medmnist.load import get_info


def make_arrays(
    name: str, size: int = 28, n: tuple[int, int, int] = (12, 4, 6), seed: int = 0
) -> dict[str, np.ndarray]:
    """Small random arrays with the official layout of dataset `name` (labels (N, 1) / (N, 14))."""
    info = get_info(name)
    rng = np.random.default_rng(seed)
    if info.is_3d:
        shape: tuple[int, ...] = (size, size, size)
    elif info.n_channels == 1:
        shape = (size, size)
    else:
        shape = (size, size, info.n_channels)
    out = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        out[f"{split}_images"] = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        if info.task == "multi-label":
            out[f"{split}_labels"] = rng.integers(0, 2, (count, info.n_labels), dtype=np.uint8)
        else:
            out[f"{split}_labels"] = rng.integers(0, info.n_labels, (count, 1), dtype=np.uint8)
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    np.savez_compressed(path, **arrays)
    return hashlib.md5(path.read_bytes()).hexdigest()


def official_md5(monkeypatch: pytest.MonkeyPatch, name: str, size: int, md5: str) -> None:
    """Make `md5` the catalogue's official MD5 for (name, size) during one test."""
    catalogue = dict(medmnist_catalogue._catalogue())
    info = catalogue[name]
    files = dict(info.files)
    files[size] = (files[size][0], md5)
    catalogue[name] = dataclasses.replace(info, files=files)
    monkeypatch.setattr(medmnist_catalogue, "_catalogue", lambda: catalogue)
