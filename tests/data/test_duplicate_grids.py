"""Descriptor grids: the 3D soft rank ignores noise in flat regions and monotone re-windowing,
the floor merges what a low-end clip merges, and the descriptor cache is reused by content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from radlens.data import duplicate_grids
from radlens.data.duplicate_grids import (
    FLOOR_3D,
    describe_images,
    image_grid,
    item_key,
    soft_rank,
)
from radlens.errors import DataError


def _ct_like(seed: int, shape: tuple[int, int, int] = (12, 24, 24)) -> np.ndarray:
    """Half the voxels flat 'air' at -1000 HU (+ 3 HU noise), the rest smooth tissue."""
    rng = np.random.default_rng(seed)
    tissue = ndimage.gaussian_filter(rng.normal(size=shape), 2.0) * 2000 + 40
    vol = np.where(np.arange(shape[2]) < shape[2] // 2, -1000.0, tissue)
    return vol + rng.normal(0, 3, shape)


def test_soft_rank_is_the_exact_rank_without_tolerance_and_monotone_with_it() -> None:
    x = np.array([[3.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(soft_rank(x, 0.0), [[1.0, 0.0], [0.5, 0.5]])
    y = np.linspace(-5, 5, 200).reshape(10, 20) ** 3
    r = soft_rank(y, 0.03).ravel()
    assert np.all(np.diff(r) >= -1e-12) and r[0] < 0.05 and r[-1] > 0.95


def test_3d_grid_ignores_noise_in_flat_air_and_a_low_end_clip() -> None:
    vol = _ct_like(0)
    rng = np.random.default_rng(5)
    noised = vol + rng.normal(0, 60, vol.shape)
    clipped = np.clip((vol + 820) / 2300, 0, 1) ** 1.3 * 255  # air merged at 0, gamma 1.3
    base = image_grid(vol)
    assert base.min() == pytest.approx(FLOOR_3D)
    for copy in (noised, clipped):
        assert np.corrcoef(base.ravel(), image_grid(copy).ravel())[0, 1] > 0.99
    # the exact rank orders the flat air by its noise: the noised copy decorrelates there
    exact = [soft_rank(ndimage.gaussian_filter(v, 1.0), 0.0) for v in (vol, noised)]
    air = np.s_[:, :, :10]
    assert np.corrcoef(exact[0][air].ravel(), exact[1][air].ravel())[0, 1] < 0.5


def test_cache_is_reused_by_content_and_refreshed_when_a_volume_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vols = [_ct_like(k) for k in range(3)]
    cache = tmp_path / "run" / "duplicate_descriptors.npz"
    first = describe_images(vols, cache=cache)
    assert cache.is_file()
    calls: list[tuple[int, ...]] = []
    real = duplicate_grids.image_grid

    def counting(img: np.ndarray) -> np.ndarray:
        calls.append(img.shape)
        return real(img)

    monkeypatch.setattr(duplicate_grids, "image_grid", counting)
    again = describe_images(vols, cache=cache)
    assert calls == [] and np.array_equal(again.grids, first.grids)
    edited = [vols[0], vols[1] + 1.0, vols[2]]
    describe_images(edited, cache=cache)
    assert len(calls) == 1  # only the edited volume is described again
    assert item_key(vols[1]) != item_key(edited[1])
    with np.load(cache) as z:
        assert len(z["keys"]) == 4


def test_unreadable_cache_and_bad_items_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "duplicate_descriptors.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"descriptor cache .*duplicate_descriptors.npz.* delete"):
        describe_images([_ct_like(0)], cache=bad)
    with pytest.raises(DataError, match=r"val volumes: item 1 \(shape \(1, 4, 4\)\) is too small"):
        describe_images([np.ones((4, 4, 4)), np.ones((1, 4, 4))], what="val volumes")
