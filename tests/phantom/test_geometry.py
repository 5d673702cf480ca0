"""Partial-volume shapes of the phantom (radlens.phantom.geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.phantom.geometry import (
    Grid,
    capsule_occupancy,
    ellipsoid_occupancy,
    fraction_mask,
)

GRID = Grid((64, 96, 96), (5.0, 3.5, 3.5))
VOXEL = 5.0 * 3.5 * 3.5


def test_ball_occupancy_sums_to_the_ball_volume() -> None:
    for r in (2.0, 6.0, 12.0):
        _, frac = ellipsoid_occupancy(GRID, (1.3, -0.4, 2.1), (r, r, r))
        assert frac.sum() * VOXEL == pytest.approx(4 / 3 * np.pi * r**3, rel=0.06), r
        assert frac.min() >= 0.0 and frac.max() <= 1.0


def test_a_small_nodule_never_fills_a_thick_voxel() -> None:
    # a 4 mm ball holds 33.5 mm^3, a 5 x 3.5 x 3.5 mm voxel 61.25 mm^3
    _, frac = ellipsoid_occupancy(GRID, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    assert frac.max() <= 33.5 / 61.25 + 0.02
    thin = Grid((128, 96, 96), (2.5, 3.5, 3.5))
    _, frac_thin = ellipsoid_occupancy(thin, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    assert frac_thin.max() > frac.max()  # thinner slices: less partial volume


def test_capsule_occupancy_volume() -> None:
    r, length = 2.0, 10.0
    _, frac = capsule_occupancy(GRID, (0.0, 0.0, -5.0), (0.0, 0.0, 5.0), r)
    expected = np.pi * r**2 * length + 4 / 3 * np.pi * r**3
    assert frac.sum() * VOXEL == pytest.approx(expected, rel=0.1)  # sub-grid of ~0.8 mm


def test_fraction_mask_rules_by_hand() -> None:
    assert fraction_mask(np.array([0.2, 0.6, 0.3])).tolist() == [False, True, False]
    # nothing half covered: voxels with at least half the peak (0.15)
    assert fraction_mask(np.array([0.1, 0.3, 0.2])).tolist() == [False, True, True]
    assert not fraction_mask(np.zeros(3)).any()
