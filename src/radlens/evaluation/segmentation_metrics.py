"""Segmentation metrics per finding: Dice, HD95 and normalised surface Dice (MONAI), lesion-wise
sensitivity and false positives, per-finding summaries with patient-bootstrap CIs.

Distances are in millimetres: MONAI gets the voxel spacing (z, y, x) of the mask.

Empty masks (the rule every function here follows):

| prediction | truth     | Dice | HD95 (mm) | surface Dice |
|------------|-----------|------|-----------|--------------|
| empty      | empty     | 1    | 0         | 1            |
| empty      | not empty | 0    | inf       | 0            |
| not empty  | empty     | 0    | inf       | 0            |

A distance to a surface that does not exist is unbounded, hence inf (never NaN, so a case is
never silently dropped). Summaries report the median HD95 over the cases where it is finite and,
as a metric of its own, the fraction of cases where it is infinite (one mask empty).

Lesion-wise rule: lesions are the 26-connected components of the truth mask, candidates those
of the prediction. A lesion is detected when at least one predicted voxel lies inside it (any
overlap); a predicted component that overlaps no lesion is one false positive.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice
from scipy import ndimage

from radlens.errors import EvaluationError
from radlens.evaluation.bootstrap import patient_bootstrap

SURFACE_TOLERANCE_MM = 2.0
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity


@dataclass(frozen=True)
class SegmentationScores:
    """Overlap and distance scores of one predicted mask against its truth mask."""

    dice: float
    hd95_mm: float
    surface_dice: float
    n_pred_voxels: int
    n_true_voxels: int


@dataclass(frozen=True)
class LesionCounts:
    """Lesion-wise detection in one mask pair (see the module's overlap rule)."""

    n_lesions: int
    n_detected: int
    n_false_positives: int


def _spacing(spacing: Sequence[float], ndim: int) -> tuple[float, ...]:
    out = tuple(float(s) for s in spacing)
    if len(out) != ndim or min(out) <= 0 or not all(np.isfinite(out)):
        raise EvaluationError(
            f"spacing must be {ndim} positive finite numbers (mm, array axis order); got {spacing}"
        )
    return out


def _pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    if p.shape != t.shape:
        raise EvaluationError(
            f"predicted mask has shape {p.shape} but the truth mask has {t.shape}; "
            "expected both on the same voxel grid"
        )
    if p.ndim not in (2, 3):
        raise EvaluationError(f"masks must be 2-D or 3-D; got shape {p.shape}")
    return p, t


def segmentation_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float],
    *,
    tolerance_mm: float = SURFACE_TOLERANCE_MM,
) -> SegmentationScores:
    """Dice, HD95 (mm) and normalised surface Dice at `tolerance_mm` of two binary masks.

    `spacing` is the voxel size per array axis in mm. Empty masks follow the module's table.
    HD95 is MONAI's: the larger of the two directed 95th-percentile surface distances.
    """
    p, t = _pair(pred, truth)
    sp = _spacing(spacing, p.ndim)
    n_p, n_t = int(p.sum()), int(t.sum())
    if n_p == 0 or n_t == 0:
        both = n_p == n_t
        return SegmentationScores(float(both), 0.0 if both else float("inf"), float(both), n_p, n_t)
    yp, yt = torch.from_numpy(p[None, None]), torch.from_numpy(t[None, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI's deprecation notes on unused arguments
        dice = compute_dice(yp, yt, include_background=True, ignore_empty=False)
        hd95 = compute_hausdorff_distance(
            yp, yt, include_background=True, percentile=95, spacing=sp
        )
        nsd = compute_surface_dice(
            yp, yt, [float(tolerance_mm)], include_background=True, spacing=sp
        )
    return SegmentationScores(float(dice), float(hd95), float(nsd), n_p, n_t)


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected (8 in 2-D) components of a binary mask: (labels 1..n, n)."""
    m = np.asarray(mask) > 0
    structure = _STRUCTURE if m.ndim == 3 else np.ones((3,) * m.ndim, dtype=bool)
    labels, n = ndimage.label(m, structure=structure)
    return labels, int(n)


def lesion_counts(pred: np.ndarray, truth: np.ndarray) -> LesionCounts:
    """Lesions detected and false-positive components (any-overlap rule of the module)."""
    p, t = _pair(pred, truth)
    t_lab, n_t = label_components(t)
    p_lab, n_p = label_components(p)
    detected = np.unique(t_lab[p & (t_lab > 0)])
    hit_pred = np.unique(p_lab[t & (p_lab > 0)])
    return LesionCounts(n_t, len(detected), n_p - len(hit_pred))


def score_cases(
    cases: Sequence[tuple[str, str, np.ndarray, np.ndarray, Sequence[float]]],
    *,
    tolerance_mm: float = SURFACE_TOLERANCE_MM,
) -> pd.DataFrame:
    """One row per (patient_id, finding, pred, truth, spacing) case: its scores and lesion counts.

    Columns: patient_id, finding, dice, hd95_mm, surface_dice, n_lesions, n_detected,
    n_false_positives, n_pred_voxels, n_true_voxels.
    """
    rows = []
    for patient_id, finding, pred, truth, spacing in cases:
        s = segmentation_scores(pred, truth, spacing, tolerance_mm=tolerance_mm)
        c = lesion_counts(pred, truth)
        rows.append({"patient_id": patient_id, "finding": finding, **s.__dict__, **c.__dict__})
    return pd.DataFrame(rows)


SUMMARY_METRICS: tuple[str, ...] = (
    "dice",
    "hd95_mm",
    "hd95_inf_fraction",
    "surface_dice",
    "lesion_sensitivity",
    "false_positives_per_scan",
)


def _summary(dice, hd95, nsd, n_lesions, n_detected, n_fp) -> np.ndarray:
    """`SUMMARY_METRICS` of a set of cases (HD95: median of the finite ones)."""
    finite = np.isfinite(hd95)
    med = float(np.median(hd95[finite])) if finite.any() else np.nan
    sens = n_detected.sum() / n_lesions.sum() if n_lesions.sum() > 0 else np.nan
    return np.array([dice.mean(), med, 1.0 - finite.mean(), nsd.mean(), sens, n_fp.mean()])


def summarise_segmentation(
    scores: pd.DataFrame,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per finding: each of `SUMMARY_METRICS` with its patient-bootstrap percentile CI.

    Long table: finding, metric, estimate, low, high, n_cases. Dice and surface Dice are means
    over cases, HD95 the median over cases where it is finite (`hd95_inf_fraction`: the share of
    cases with one mask empty), lesion sensitivity pooled over lesions, false positives the mean
    per scan.
    """
    missing = {"patient_id", "finding", "dice", "hd95_mm", "surface_dice"} - set(scores)
    if missing:
        raise EvaluationError(f"segmentation scores lack columns {sorted(missing)}")
    rows = []
    for finding, group in scores.groupby("finding", sort=True):
        arrays = [
            group[c].to_numpy(dtype=np.float64)
            for c in ("dice", "hd95_mm", "surface_dice", "n_lesions", "n_detected")
        ] + [group["n_false_positives"].to_numpy(dtype=np.float64)]
        res = patient_bootstrap(
            _summary,
            *arrays,
            patient_ids=group["patient_id"].to_numpy(),
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
        for i, metric in enumerate(SUMMARY_METRICS):
            rows.append(
                {
                    "finding": finding,
                    "metric": metric,
                    "estimate": float(res.estimate[i]),
                    "low": float(res.low[i]),
                    "high": float(res.high[i]),
                    "n_cases": len(group),
                }
            )
    return pd.DataFrame(rows)
