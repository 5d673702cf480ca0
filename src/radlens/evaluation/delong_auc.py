"""DeLong's AUROC variance, confidence intervals and paired test, vectorised over labels.

The fast algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21(11)) replaces DeLong's
O(m*n) Mann-Whitney kernel by midranks: for a positive case i, its structural component is
V10_i = (midrank of x_i among all cases - midrank among positives) / n, and for a negative case j
V01_j = 1 - (midrank of y_j among all cases - midrank among negatives) / m. Both differences are
counts of the other class below (and half of those tied with) the case, so one sort per label
gives every component in O(N log N). Labels may have unknown truth (NaN): such cases take part
in no count, so every label of a multi-label table is handled in one vectorised pass.

All functions take `y_true` as (N,) or (N, L) with 1 / 0 / NaN and `y_score` of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from radlens.errors import EvaluationError

_CHUNK = 16  # labels per pass: bounds the memory of the (chunk, N) work arrays


@dataclass(frozen=True)
class DeLongResult:
    """Per-label AUROC with DeLong variance; arrays of shape (L,). NaN where undefined."""

    auc: np.ndarray
    variance: np.ndarray
    n_positive: np.ndarray
    n_negative: np.ndarray
    components: np.ndarray  # (L, N): V10 for positives, V01 for negatives, NaN for unknown

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.variance)

    def ci(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Normal-approximation interval auc +- z * se, clipped to [0, 1]."""
        z = ndtri(0.5 + confidence / 2.0)
        low = np.clip(self.auc - z * self.se, 0.0, 1.0)
        high = np.clip(self.auc + z * self.se, 0.0, 1.0)
        return low, high


@dataclass(frozen=True)
class PairedTestResult:
    """Paired DeLong test of AUROC(model a) == AUROC(model b) on the same cases, per label."""

    auc_a: np.ndarray
    auc_b: np.ndarray
    difference: np.ndarray
    se_difference: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    correlation: np.ndarray


def _as_2d(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    single = y.ndim == 1
    if single:
        y, s = y[:, None], s[:, None]
    if y.ndim != 2 or y.shape != s.shape:
        raise EvaluationError(
            f"y_true has shape {np.shape(y_true)} but y_score has shape {np.shape(y_score)};"
            " expected equal shapes (N,) or (N, L)"
        )
    known = ~np.isnan(y)
    bad = known & ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise EvaluationError(
            f"y_true holds {int(bad.sum())} values other than 0, 1 or NaN"
            f" (e.g. {y[bad][0]!r}); expected binary truth per label"
        )
    nan_scores = known & np.isnan(s)
    if nan_scores.any():
        cols = np.flatnonzero(nan_scores.any(axis=0))
        raise EvaluationError(
            f"y_score holds {int(nan_scores.sum())} NaN values where the truth is known"
            f" (label columns {cols[:5].tolist()}); scores must be finite"
        )
    return y, s, single


def as_label_arrays(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Checked (N, L) float truth and scores, and whether the input was one label (N,)."""
    return _as_2d(y_true, y_score)


def _components_chunk(s: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Structural components for a (C, N) chunk (code 1 positive, 2 negative, 0 unknown)."""
    c, n = s.shape
    order = np.argsort(s, axis=1)  # ties need no stable order: they are counted by group
    ss = np.take_along_axis(s, order, axis=1)
    cs = np.take_along_axis(code, order, axis=1)
    ps, qs = cs == 1, cs == 2
    first = np.ones((c, n), dtype=bool)
    np.not_equal(ss[:, 1:], ss[:, :-1], out=first[:, 1:])
    last = np.ones((c, n), dtype=bool)
    last[:, :-1] = first[:, 1:]
    cpos = np.cumsum(ps, axis=1, dtype=np.int32)
    cneg = np.cumsum(qs, axis=1, dtype=np.int32)
    m = cpos[:, -1:].astype(np.float64)
    k = cneg[:, -1:].astype(np.float64)
    big = np.iinfo(np.int32).max
    # cumulative counts are non-decreasing, so a running max from each tie group's first case
    # (and a running min back from its last case) spreads the group's counts over the group
    neg_below = np.maximum.accumulate(np.where(first, cneg - qs, 0), axis=1)
    neg_upto = np.minimum.accumulate(np.where(last, cneg, big)[:, ::-1], axis=1)[:, ::-1]
    pos_below = np.maximum.accumulate(np.where(first, cpos - ps, 0), axis=1)
    pos_upto = np.minimum.accumulate(np.where(last, cpos, big)[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        # midrank(all) - midrank(own class) = other class below + half the other class tied
        v10 = (neg_below + 0.5 * (neg_upto - neg_below)) / k
        v01 = ((m - pos_upto) + 0.5 * (pos_upto - pos_below)) / m
    comp_sorted = np.where(ps, v10, np.where(qs, v01, np.nan))
    comp = np.empty_like(comp_sorted)
    np.put_along_axis(comp, order, comp_sorted, axis=1)
    return comp


def _masked_cov(a: np.ndarray, b: np.ndarray, mask: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per-row sample covariance of a and b over the cases in mask; (L,) NaN when count < 2."""
    am = np.where(mask, a, 0.0)
    bm = np.where(mask, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a = am.sum(axis=1) / count
        mean_b = bm.sum(axis=1) / count
        prod = np.where(mask, (a - mean_a[:, None]) * (b - mean_b[:, None]), 0.0).sum(axis=1)
        return np.where(count >= 2, prod / (count - 1), np.nan)


def delong(y_true: np.ndarray, y_score: np.ndarray) -> DeLongResult:
    """AUROC and DeLong variance per label (O(N log N) per label, vectorised over labels).

    A label with no positives or no negatives gets AUROC NaN; one with a single positive or
    negative gets a NaN variance (a sample variance needs two cases).
    """
    y, s, _ = _as_2d(y_true, y_score)
    n_cases, n_labels = y.shape
    yt = np.ascontiguousarray(y.T)
    pos, neg = yt == 1.0, yt == 0.0
    m = pos.sum(axis=1)
    k = neg.sum(axis=1)
    code = pos.astype(np.int8) + 2 * neg.astype(np.int8)
    st = np.where(code > 0, s.T, np.inf)  # unknown truth: out of the way (counted by nobody)
    comp = np.empty((n_labels, n_cases), dtype=np.float64)
    for lo in range(0, n_labels, _CHUNK):
        hi = min(lo + _CHUNK, n_labels)
        comp[lo:hi] = _components_chunk(st[lo:hi], code[lo:hi])
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(pos, comp, 0.0).sum(axis=1) / m
    auc = np.where((m > 0) & (k > 0), auc, np.nan)
    # both V10 (over positives) and V01 (over negatives) have mean AUROC
    dev2 = np.square(comp - auc[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        s10 = np.where(pos, dev2, 0.0).sum(axis=1) / (m - 1)
        s01 = np.where(neg, dev2, 0.0).sum(axis=1) / (k - 1)
        var = np.where((m >= 2) & (k >= 2), s10 / m + s01 / k, np.nan)
    var = np.where(np.isnan(auc), np.nan, var)
    return DeLongResult(auc=auc, variance=var, n_positive=m, n_negative=k, components=comp)


def delong_covariance(
    y_true: np.ndarray, scores: list[np.ndarray] | tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs (K, L) and their DeLong covariance matrices (L, K, K) for K models on one truth."""
    results = [delong(y_true, s) for s in scores]
    y, _, _ = _as_2d(y_true, scores[0])
    pos, neg = y.T == 1.0, y.T == 0.0
    m, k = pos.sum(axis=1), neg.sum(axis=1)
    n_models, n_labels = len(results), y.shape[1]
    cov = np.empty((n_labels, n_models, n_models))
    for i in range(n_models):
        for j in range(i, n_models):
            a, b = results[i].components, results[j].components
            with np.errstate(invalid="ignore", divide="ignore"):
                c = _masked_cov(a, b, pos, m) / m + _masked_cov(a, b, neg, k) / k
            cov[:, i, j] = cov[:, j, i] = c
    return np.stack([r.auc for r in results]), cov


def delong_paired_test(
    y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray
) -> PairedTestResult:
    """Two-sided paired DeLong test between two models scored on the same cases, per label."""
    aucs, cov = delong_covariance(y_true, [score_a, score_b])
    diff = aucs[0] - aucs[1]
    var = cov[:, 0, 0] + cov[:, 1, 1] - 2.0 * cov[:, 0, 1]
    se = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        corr = cov[:, 0, 1] / np.sqrt(cov[:, 0, 0] * cov[:, 1, 1])
    p = 2.0 * ndtr(-np.abs(z))
    p = np.where(np.isnan(diff), np.nan, p)
    return PairedTestResult(
        auc_a=aucs[0],
        auc_b=aucs[1],
        difference=diff,
        se_difference=se,
        z=z,
        p_value=p,
        correlation=corr,
    )
