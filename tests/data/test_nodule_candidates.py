"""Nodule candidates: the lung region and LoG blobs on hand-built volumes."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.data.lung_mask import lung_region
from radlens.data.nodule_candidates import blob_candidates, cubes
from tests._support.nodule_cohort import SHAPE, SPACING, chest


def _torso() -> np.ndarray:
    zz, yy, xx = np.indices((20, 40, 40))
    hu = np.full(zz.shape, -1000.0)
    hu[((yy - 20) / 18.0) ** 2 + ((xx - 20) / 18.0) ** 2 <= 1] = 40.0  # body
    hu[(zz >= 3) & (zz < 17) & ((yy - 20) ** 2 + (xx - 12) ** 2 <= 64)] = -850.0  # a lung
    return hu


def test_the_lung_region_holds_the_lung_and_a_nodule_on_its_wall_not_the_air_outside() -> None:
    hu = _torso()
    hu[8:12, 19:22, 3:7] = 40.0  # a nodule against the lateral wall: a notch in the air
    region = lung_region(hu)
    assert region[10, 20, 12] and region[10, 20, 5]  # the lung and the wall nodule
    assert not region[10, 1, 1] and not region[10, 20, 30]  # outside air; body
    assert not region[0].any() and not region[19].any()  # slices above/below the lung
    with pytest.raises(ValueError, match="3-D"):
        lung_region(hu[0])


def test_three_lung_parts_are_kept_even_when_the_air_outside_is_larger() -> None:
    zz, yy, xx = np.indices((40, 60, 60))
    hu = np.full(zz.shape, -1000.0)  # outside air: the largest air component by far
    hu[((yy - 30) / 24.0) ** 2 + ((xx - 30) / 24.0) ** 2 <= 1] = 40.0  # body
    lung = (zz >= 4) & (zz < 36) & ((yy - 30) ** 2 <= 100)
    hu[lung & (np.abs(xx - 20) <= 6)] = -850.0  # right lung
    hu[lung & (np.abs(xx - 40) <= 6)] = -850.0  # left lung, split by a fissure at z 20
    hu[20:22, :, 34:47] = 40.0
    region = lung_region(hu)
    # the smallest part (left upper, 4 x 21 x 13 pixels above the fissure) is still lung
    assert region[10, 30, 20] and region[30, 30, 40] and region[10, 30, 40]
    assert not region[10, 2, 2]


def test_a_lung_filled_from_wall_to_hilum_is_not_aerated_and_not_in_the_region() -> None:
    hu = _torso()
    hu[hu == -850.0] = 30.0  # the whole lung consolidated
    assert not lung_region(hu).any()


def test_blob_candidates_find_a_nodule_centre_in_the_lung() -> None:
    hu, mask = chest(np.random.default_rng(3))
    found = blob_candidates(hu, SPACING, lung_region(hu))
    centre = np.argwhere(mask).mean(axis=0)
    nearest = np.abs(found.centres - centre).max(axis=1).min()
    assert nearest <= 1.0  # a candidate within one voxel of the ball's centre
    assert np.all(np.diff(found.responses) <= 0)  # strongest first
    assert len(found) == len(found.scales_mm) == len(found.responses) <= 5 * 80
    # thinned: no two candidates are neighbours (3 x 3 x 3)
    d = np.abs(found.centres[:, None] - found.centres[None]).max(axis=2)
    assert (d[~np.eye(len(found), dtype=bool)] >= 2).all()


def test_blob_candidates_refuse_bad_inputs() -> None:
    hu = np.zeros(SHAPE, dtype=np.float32)
    with pytest.raises(ValueError, match="same 3-D shape"):
        blob_candidates(hu, SPACING, np.ones((2, 2, 2), bool))
    with pytest.raises(ValueError, match="three positive"):
        blob_candidates(hu, (1.0, 0.0, 1.0), np.ones(SHAPE, bool))


def test_cubes_are_centred_and_padded_past_the_edges() -> None:
    image = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    out = cubes(image, np.array([[2, 3, 3], [0, 0, 0]]), 4, fill=-1.0)
    assert out.shape == (2, 4, 4, 4)
    assert out[0, 2, 2, 2] == image[2, 3, 3]  # centre voxel at index size // 2
    assert np.array_equal(out[0, 1:, 1:, 1:], image[1:4, 2:5, 2:5])
    assert out[1, 2, 2, 2] == image[0, 0, 0] and out[1, 0, 0, 0] == -1.0
    with pytest.raises(ValueError, match=">= 2"):
        cubes(image, np.zeros((1, 3), int), 1)
