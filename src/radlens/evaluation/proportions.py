"""Confidence intervals of proportions (sensitivity, specificity, PPV, NPV), vectorised.

`wilson` is the Wilson score interval (equal to statsmodels' `proportion_confint(method="wilson")`).
With clustered images (several per patient) the binomial variance understates the uncertainty;
`clustered_wilson` applies the Rao-Scott correction: the Wilson interval at the effective sample
size n / deff, where the design effect deff is the ratio-estimator variance of the proportion over
patients divided by the binomial one (Rao & Scott 1992, Biometrics 48:577-585). With one image
per patient deff is taken as 1 and the interval is Wilson's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtri

from radlens.evaluation import metrics

RATES = {  # rate: (numerator cell, denominator cells) of the confusion table
    "sensitivity": ("tp", ("tp", "fn")),
    "specificity": ("tn", ("tn", "fp")),
    "ppv": ("tp", ("tp", "fp")),
    "npv": ("tn", ("tn", "fn")),
}
METHOD_WILSON = "Wilson score"
METHOD_RAO_SCOTT = "Wilson score, Rao-Scott cluster-adjusted (patients)"


def wilson(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of k successes in n trials (n may be fractional); NaN when n = 0."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = ndtri(0.5 + confidence / 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    ok = n > 0
    return (
        np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan),
        np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan),
    )


def design_effect(a: np.ndarray, b: np.ndarray, ind: sparse.csr_matrix) -> np.ndarray:
    """Design effect per label of the proportion sum(a) / sum(b) with a, b (N, L) 0/1 masks and
    `ind` (I, N) the patient indicator: ratio-estimator variance / binomial variance, >= 1."""
    a_i = np.asarray(ind @ a.astype(np.float64))  # (I, L)
    b_i = np.asarray(ind @ b.astype(np.float64))
    n = b_i.sum(axis=0)
    n_clusters = (b_i > 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = a_i.sum(axis=0) / n
        var_ratio = (
            n_clusters / (n_clusters - 1.0) * np.square(a_i - p * b_i).sum(axis=0) / np.square(n)
        )
        var_binom = p * (1.0 - p) / n
        deff = np.where(var_binom > 0, var_ratio / var_binom, 1.0)
    return np.where(np.isfinite(deff) & (n_clusters >= 2), np.maximum(deff, 1.0), 1.0)


def rate_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    patient_ids: np.ndarray,
    confidence: float = 0.95,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """{rate: (low, high)} per label for sensitivity/specificity/PPV/NPV at `thresholds`, and
    the method per label: Wilson, or Rao-Scott-adjusted Wilson where a patient has several
    labelled images of the label. NaN where the threshold or the rate is undefined."""
    pred = scores >= np.nan_to_num(thresholds, nan=np.inf)[None, :]
    pos, neg = y == 1.0, y == 0.0
    masks = {"tp": pred & pos, "fn": ~pred & pos, "tn": ~pred & neg, "fp": pred & neg}
    codes, uniques = pd.factorize(pd.Series(np.asarray(patient_ids), dtype=object))
    n = len(codes)
    ind = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(len(uniques), n))
    labelled = np.asarray(ind @ (~np.isnan(y)).astype(np.float64))
    clustered = (labelled > 1).any(axis=0)
    out = {}
    for rate, (num, (d1, d2)) in RATES.items():
        a, b = masks[num], masks[d1] | masks[d2]
        k, total = a.sum(axis=0), b.sum(axis=0)
        deff = np.where(clustered, design_effect(a, b, ind), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            low, high = wilson(k / deff, total / deff, confidence)
        undefined = np.isnan(thresholds)
        out[rate] = (np.where(undefined, np.nan, low), np.where(undefined, np.nan, high))
    method = np.where(clustered, METHOD_RAO_SCOTT, METHOD_WILSON)
    return out, method


def balanced_accuracy(op: dict) -> np.ndarray:
    """(sensitivity + specificity) / 2 per label from `metrics.operating_metrics` output."""
    return (np.asarray(op["sensitivity"]) + np.asarray(op["specificity"])) / 2.0


def flagged_fraction(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of labelled cases at or above the threshold, per label (alerts raised)."""
    op = metrics.confusion_counts(y, scores, np.nan_to_num(thresholds, nan=np.inf))
    flagged = op["tp"] + op["fp"]
    total = flagged + op["tn"] + op["fn"]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = flagged / total
    return np.where(np.isnan(thresholds) | (total == 0), np.nan, frac)
