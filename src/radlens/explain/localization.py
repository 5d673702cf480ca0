"""Localization scores of heatmaps against ground-truth masks (the synthetic cohort has them).

* pointing game (Zhang et al., ECCV 2016): a hit when the heatmap's maximum lies inside the mask
  (optionally within `tolerance` voxels of it);
* IoU / Dice of the heatmap thresholded either at a fraction of its maximum (default 0.5) or to its
  top `top_fraction` of voxels;
* `chance`: the mask's share of the image, i.e. the hit rate of a pointer placed at random.

`localization_table` aggregates per abnormality (or any grouping label) with the mean of each
score, so a heatmap that is inverted or on the wrong axes falls to chance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from radlens.errors import ConfigError, DataError


@dataclass(frozen=True)
class LocalizationScore:
    """Scores of one heatmap against one mask."""

    hit: bool
    iou: float
    dice: float
    chance: float
    peak: tuple[int, ...]


def masks_by_abnormality(masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Merge a study's ground-truth masks keyed 'abnormality@location' (the synthetic cohort's
    layout, see `radlens.data.phantom_cohort.load_masks`) into one boolean mask per abnormality;
    keys without '@' (e.g. the 'lobes' label map) are not findings and are skipped."""
    merged: dict[str, np.ndarray] = {}
    for key, mask in masks.items():
        if "@" not in key:
            continue
        abnormality = key.split("@", 1)[0]
        m = np.asarray(mask).astype(bool)
        merged[abnormality] = merged[abnormality] | m if abnormality in merged else m
    return merged


def _check_pair(heatmap: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    heat = np.asarray(heatmap, dtype=np.float32)
    m = np.asarray(mask).astype(bool)
    if heat.shape != m.shape:
        raise DataError(
            f"heatmap shape {heat.shape} differs from mask shape {m.shape}; both must be the"
            " image's spatial shape in the same axis order"
        )
    if not np.isfinite(heat).all():
        raise DataError("heatmap contains NaN or infinite values")
    return heat, m


def peak_index(heatmap: np.ndarray) -> tuple[int, ...]:
    """Index of the heatmap's maximum (the first one on ties)."""
    heat = np.asarray(heatmap)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(heat)), heat.shape))


def pointing_game(heatmap: np.ndarray, mask: np.ndarray, *, tolerance: int = 0) -> bool:
    """True when the heatmap's maximum lies inside `mask` dilated by `tolerance` voxels."""
    heat, m = _check_pair(heatmap, mask)
    if tolerance < 0:
        raise ConfigError(f"tolerance {tolerance} must be >= 0 voxels")
    if tolerance:
        # a full (square / cube) neighbourhood: tolerance is a Chebyshev distance in voxels
        cube = ndimage.generate_binary_structure(m.ndim, m.ndim)
        m = ndimage.binary_dilation(m, structure=cube, iterations=tolerance)
    return bool(m[peak_index(heat)])


def threshold_heatmap(
    heatmap: np.ndarray, *, threshold: float = 0.5, top_fraction: float | None = None
) -> np.ndarray:
    """Binary mask of the heatmap: voxels >= `threshold` x max, or (when `top_fraction` is given)
    the `top_fraction` share of voxels with the highest values. An all-zero map gives no voxels."""
    heat = np.asarray(heatmap, dtype=np.float32)
    peak = float(heat.max()) if heat.size else 0.0
    if peak <= 0:
        return np.zeros(heat.shape, dtype=bool)
    if top_fraction is not None:
        if not 0 < top_fraction <= 1:
            raise ConfigError(f"top_fraction {top_fraction} must be in (0, 1]")
        k = max(1, round(top_fraction * heat.size))
        cut = np.partition(heat.ravel(), heat.size - k)[heat.size - k]
        return (heat >= cut) & (heat > 0)
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold {threshold} must be in (0, 1] (a fraction of the maximum)")
    return heat >= threshold * peak


def overlap(pred: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(IoU, Dice) of two binary masks; both empty counts as perfect agreement (1, 1)."""
    p, m = np.asarray(pred, bool), np.asarray(mask, bool)
    inter = int(np.logical_and(p, m).sum())
    total = int(p.sum()) + int(m.sum())
    if total == 0:
        return 1.0, 1.0
    union = total - inter
    return inter / union, 2 * inter / total


def score_heatmap(
    heatmap: np.ndarray,
    mask: np.ndarray,
    *,
    threshold: float = 0.5,
    top_fraction: float | None = None,
    tolerance: int = 0,
) -> LocalizationScore:
    """Pointing game, IoU and Dice of one heatmap against one ground-truth mask."""
    heat, m = _check_pair(heatmap, mask)
    if not m.any():
        raise DataError("ground-truth mask is empty; localization needs at least one voxel")
    iou, dice = overlap(threshold_heatmap(heat, threshold=threshold, top_fraction=top_fraction), m)
    return LocalizationScore(
        hit=pointing_game(heat, m, tolerance=tolerance),
        iou=iou,
        dice=dice,
        chance=float(m.mean()),
        peak=peak_index(heat),
    )


def localization_table(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    groups: Sequence[str],
    *,
    threshold: float = 0.5,
    top_fraction: float | None = None,
    tolerance: int = 0,
) -> pd.DataFrame:
    """Per-group (e.g. per abnormality) localization: n, pointing-game hit rate, mean IoU, mean
    Dice and mean chance hit rate, plus an "all" row over every case."""
    if not (len(heatmaps) == len(masks) == len(groups)):
        raise DataError(
            f"{len(heatmaps)} heatmaps, {len(masks)} masks and {len(groups)} group labels;"
            " expected one of each per case"
        )
    if len(heatmaps) == 0:
        raise DataError("no heatmaps to score; expected at least one case with a mask")
    rows = []
    for heat, mask, group in zip(heatmaps, masks, groups, strict=True):
        score = score_heatmap(
            heat, mask, threshold=threshold, top_fraction=top_fraction, tolerance=tolerance
        )
        row = asdict(score)
        row.pop("peak")
        rows.append({"group": str(group), **row})
    cases = pd.DataFrame(rows)
    agg = {"n": ("hit", "size"), "pointing_game": ("hit", "mean"), "iou": ("iou", "mean")}
    agg |= {"dice": ("dice", "mean"), "chance": ("chance", "mean")}
    table = cases.groupby("group", sort=True).agg(**agg).reset_index()
    total = {
        "group": "all",
        "n": len(cases),
        "pointing_game": float(cases["hit"].mean()),
        "iou": float(cases["iou"].mean()),
        "dice": float(cases["dice"].mean()),
        "chance": float(cases["chance"].mean()),
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
