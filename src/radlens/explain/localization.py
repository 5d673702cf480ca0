"""Localization scores of heatmaps against ground-truth masks (the synthetic cohort has them).

* pointing game (Zhang et al., ECCV 2016): a hit when the heatmap's maximum lies inside the mask
  (strict), or within `tolerance` of it (tolerant): voxels (Chebyshev) without a `spacing`,
  millimetres (Euclidean, `ndimage.distance_transform_edt` with the voxel spacing) with one;
* IoU / Dice of the heatmap thresholded either at a fraction of its maximum (default 0.5) or to its
  top `top_fraction` of voxels;
* `chance`: the hit rate of a pointer placed uniformly at random in `region` (default the whole
  image; `body_region` gives the patient's body of a CT), i.e. the share of the region that the
  mask, dilated by the same `tolerance`, covers.

`localization_table` aggregates per group (abnormality) with the mean of each score and two
p-values, so an inverted or mis-oriented map falls to chance and is seen to: `p_value`, the exact
one-sided Poisson-binomial test of the hits against each case's own chance, and `perm_p_value`,
peaks permuted across the group's cases (does the map point at *this* case's lesion?).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.stats import poisson_binom

from radlens.errors import ConfigError, DataError

#: permutations drawn by `permutation_p_value` (exact enumeration up to `EXACT_PERMUTATIONS` cases)
N_PERMUTATIONS = 2000
EXACT_PERMUTATIONS = 7


@dataclass(frozen=True)
class LocalizationScore:
    """Scores of one heatmap against one mask: `hit` / `chance` at the tolerance, `strict_hit` /
    `strict_chance` without it (peak inside the mask itself)."""

    hit: bool
    iou: float
    dice: float
    chance: float
    peak: tuple[int, ...]
    strict_hit: bool = False
    strict_chance: float = float("nan")


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
    """`mask` grown by `tolerance` voxels of Chebyshev distance (square / cube neighbourhood)."""
    if tolerance < 0:
        raise ConfigError(f"tolerance {tolerance} must be >= 0 voxels")
    if not tolerance:
        return mask
    cube = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return ndimage.binary_dilation(mask, structure=cube, iterations=tolerance)


def near_mask(
    mask: np.ndarray, tolerance: float = 0, *, spacing: Sequence[float] | None = None
) -> np.ndarray:
    """Voxels within `tolerance` of `mask`: without `spacing`, `tolerance` is whole voxels of
    Chebyshev distance (a square / cube neighbourhood); with `spacing` (mm per axis, in the
    array's axis order) it is millimetres of Euclidean distance between voxel centres."""
    m = np.asarray(mask).astype(bool)
    if spacing is None:
        if float(tolerance) != int(tolerance):
            raise ConfigError(
                f"tolerance {tolerance} must be a whole number of voxels without a spacing"
            )
        return _dilate(m, int(tolerance))
    sp = tuple(float(v) for v in spacing)
    if len(sp) != m.ndim or min(sp) <= 0:
        raise ConfigError(f"spacing {sp} must be {m.ndim} positive values (mm per axis)")
    if tolerance < 0:
        raise ConfigError(f"tolerance {tolerance} must be >= 0 mm")
    if not tolerance or not m.any():
        return m
    return ndimage.distance_transform_edt(~m, sampling=sp) <= float(tolerance) + 1e-9


def pointing_game(
    heatmap: np.ndarray,
    mask: np.ndarray,
    *,
    tolerance: float = 0,
    spacing: Sequence[float] | None = None,
) -> bool:
    """True when the heatmap's maximum lies within `tolerance` of `mask` (`near_mask`)."""
    heat, m = _check_pair(heatmap, mask)
    return bool(near_mask(m, tolerance, spacing=spacing)[peak_index(heat)])


def chance_hit_rate(
    mask: np.ndarray,
    *,
    region: np.ndarray | None = None,
    tolerance: float = 0,
    spacing: Sequence[float] | None = None,
) -> float:
    """Hit rate of a point drawn uniformly from `region` (default: every voxel): the share of
    the region within `tolerance` of `mask` (`near_mask`)."""
    m = near_mask(mask, tolerance, spacing=spacing)
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
    tolerance: float = 0,
    region: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
) -> LocalizationScore:
    """Pointing game (strict; within `tolerance`, `near_mask`), IoU and Dice of a heatmap against
    a mask, and the chance hit rates of a random pointer in `region` (default: everywhere)."""
    heat, m = _check_pair(heatmap, mask)
    if not m.any():
        raise DataError("ground-truth mask is empty; localization needs at least one voxel")
    iou, dice = overlap(threshold_heatmap(heat, threshold=threshold, top_fraction=top_fraction), m)
    peak = peak_index(heat)
    near = near_mask(m, tolerance, spacing=spacing)
    return LocalizationScore(
        hit=bool(near[peak]),
        iou=iou,
        dice=dice,
        chance=chance_hit_rate(near, region=region),
        peak=peak,
        strict_hit=bool(m[peak]),
        strict_chance=chance_hit_rate(m, region=region),
    )


def chance_p_value(hits: int, chances: Sequence[float] | np.ndarray) -> float:
    """One-sided exact test: P(at least `hits` hits) when case i is hit with probability
    `chances[i]` independently (Poisson-binomial, `scipy.stats.poisson_binom`)."""
    p = np.clip(np.asarray(chances, dtype=np.float64).ravel(), 0.0, 1.0)
    if p.size < 1:
        return float("nan")
    if int(hits) <= 0:
        return 1.0
    return float(poisson_binom(p).sf(int(hits) - 1))


def permutation_p_value(
    near_masks: Sequence[np.ndarray],
    peaks: Sequence[tuple[int, ...]],
    *,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> float:
    """Permutation test of case-specific pointing: the hits when each case's peak is scored
    against its own mask (`near_masks[i]`, already grown by the tolerance) versus when the peaks
    are shuffled across the cases (all on one grid). p = (1 + #{permuted hits >= observed}) /
    (1 + #permutations); every permutation is enumerated for up to `EXACT_PERMUTATIONS` cases
    (then p counts the identity once). One case: 1.0."""
    n = len(near_masks)
    if n != len(peaks):
        raise DataError(f"{n} masks for {len(peaks)} peaks; expected one peak per mask")
    if n < 2:
        return 1.0 if n else float("nan")
    shape = np.asarray(near_masks[0]).shape
    if any(np.asarray(m).shape != shape for m in near_masks):
        raise DataError("permutation test: masks differ in shape; expected one common grid")
    flat = np.stack([np.asarray(m, bool).ravel() for m in near_masks])  # (n, voxels)
    where = np.ravel_multi_index(tuple(np.asarray(peaks).T), shape)
    hits = flat[:, where]  # hits[i, j]: peak of case j inside mask i
    observed = int(np.trace(hits))
    rows = np.arange(n)
    if n <= EXACT_PERMUTATIONS:
        counts = [int(hits[rows, list(perm)].sum()) for perm in permutations(range(n))]
        return float(np.mean(np.asarray(counts) >= observed))
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((int(n_permutations), n)), axis=1)
    counts = hits[rows[None, :], perms].sum(axis=1)
    return float((1 + int((counts >= observed).sum())) / (1 + int(n_permutations)))


def localization_table(
    heatmaps: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    groups: Sequence[str],
    *,
    threshold: float = 0.5,
    top_fraction: float | None = None,
    tolerance: float = 0,
    regions: Sequence[np.ndarray | None] | None = None,
    spacing: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Per-group localization (`summarise_localization`) of heatmaps against their masks, chance
    in each case's `regions` entry (default: everywhere); permutation test on a common grid."""
    if not (len(heatmaps) == len(masks) == len(groups)):
        raise DataError(
            f"{len(heatmaps)} heatmaps, {len(masks)} masks and {len(groups)} group labels;"
            " expected one of each per case"
        )
    if regions is not None and len(regions) != len(masks):
        raise DataError(f"{len(regions)} regions for {len(masks)} masks; expected one per case")
    if len(heatmaps) == 0:
        raise DataError("no heatmaps to score; expected at least one case with a mask")
    rows, near, strict = [], [], []
    for n, (heat, mask, group) in enumerate(zip(heatmaps, masks, groups, strict=True)):
        score = score_heatmap(
            heat,
            mask,
            threshold=threshold,
            top_fraction=top_fraction,
            tolerance=tolerance,
            region=None if regions is None else regions[n],
            spacing=spacing,
        )
        rows.append(case_record(score, str(group)))
        strict.append(np.asarray(mask, bool))
        near.append(near_mask(strict[-1], tolerance, spacing=spacing))
    one_grid = len({m.shape for m in strict}) == 1
    return summarise_localization(
        pd.DataFrame(rows),
        near_masks=near if one_grid else None,
        strict_masks=strict if one_grid else None,
    )


def case_record(score: LocalizationScore, group: str) -> dict[str, object]:
    """One row of per-case scores, as `summarise_localization` reads them."""
    return {
        "group": group,
        "hit": score.hit,
        "strict_hit": score.strict_hit,
        "iou": score.iou,
        "dice": score.dice,
        "chance": score.chance,
        "strict_chance": score.strict_chance,
        "peak": score.peak,
    }


def _perm_column(
    cases: pd.DataFrame, masks: Sequence[np.ndarray], groups: list[str], seed: int
) -> list[float]:
    peaks = list(cases["peak"])
    out = []
    for group in groups:
        rows = np.arange(len(cases)) if group == "all" else np.flatnonzero(cases["group"] == group)
        chosen = [masks[i] for i in rows]
        out.append(permutation_p_value(chosen, [peaks[i] for i in rows], seed=seed))
    return out


def summarise_localization(
    cases: pd.DataFrame,
    *,
    near_masks: Sequence[np.ndarray] | None = None,
    strict_masks: Sequence[np.ndarray] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-group table from per-case scores (columns group, hit, iou, dice, chance; optionally
    strict_hit, strict_chance): n, hits, pointing_game (hit rate), iou, dice, chance (means) and
    p_value, the exact Poisson-binomial test of the hits against each case's chance
    (`chance_p_value`); with strict columns the same for the strict pointing game
    (pointing_game_strict, chance_strict, p_value_strict); with the cases' masks (`near_masks`
    grown by the tolerance, `strict_masks` not, row-aligned with `cases`, which then needs a
    `peak` column) the permutation p-values perm_p_value / perm_p_value_strict. The last row,
    "all", pools every case."""
    need = {"group", "hit", "iou", "dice", "chance"}
    if missing := sorted(need - set(cases.columns)):
        raise DataError(f"per-case localization scores lack columns {missing}")
    if cases.empty:
        raise DataError("no heatmaps to score; expected at least one case with a mask")
    cases = cases.reset_index(drop=True).astype({"hit": bool})
    strict = {"strict_hit", "strict_chance"} <= set(cases.columns)
    agg = {"n": ("hit", "size"), "hits": ("hit", "sum"), "pointing_game": ("hit", "mean")}
    agg |= {"iou": ("iou", "mean"), "dice": ("dice", "mean"), "chance": ("chance", "mean")}
    if strict:
        cases = cases.astype({"strict_hit": bool})
        agg |= {
            "strict_hits": ("strict_hit", "sum"),
            "pointing_game_strict": ("strict_hit", "mean"),
        }
        agg |= {"chance_strict": ("strict_chance", "mean")}
    table = cases.groupby("group", sort=True).agg(**agg).reset_index()
    total: dict[str, object] = {"group": "all", "n": len(cases)}
    for name, (column, how) in agg.items():
        if name != "n":
            total[name] = float(getattr(cases[column], how)())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    groups = list(table["group"])

    def members(group: str) -> pd.DataFrame:
        return cases if group == "all" else cases[cases["group"] == group]

    table["hits"] = table["hits"].astype(int)
    table["p_value"] = [
        chance_p_value(h, members(g)["chance"]) for g, h in zip(groups, table["hits"], strict=True)
    ]
    if strict:
        table["strict_hits"] = table["strict_hits"].astype(int)
        table["p_value_strict"] = [
            chance_p_value(h, members(g)["strict_chance"])
            for g, h in zip(groups, table["strict_hits"], strict=True)
        ]
    for column, masks in (("perm_p_value", near_masks), ("perm_p_value_strict", strict_masks)):
        if masks is not None:
            if len(masks) != len(cases) or "peak" not in cases:
                raise DataError(
                    f"{len(masks)} masks for {len(cases)} cases (with a 'peak' column);"
                    " expected one mask per case"
                )
            table[column] = _perm_column(cases, masks, groups, seed)
    return table
