"""Pointing game, thresholded IoU / Dice and the per-abnormality table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radlens.errors import ConfigError, DataError
from radlens.explain.localization import (
    localization_table,
    overlap,
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
