"""Dice, HD95, surface Dice, lesion-wise counts, alignment checks and summaries, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radlens.data import check_alignment
from radlens.data.volumes import Volume
from radlens.errors import DataError, EvaluationError
from radlens.evaluation import (
    lesion_counts,
    score_cases,
    segmentation_scores,
    summarise_segmentation,
)


def _cubes() -> tuple[np.ndarray, np.ndarray]:
    full = np.zeros((8, 8, 8), dtype=bool)
    full[2:6, 2:6, 2:6] = True  # 4x4x4 = 64 voxels
    half = full.copy()
    half[4:6] = False  # z = 2, 3 only: 4x4x2 = 32 voxels
    return full, half


def test_cube_against_its_lower_half_by_hand() -> None:
    full, half = _cubes()
    s = segmentation_scores(full, half, (1.0, 1.0, 1.0), tolerance_mm=1.0)
    # Dice = 2 * 32 / (64 + 32)
    assert s.dice == pytest.approx(2 / 3)
    # surfaces (mask minus its erosion): full cube 64 - 8 = 56 voxels, the 2-thick half all 32.
    # full -> half: z=2 (16) and the z=3 ring (12) at 0 mm, the z=4 ring (12) at 1 mm, the
    # z=5 face (16) at 2 mm; the 95th percentile of these 56 distances is 2 mm. half -> full:
    # all within 1 mm, so HD95 = max(2, 1) = 2 mm.
    assert s.hd95_mm == pytest.approx(2.0)
    # within 1 mm: full 16 + 12 + 12 = 40 of 56, half all 32 -> (40 + 32) / (56 + 32)
    assert s.surface_dice == pytest.approx(72 / 88)
    assert (s.n_pred_voxels, s.n_true_voxels) == (64, 32)


def test_distances_use_the_physical_spacing() -> None:
    a = np.zeros((6, 3, 3), dtype=bool)
    b = a.copy()
    a[0, 0, 0] = True
    b[4, 0, 0] = True  # 4 slices apart at 2.5 mm = 10 mm
    s = segmentation_scores(a, b, (2.5, 1.0, 1.0), tolerance_mm=9.9)
    assert (s.dice, s.hd95_mm, s.surface_dice) == (0.0, pytest.approx(10.0), 0.0)
    assert segmentation_scores(a, b, (2.5, 1.0, 1.0), tolerance_mm=10.0).surface_dice == 1.0
    assert segmentation_scores(a, b, (1.0, 1.0, 1.0)).hd95_mm == pytest.approx(4.0)


def test_empty_masks_follow_the_documented_rule() -> None:
    empty = np.zeros((4, 4, 4), dtype=bool)
    one = empty.copy()
    one[1, 1, 1] = True
    both = segmentation_scores(empty, empty, (1.0, 1.0, 1.0))
    assert (both.dice, both.hd95_mm, both.surface_dice) == (1.0, 0.0, 1.0)
    for pred, truth in ((empty, one), (one, empty)):
        s = segmentation_scores(pred, truth, (1.0, 1.0, 1.0))
        assert (s.dice, s.hd95_mm, s.surface_dice) == (0.0, np.inf, 0.0)


def test_bad_shapes_and_spacing_are_refused() -> None:
    with pytest.raises(EvaluationError, match=r"shape \(4, 4, 4\).*\(4, 4, 5\)"):
        segmentation_scores(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), (1.0, 1.0, 1.0))
    with pytest.raises(EvaluationError, match="spacing"):
        segmentation_scores(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), (1.0, 1.0))


def _vol(shape=(4, 5, 6), spacing=(2.0, 0.7, 0.7), origin=(0.0, 0.0, 0.0), direction=None):
    return Volume(np.zeros(shape), spacing, origin, np.eye(3) if direction is None else direction)


@pytest.mark.parametrize(
    ("mask", "what"),
    [
        (_vol(shape=(4, 5, 7)), r"shape \(4, 5, 7\) != image shape \(4, 5, 6\)"),
        (_vol(spacing=(2.5, 0.7, 0.7)), r"spacing \(2.5, 0.7, 0.7\) != image spacing"),
        (_vol(origin=(0.0, 0.0, 5.0)), "origin"),
        (_vol(direction=np.diag([-1.0, -1.0, 1.0])), r"orientation \(direction\)"),
    ],
)
def test_misaligned_masks_are_refused_naming_what_differs(mask: Volume, what: str) -> None:
    with pytest.raises(DataError, match=what) as info:
        check_alignment(mask, _vol(), source="P1/S1/masks.nii.gz")
    assert "P1/S1/masks.nii.gz is not aligned" in str(info.value)


def test_aligned_mask_passes() -> None:
    check_alignment(_vol(), _vol())


def test_lesion_counts_any_overlap_rule() -> None:
    truth = np.zeros((10, 10, 10), dtype=bool)
    truth[1:3, 1:3, 1:3] = True  # lesion A
    truth[6:9, 6:9, 6:9] = True  # lesion B (missed)
    pred = np.zeros_like(truth)
    pred[2:4, 2:4, 2:4] = True  # overlaps A by one corner block -> A detected
    pred[0, 8, 0] = True  # stray voxel -> false positive
    pred[5, 0, 9] = True  # another -> false positive
    c = lesion_counts(pred, truth)
    assert (c.n_lesions, c.n_detected, c.n_false_positives) == (2, 1, 2)
    # diagonal neighbours are one component (26-connectivity)
    diag = np.zeros_like(truth)
    diag[0, 0, 0] = diag[1, 1, 1] = True
    assert lesion_counts(diag, np.zeros_like(truth)).n_false_positives == 1


def test_summary_per_finding_with_patient_bootstrap() -> None:
    full, half = _cubes()
    empty = np.zeros_like(full)
    sp = (1.0, 1.0, 1.0)
    cases = [
        ("P1", "mass", full, full, sp),  # Dice 1, HD 0
        ("P2", "mass", half, full, sp),  # Dice 2/3, HD 2
        ("P3", "mass", empty, full, sp),  # Dice 0, HD inf, lesion missed
        ("P1", "nodule", empty, empty, sp),  # Dice 1, HD 0, no lesion
    ]
    table = score_cases(cases)
    assert list(table["dice"]) == pytest.approx([1.0, 2 / 3, 0.0, 1.0])
    summary = summarise_segmentation(table, n_bootstrap=200, seed=1)
    mass = summary[summary.finding == "mass"].set_index("metric")
    assert mass.loc["dice", "estimate"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert mass.loc["hd95_mm", "estimate"] == pytest.approx(1.0)  # median of finite {0, 2}
    assert mass.loc["hd95_inf_fraction", "estimate"] == pytest.approx(1 / 3)
    assert mass.loc["lesion_sensitivity", "estimate"] == pytest.approx(2 / 3)
    assert mass.loc["false_positives_per_scan", "estimate"] == 0.0
    assert (mass["low"] <= mass["estimate"] + 1e-12).all()
    assert (mass["estimate"] <= mass["high"] + 1e-12).all()
    assert mass.loc["dice", "low"] < mass.loc["dice", "high"]
    nodule = summary[summary.finding == "nodule"].set_index("metric")
    assert nodule.loc["dice", "estimate"] == 1.0
    assert np.isnan(nodule.loc["lesion_sensitivity", "estimate"])  # no lesion to find


def test_summary_needs_the_score_columns() -> None:
    with pytest.raises(EvaluationError, match="lack columns"):
        summarise_segmentation(pd.DataFrame({"patient_id": ["P1"], "finding": ["mass"]}))
