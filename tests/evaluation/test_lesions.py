"""Lesion candidates of a probability map: centres, diameters, volumes, scores, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.data.volumes import Volume
from radlens.errors import EvaluationError
from radlens.evaluation import lesion_candidates, longest_axial_diameter


def _map() -> np.ndarray:
    prob = np.zeros((6, 10, 10))
    prob[1:3, 1:4, 1:4] = 0.6  # A: 2 slices of 3x3 = 18 voxels
    prob[2, 2, 2] = 0.9
    prob[4, 7, 5:9] = 0.8  # B: a line of 4 voxels along x
    prob[0, 9, 9] = 0.55  # C: one voxel
    prob[5, 0, 0] = 0.4  # below threshold
    return prob


def test_candidates_by_hand() -> None:
    spacing = (2.0, 0.5, 0.5)  # voxel = 0.5 mm^3
    cands = lesion_candidates(_map(), spacing, threshold=0.5)
    assert [c.score for c in cands] == [0.9, 0.8, 0.55]  # max rule, highest first
    a, b, c = cands
    assert a.n_voxels == 18 and a.volume_mm3 == pytest.approx(9.0)
    assert a.centre_voxel == pytest.approx((1.5, 2.0, 2.0))
    assert a.centre_mm == pytest.approx((3.0, 1.0, 1.0))
    assert a.equivalent_diameter_mm == pytest.approx((6 * 9.0 / np.pi) ** (1 / 3))
    # a 3x3 pixel square at 0.5 mm spans 1.5 x 1.5 mm: corner to corner 1.5 * sqrt(2)
    assert a.longest_axial_diameter_mm == pytest.approx(1.5 * np.sqrt(2))
    assert a.axial_slice == 1  # first slice reaching it
    # line of 4 pixels: 2.0 mm along x, 0.5 mm across -> sqrt(2^2 + 0.5^2)
    assert b.longest_axial_diameter_mm == pytest.approx(np.hypot(2.0, 0.5))
    assert (b.axial_slice, b.volume_mm3) == (4, 2.0)
    assert b.centre_voxel == pytest.approx((4.0, 7.0, 6.5))
    # one pixel: its diagonal
    assert c.longest_axial_diameter_mm == pytest.approx(0.5 * np.sqrt(2))
    assert a.centre_lps is None


def test_mean_score_min_volume_and_threshold() -> None:
    cands = lesion_candidates(_map(), (2.0, 0.5, 0.5), score="mean", min_volume_mm3=1.0)
    assert len(cands) == 2  # the 0.5 mm^3 voxel is dropped
    assert cands[0].score == pytest.approx(0.8)  # B's mean
    assert cands[1].score == pytest.approx((17 * 0.6 + 0.9) / 18)  # A's mean
    assert len(lesion_candidates(_map(), (2.0, 0.5, 0.5), threshold=0.35)) == 4


def test_patient_position_from_the_volume_affine() -> None:
    vol = Volume(np.zeros((6, 10, 10)), (2.0, 0.5, 0.5), (-100.0, -50.0, 30.0))
    b = lesion_candidates(_map(), vol.spacing, affine=vol.affine)[1]
    # index (z, y, x) = (4, 7, 6.5) -> LPS (x, y, z) = origin + (6.5 * 0.5, 7 * 0.5, 4 * 2)
    assert b.centre_lps == pytest.approx((-100.0 + 3.25, -50.0 + 3.5, 30.0 + 8.0))


def test_disc_diameter_is_close_to_the_true_one() -> None:
    yy, xx = np.mgrid[:64, :64]
    disc = ((yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 20.0**2)[None]
    d, z = longest_axial_diameter(disc, (0.5, 0.5))
    assert z == 0
    assert 20.0 <= d <= 21.0  # 40-pixel disc at 0.5 mm: 20 mm, plus at most a pixel diagonal


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(EvaluationError, match="3-D"):
        lesion_candidates(np.zeros((4, 4)), (1.0, 1.0))
    with pytest.raises(EvaluationError, match="score rule"):
        lesion_candidates(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), score="median")
    with pytest.raises(EvaluationError, match="spacing"):
        lesion_candidates(np.zeros((2, 2, 2)), (1.0, 0.0, 1.0))


def test_longest_axial_diameter_equals_brute_force_over_all_pixel_corners() -> None:
    from scipy import ndimage
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(5)
    corners = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    for _ in range(60):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        comp = ndimage.gaussian_filter(rng.random(shape), 1.5) > 0.5
        comp[0, 0, 0] = True
        spacing = (float(rng.uniform(0.5, 3)), float(rng.uniform(0.5, 3)))
        want = max(
            pdist(((np.argwhere(comp[z])[:, None] + corners).reshape(-1, 2)) * spacing).max()
            for z in range(shape[0])
            if comp[z].any()
        )
        got, z = longest_axial_diameter(comp, spacing)
        assert got == pytest.approx(want, abs=1e-9) and comp[z].any()
