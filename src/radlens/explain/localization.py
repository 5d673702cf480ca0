"""Localization scores of heatmaps against ground-truth masks (the synthetic cohort has them).

* pointing game (Zhang et al., ECCV 2016): a hit when the heatmap's maximum lies inside the mask
  (optionally within `tolerance` voxels of it);
* IoU / Dice of the heatmap thresholded either at a fraction of its maximum (default 0.5) or to its
  top `top_fraction` of voxels;
* `chance`: the hit rate of a pointer placed uniformly at random in `region` (default the whole
  image; `body_region` gives the patient's body of a CT), i.e. the share of the region that the
  mask, dilated by the same `tolerance`, covers.

`localization_table` aggregates per abnormality (or any grouping label) with the mean of each
score and a one-sided binomial test of the hits against the mean chance, so a heatmap that is
inverted or on the wrong axes falls to chance and is seen to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import binomtest

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
    layout, see `radlens.phantom.cohort.load_masks`) into one boolean mask per abnormality;
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


def _dilate(mask: np.ndarray, tolerance: int) -> np.ndarray:
    """`mask` grown by `tolerance` voxels in a full (square / cube) neighbourhood: tolerance is a
    Chebyshev distance in voxels."""
    if tolerance < 0:
        raise ConfigError(f"tolerance {tolerance} must be >= 0 voxels")
    if not tolerance:
        return mask
    cube = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return ndimage.binary_dilation(mask, structure=cube, iterations=tolerance)


def pointing_game(heatmap: np.ndarray, mask: np.ndarray, *, tolerance: int = 0) -> bool:
    """True when the heatmap's maximum lies inside `mask` dilated by `tolerance` voxels."""
    heat, m = _check_pair(heatmap, mask)
    return bool(_dilate(m, tolerance)[peak_index(heat)])


def chance_hit_rate(
    mask: np.ndarray, *, region: np.ndarray | None = None, tolerance: int = 0
) -> float:
    """Pointing-game hit rate of a point drawn uniformly from `region` (default: every voxel):
    the share of the region inside `mask` dilated by `tolerance` voxels."""
    m = _dilate(np.asarray(mask).astype(bool), tolerance)
    if region is None:
        return float(m.mean())
    r = np.asarray(region).astype(bool)
    if r.shape != m.shape:
        raise DataError(f"region shape {r.shape} differs from mask shape {m.shape}")
    if not r.any():
        raise DataError("region is empty; expected the voxels a random pointer may fall on")
    return float(m[r].mean())


def body_region(hu: np.ndarray, *, threshold: float = -500.0) -> np.ndarray:
    """The patient's body in a CT volume (Z, Y, X) in HU: voxels above `threshold` with each axial
    slice's holes filled (the lungs), largest connected component. Where a pointer inside the
    patient is the fair random baseline for a heatmap."""
    vol = np.asarray(hu, dtype=np.float32)
    if vol.ndim != 3:
        raise DataError(f"volume has shape {vol.shape}; expected (Z, Y, X) in HU")
    dense = vol > threshold
    filled = np.stack([ndimage.binary_fill_holes(s) for s in dense])
    labels, n = ndimage.label(filled)
    if n == 0:
        raise DataError(f"no voxel above {threshold} HU; is the volume in Hounsfield units?")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


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
    region: np.ndarray | None = None,
) -> LocalizationScore:
    """Pointing game, IoU and Dice of one heatmap against one ground-truth mask, and the chance
    hit rate of a random pointer in `region` (default the whole image) at the same tolerance."""
    heat, m = _check_pair(heatmap, mask)
    if not m.any():
        raise DataError("ground-truth mask is empty; localization needs at least one voxel")
    iou, dice = overlap(threshold_heatmap(heat, threshold=threshold, top_fraction=top_fraction), m)
    return LocalizationScore(
        hit=pointing_game(heat, m, tolerance=tolerance),
        iou=iou,
        dice=dice,
        chance=chance_hit_rate(m, region=region, tolerance=tolerance),
        peak=peak_index(heat),
    )


def hit_rate_p_value(hits: int, n: int, chance: float) -> float:
    """One-sided exact binomial test: P(at least `hits` of `n` random pointers hit) when each hits
    with probability `chance` (the mean chance of the cases; with unequal per-case chances the
    number of hits is Poisson-binomial, whose spread is at most the binomial's)."""
    if n < 1:
        return float("nan")
    p = min(max(float(chance), 0.0), 1.0)
    return float(binomtest(int(hits), int(n), p, alternative="greater").pvalue)


def localization_table(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    groups: Sequence[str],
    *,
    threshold: float = 0.5,
    top_fraction: float | None = None,
    tolerance: int = 0,
    regions: Sequence[np.ndarray | None] | None = None,
) -> pd.DataFrame:
    """Per-group (e.g. per abnormality) localization: n, hits, pointing-game hit rate, mean IoU,
    mean Dice, mean chance hit rate (random pointer in each case's `regions` entry, default the
    whole image) and the one-sided binomial p-value of the hits against that chance, plus an
    "all" row over every case."""
    if not (len(heatmaps) == len(masks) == len(groups)):
        raise DataError(
            f"{len(heatmaps)} heatmaps, {len(masks)} masks and {len(groups)} group labels;"
            " expected one of each per case"
        )
    if regions is not None and len(regions) != len(masks):
        raise DataError(f"{len(regions)} regions for {len(masks)} masks; expected one per case")
    if len(heatmaps) == 0:
        raise DataError("no heatmaps to score; expected at least one case with a mask")
    rows = []
    for n, (heat, mask, group) in enumerate(zip(heatmaps, masks, groups, strict=True)):
        score = score_heatmap(
            heat,
            mask,
            threshold=threshold,
            top_fraction=top_fraction,
            tolerance=tolerance,
            region=None if regions is None else regions[n],
        )
        rows.append(
            {
                "group": str(group),
                "hit": score.hit,
                "iou": score.iou,
                "dice": score.dice,
                "chance": score.chance,
            }
        )
    return summarise_localization(pd.DataFrame(rows))


def summarise_localization(cases: pd.DataFrame) -> pd.DataFrame:
    """Per-group table from per-case scores (columns group, hit, iou, dice, chance): n, hits,
    pointing_game (hit rate), iou, dice, chance (means) and the one-sided binomial p-value of the
    hits against the mean chance; the last row, "all", pools every case."""
    need = {"group", "hit", "iou", "dice", "chance"}
    if missing := sorted(need - set(cases.columns)):
        raise DataError(f"per-case localization scores lack columns {missing}")
    if cases.empty:
        raise DataError("no heatmaps to score; expected at least one case with a mask")
    cases = cases.astype({"hit": bool})
    agg = {"n": ("hit", "size"), "hits": ("hit", "sum"), "pointing_game": ("hit", "mean")}
    agg |= {"iou": ("iou", "mean"), "dice": ("dice", "mean"), "chance": ("chance", "mean")}
    table = cases.groupby("group", sort=True).agg(**agg).reset_index()
    total = {
        "group": "all",
        "n": len(cases),
        "hits": int(cases["hit"].sum()),
        "pointing_game": float(cases["hit"].mean()),
        "iou": float(cases["iou"].mean()),
        "dice": float(cases["dice"].mean()),
        "chance": float(cases["chance"].mean()),
    }
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["hits"] = table["hits"].astype(int)
    table["p_value"] = [
        hit_rate_p_value(h, n, c)
        for h, n, c in zip(table["hits"], table["n"], table["chance"], strict=True)
    ]
    return table
