"""Helpers for the bench tests: tiny MedMNIST-layout npz files made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_medmnist_npz(
    path: Path, *, n: tuple[int, int, int] = (48, 24, 24), side: int = 28, classes: int = 2,
    depth: int | None = None, seed: int = 0,
) -> Path:  # fmt: skip
    """Official layout ({split}_images uint8, {split}_labels (N, 1)); class k has a bright square
    at a class-specific place, so a small network learns it in a few steps."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, m in zip(("train", "val", "test"), n, strict=True):
        y = np.arange(m) % classes
        rng.shuffle(y)
        shape = (m, side, side) if depth is None else (m, depth, side, side)
        x = rng.integers(0, 80, size=shape).astype(np.uint8)
        for i, k in enumerate(y):
            r = 2 + 6 * k
            x[i, ..., r : r + 6, r : r + 6] = 230
        arrays[f"{split}_images"] = x
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path
