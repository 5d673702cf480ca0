"""Clustered DeLong: AUROC variance and paired test when patients contribute several images.

Obuchowski (1997, Biometrics 53:567-578), with patients as clusters. The AUROC is the usual
Mann-Whitney estimate over all positive-negative pairs; its variance sums DeLong's structural
components (placement values, `delong().components`) per cluster: for cluster i with m_i
positives and n_i negatives, X_i = sum of V10 over its positives, Y_i = sum of V01 over its
negatives, M = sum m_i, N = sum n_i, and

    S10 = I10 / ((I10 - 1) M) * sum_i (X_i - m_i A)^2      (I10: clusters with a positive)
    S01 = I01 / ((I01 - 1) N) * sum_i (Y_i - n_i A)^2      (I01: clusters with a negative)
    S11 = I / (I - 1) * sum_i (X_i - m_i A)(Y_i - n_i A)   (I: clusters with a labelled image)
    var(A) = S10 / M + S01 / N + 2 S11 / (M N).

With one image per patient S11 = 0 and var(A) is DeLong's. Two models on the same images get the
covariance from the same sums with the two models' components (S11 symmetrised), hence a paired
test. Unknown truth (NaN) leaves an image out of its label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr

from radlens.errors import EvaluationError
from radlens.evaluation.delong_auc import DeLongResult, PairedTestResult, as_label_arrays, delong

CI_CLUSTERED = "clustered DeLong (Obuchowski 1997, patients as clusters)"
CI_IMAGE = "DeLong (image level: one image per patient)"


def _cluster_matrix(clusters: np.ndarray, n: int) -> sparse.csr_matrix:
    """(I, N) 0/1 indicator of image -> cluster."""
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or len(clusters) != n:
        raise EvaluationError(
            f"clusters (patient ids) have shape {clusters.shape}; expected ({n},), one per row"
        )
    codes, uniques = pd.factorize(pd.Series(clusters, dtype=object))
    if (codes < 0).any():
        raise EvaluationError("clusters (patient ids) hold missing values; expected an id per row")
    return sparse.csr_matrix(
        (np.ones(n), (codes, np.arange(n))), shape=(len(uniques), n), dtype=np.float64
    )


def _cluster_sums(
    y: np.ndarray, results: list[DeLongResult], clusters: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Per model: centred cluster sums X_i - m_i A and Y_i - n_i A, each (L, I); counts."""
    pos, neg = y.T == 1.0, y.T == 0.0
    ind = _cluster_matrix(clusters, y.shape[0])
    m_i = np.asarray((ind @ pos.T.astype(np.float64)).T)  # (L, I)
    n_i = np.asarray((ind @ neg.T.astype(np.float64)).T)
    xs, ys = [], []
    for r in results:
        comp = r.components
        x = np.asarray((ind @ np.where(pos, comp, 0.0).T).T)
        yy = np.asarray((ind @ np.where(neg, comp, 0.0).T).T)
        auc = np.nan_to_num(r.auc)[:, None]
        xs.append(x - m_i * auc)
        ys.append(yy - n_i * auc)
    counts = {
        "M": pos.sum(axis=1).astype(np.float64),
        "N": neg.sum(axis=1).astype(np.float64),
        "I10": (m_i > 0).sum(axis=1).astype(np.float64),
        "I01": (n_i > 0).sum(axis=1).astype(np.float64),
        "I": ((m_i + n_i) > 0).sum(axis=1).astype(np.float64),
    }
    return xs, ys, counts


def _cov(xa, ya, xb, yb, c: dict) -> np.ndarray:
    """Obuchowski covariance of two AUROCs from their centred cluster sums, per label."""
    big_m, big_n, i10, i01, i = c["M"], c["N"], c["I10"], c["I01"], c["I"]
    with np.errstate(invalid="ignore", divide="ignore"):
        s10 = i10 / ((i10 - 1.0) * big_m) * (xa * xb).sum(axis=1)
        s01 = i01 / ((i01 - 1.0) * big_n) * (ya * yb).sum(axis=1)
        s11 = i / (i - 1.0) * 0.5 * ((xa * yb).sum(axis=1) + (xb * ya).sum(axis=1))
        cov = s10 / big_m + s01 / big_n + 2.0 * s11 / (big_m * big_n)
    return np.where((i10 >= 2) & (i01 >= 2), cov, np.nan)


def clustered_delong(y_true: np.ndarray, y_score: np.ndarray, clusters: np.ndarray) -> DeLongResult:
    """AUROC per label with the clustered (Obuchowski) variance; `clusters` (N,) patient ids.

    The result is a `DeLongResult` (same AUROC and components as `delong`), so `.se` and `.ci`
    give the cluster-aware interval. The variance is NaN when fewer than two patients carry a
    positive (or a negative) of the label.
    """
    y, s, _ = as_label_arrays(y_true, y_score)
    return _clustered_from(y, delong(y, s), clusters)


def _clustered_from(y: np.ndarray, res: DeLongResult, clusters: np.ndarray) -> DeLongResult:
    """`res` (image-level DeLong of y) with the clustered variance."""
    xs, ys, counts = _cluster_sums(y, [res], clusters)
    var = _cov(xs[0], ys[0], xs[0], ys[0], counts)
    var = np.where(np.isnan(res.auc), np.nan, np.clip(var, 0.0, None))
    return DeLongResult(
        auc=res.auc,
        variance=var,
        n_positive=res.n_positive,
        n_negative=res.n_negative,
        components=res.components,
    )


def clustered_delong_paired_test(
    y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, clusters: np.ndarray
) -> PairedTestResult:
    """Two-sided paired test of AUROC(a) == AUROC(b) per label, patients as clusters."""
    y, sa, _ = as_label_arrays(y_true, score_a)
    _, sb, _ = as_label_arrays(y_true, score_b)
    ra, rb = delong(y, sa), delong(y, sb)
    (xa, xb), (ya, yb), counts = _cluster_sums(y, [ra, rb], clusters)
    vaa = _cov(xa, ya, xa, ya, counts)
    vbb = _cov(xb, yb, xb, yb, counts)
    vab = _cov(xa, ya, xb, yb, counts)
    diff = ra.auc - rb.auc
    se = np.sqrt(np.clip(vaa + vbb - 2.0 * vab, 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        corr = vab / np.sqrt(vaa * vbb)
    p = np.where(np.isnan(diff) | np.isnan(se), np.nan, 2.0 * ndtr(-np.abs(z)))
    return PairedTestResult(
        auc_a=ra.auc,
        auc_b=rb.auc,
        difference=diff,
        se_difference=se,
        z=z,
        p_value=p,
        correlation=corr,
    )


def repeats_per_label(y_true: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """(L,) bool: some patient has more than one labelled image of the label."""
    y = np.asarray(y_true, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    ind = _cluster_matrix(clusters, y.shape[0])
    per_cluster = np.asarray(ind @ (~np.isnan(y)).astype(np.float64))  # (I, L)
    return (per_cluster > 1).any(axis=0)


def headline_delong(
    y_true: np.ndarray, y_score: np.ndarray, clusters: np.ndarray
) -> tuple[DeLongResult, np.ndarray]:
    """The AUROC and variance to report per label, and the method name per label: clustered
    DeLong where a patient has several labelled images of the label, image-level DeLong where
    each has one (the two are then equal)."""
    y, s, _ = as_label_arrays(y_true, y_score)
    image = delong(y, s)
    clustered = _clustered_from(y, image, clusters)
    repeat = repeats_per_label(y, clusters)
    var = np.where(repeat, clustered.variance, image.variance)
    method = np.where(repeat, CI_CLUSTERED, CI_IMAGE)
    result = DeLongResult(
        auc=image.auc,
        variance=var,
        n_positive=image.n_positive,
        n_negative=image.n_negative,
        components=image.components,
    )
    return result, method
