"""Phantom masks land on the model's input grid exactly where the cropped volumes put the lesion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.data.volumes.preprocess import preprocess_volume
from radlens.data.volumes.volume import Volume
from radlens.errors import ConfigError
from radlens.explain.masks import resized_mask
from radlens.phantom import FOV_MM, Grid

NATIVE = (64, 96, 96)
GRID = (32, 64, 64)  # the whole field of view, resampled
CROP = (32, 48, 64)  # the centred crop the model sees


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _lesion(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A ball off the centre (anterior, left, upper), as mask file and as its HU volume."""
    z, y, x = np.ogrid[: NATIVE[0], : NATIVE[1], : NATIVE[2]]
    mask = (z - 44) ** 2 + ((y - 20) / 1.5) ** 2 + ((x - 66) / 1.5) ** 2 <= 16
    path = tmp_path / "masks.npz"
    np.savez_compressed(path, **{"nodule@left_upper_lobe": mask})
    grid = Grid.covering(NATIVE)
    volume = Volume(np.where(mask, 1000.0, -1000.0), grid.spacing, grid.origin, np.eye(3))
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    image = preprocess_volume(volume, target_spacing=spacing, window=(-1000, 1000), shape=CROP)
    return path, image[0] >= 0.5


def test_mask_follows_the_crop(tmp_path: Path) -> None:
    path, seen = _lesion(tmp_path)
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    mask = resized_mask(str(path), "nodule", CROP, spacing, FOV_MM)
    assert mask is not None and mask.shape == CROP and seen.any()
    assert _iou(mask, seen) > 0.6
    # resizing the whole field of view to the crop's shape would put it elsewhere
    squeezed = resized_mask(str(path), "nodule", CROP)
    assert squeezed is not None and _iou(squeezed, seen) < 0.3


def test_without_a_crop_spacing_changes_nothing(tmp_path: Path) -> None:
    path, _ = _lesion(tmp_path)
    spacing = tuple(f / g for f, g in zip(FOV_MM, GRID, strict=True))
    a = resized_mask(str(path), "nodule", GRID, spacing, FOV_MM)
    b = resized_mask(str(path), "nodule", GRID)
    assert a is not None and b is not None and np.array_equal(a, b)
    assert resized_mask(str(path), "mass", GRID, spacing, FOV_MM) is None
    with pytest.raises(ConfigError, match="go together"):
        resized_mask(str(path), "nodule", GRID, spacing)
