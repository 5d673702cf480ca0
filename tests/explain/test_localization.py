"""Pointing game, thresholded IoU / Dice and the per-abnormality table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import binomtest

from radlens.errors import ConfigError, DataError
from radlens.explain.localization import (
    chance_p_value,
    localization_table,
    near_mask,
    overlap,
    permutation_p_value,
    pointing_game,
    score_heatmap,
    threshold_heatmap,
)


def _square(shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[tuple(slice(lo, hi) for _ in shape)] = True
    return m


def test_pointing_game_hit_miss_and_tolerance() -> None:
    mask = _square((10, 10), 2, 5)
    heat = np.zeros((10, 10))
    heat[3, 3] = 1.0
    assert pointing_game(heat, mask)
    heat = np.zeros((10, 10))
    heat[6, 6] = 1.0
    assert not pointing_game(heat, mask)
    assert not pointing_game(heat, mask, tolerance=1)
    assert pointing_game(heat, mask, tolerance=2)


def test_pointing_game_3d_uses_axis_order() -> None:
    mask = np.zeros((4, 6, 8), bool)
    mask[1, 2, 7] = True
    heat = np.zeros((4, 6, 8))
    heat[1, 2, 7] = 1.0
    assert pointing_game(heat, mask)
    assert not pointing_game(heat, mask.transpose(0, 1, 2)[::-1])


def test_threshold_modes() -> None:
    heat = np.arange(100, dtype=float).reshape(10, 10) / 99
    assert threshold_heatmap(heat, threshold=0.5).sum() == 50
    assert threshold_heatmap(heat, top_fraction=0.1).sum() == 10
    assert threshold_heatmap(heat, top_fraction=0.1)[9].all()
    assert not threshold_heatmap(np.zeros((3, 3))).any()
    with pytest.raises(ConfigError, match="top_fraction 0 must be in"):
        threshold_heatmap(heat, top_fraction=0)
    with pytest.raises(ConfigError, match=r"threshold 1\.5 must be in"):
        threshold_heatmap(heat, threshold=1.5)


def test_overlap_known_values() -> None:
    a = _square((10, 10), 0, 4)  # 16 px
    b = np.zeros((10, 10), bool)
    b[0:4, 2:6] = True  # 16 px, 8 shared
    iou, dice = overlap(a, b)
    assert iou == pytest.approx(8 / 24)
    assert dice == pytest.approx(16 / 32)
    assert overlap(np.zeros(4, bool), np.zeros(4, bool)) == (1.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    arrays(bool, (6, 7), elements=st.booleans()),
    arrays(bool, (6, 7), elements=st.booleans()),
)
def test_overlap_properties(a: np.ndarray, b: np.ndarray) -> None:
    iou, dice = overlap(a, b)
    assert 0.0 <= iou <= dice <= 1.0
    assert dice == pytest.approx(2 * iou / (1 + iou))
    assert overlap(b, a) == (iou, dice)
    if a.any():
        assert overlap(a, a) == (1.0, 1.0)


def test_score_heatmap_and_errors() -> None:
    mask = _square((8, 8, 8), 2, 4)
    heat = mask.astype(float) * 0.9 + 0.05
    score = score_heatmap(heat, mask)
    assert score.hit and score.iou == 1.0 and score.dice == 1.0
    assert score.chance == pytest.approx(8 / 512)
    assert score.peak == (2, 2, 2)
    with pytest.raises(DataError, match=r"heatmap shape \(8, 8\) differs from mask shape"):
        score_heatmap(np.zeros((8, 8)), mask)
    with pytest.raises(DataError, match="mask is empty"):
        score_heatmap(heat, np.zeros_like(mask))
    with pytest.raises(DataError, match="NaN"):
        score_heatmap(np.full((8, 8, 8), np.nan), mask)


def test_localization_table_per_group() -> None:
    mask = _square((10, 10), 0, 3)
    good = mask.astype(float)
    bad = 1.0 - good  # inverted map: peak outside the mask
    table = localization_table([good, bad, good], [mask, mask, mask], ["nodule", "mass", "nodule"])
    rows = table.set_index("group")
    assert list(rows.index) == ["mass", "nodule", "all"]
    assert rows.loc["nodule", "pointing_game"] == 1.0 and rows.loc["nodule", "n"] == 2
    assert rows.loc["mass", "pointing_game"] == 0.0 and rows.loc["mass", "dice"] == 0.0
    assert rows.loc["all", "pointing_game"] == pytest.approx(2 / 3)
    assert rows.loc["all", "chance"] == pytest.approx(0.09)
    with pytest.raises(DataError, match="2 heatmaps, 1 masks and 2 group labels"):
        localization_table([good, bad], [mask], ["a", "b"])
    with pytest.raises(DataError, match="no heatmaps"):
        localization_table([], [], [])


def test_near_mask_in_mm_uses_the_spacing() -> None:
    """Euclidean mm between voxel centres with spacing (z, y, x) = (10, 5, 5) mm."""
    mask = np.zeros((9, 9, 9), bool)
    mask[4, 4, 4] = True
    near = near_mask(mask, 10.0, spacing=(10.0, 5.0, 5.0))
    assert near[3, 4, 4] and near[5, 4, 4]  # one slice away: 10 mm
    assert near[4, 2, 4] and near[4, 4, 6]  # two in-plane voxels: 10 mm
    assert near[4, 3, 3]  # sqrt(50) = 7.1 mm
    assert not near[3, 3, 4]  # sqrt(125) = 11.2 mm
    assert not near[4, 1, 4]  # 15 mm
    assert int(near.sum()) == 1 + 2 + 4 + 4 + 4  # centre, z +-1, in-plane cross r<=2 + diagonals
    assert np.array_equal(near_mask(mask, 0, spacing=(10.0, 5.0, 5.0)), mask)
    with pytest.raises(ConfigError, match="whole number of voxels"):
        near_mask(mask, 1.5)
    with pytest.raises(ConfigError, match="3 positive values"):
        near_mask(mask, 5.0, spacing=(1.0, 1.0))


def test_strict_and_tolerant_pointing_game_and_chance() -> None:
    """A peak one voxel beside a crescent-like mask: a strict miss, a tolerant hit."""
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2] = True  # a thin wall, 6 voxels
    heat = np.zeros((10, 10))
    heat[5, 3] = 1.0
    score = score_heatmap(heat, mask, tolerance=1)
    assert score.strict_hit is False and score.hit is True
    assert score.strict_chance == pytest.approx(6 / 100)
    assert score.chance == pytest.approx(8 * 3 / 100)  # rows 1..8, columns 1..3
    mm = score_heatmap(heat, mask, tolerance=2.0, spacing=(1.0, 2.5))  # the column is 2.5 mm away
    assert mm.strict_hit is False and mm.hit is False


def test_chance_p_value_is_the_poisson_binomial_tail() -> None:
    chances = [0.1, 0.5, 0.02, 0.3]
    outcomes = np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1).T  # all 16 hit patterns
    prob = np.prod(np.where(outcomes == 1, chances, 1 - np.asarray(chances)), axis=1)
    for hits in range(5):
        expected = prob[outcomes.sum(1) >= hits].sum()
        assert chance_p_value(hits, chances) == pytest.approx(expected, abs=1e-12)
    equal = chance_p_value(3, [0.2] * 10)  # equal chances: the binomial test
    assert equal == pytest.approx(binomtest(3, 10, 0.2, alternative="greater").pvalue)


def test_permutation_p_value_on_hand_made_cases() -> None:
    shape = (6, 6)
    masks, peaks = [], []
    for i in range(3):  # each peak sits in its own case's mask only
        m = np.zeros(shape, bool)
        m[2 * i : 2 * i + 2, :] = True
        masks.append(m)
        peaks.append((2 * i, 3))
    assert permutation_p_value(masks, peaks) == pytest.approx(1 / 6)  # identity of 3! = 6
    same = [np.ones(shape, bool)] * 3  # every peak hits every mask: nothing case-specific
    assert permutation_p_value(same, peaks) == 1.0
    assert permutation_p_value(masks[:1], peaks[:1]) == 1.0
    big_masks, big_peaks = [], []
    for i in range(12):  # more cases than exact enumeration: Monte Carlo with a fixed seed
        m = np.zeros((12, 2), bool)
        m[i] = True
        big_masks.append(m)
        big_peaks.append((i, 0))
    assert permutation_p_value(big_masks, big_peaks, n_permutations=999) == pytest.approx(1 / 1000)
    with pytest.raises(DataError, match="one peak per mask"):
        permutation_p_value(masks, peaks[:2])


def test_table_has_strict_columns_chance_and_both_p_values() -> None:
    mask = _square((8, 8, 8), 2, 4)
    good = np.zeros((8, 8, 8))
    good[3, 3, 3] = 1.0
    beside = np.zeros((8, 8, 8))
    beside[4, 3, 3] = 1.0
    table = localization_table([good, beside], [mask, mask], ["a", "a"], tolerance=1)
    row = table.set_index("group").loc["a"]
    assert row["pointing_game"] == 1.0 and row["pointing_game_strict"] == 0.5
    assert row["chance_strict"] == pytest.approx(8 / 512)
    assert row["chance"] == pytest.approx(64 / 512)
    assert row["p_value"] == pytest.approx((64 / 512) ** 2)
    assert row["perm_p_value"] == 1.0  # same mask twice: swapping peaks changes nothing
    assert {"p_value_strict", "perm_p_value_strict"} <= set(table.columns)
