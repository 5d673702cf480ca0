"""Clustered DeLong (Obuchowski 1997) against DeLong, a plain O(n^2) implementation written here
from the paper's formulas, and the patient bootstrap on simulated clustered data."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import EvaluationError
from radlens.evaluation.bootstrap import bootstrap_auc_ap
from radlens.evaluation.clustered_auc import (
    CI_CLUSTERED,
    CI_IMAGE,
    clustered_delong,
    clustered_delong_paired_test,
    headline_delong,
)
from radlens.evaluation.delong_auc import delong, delong_paired_test


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _reference(y: np.ndarray, scores: list[np.ndarray], clusters: np.ndarray):
    """Obuchowski (1997) eq. 3-5, written out loop by loop: AUCs and their covariance."""
    ids = list(dict.fromkeys(clusters.tolist()))
    pos = [i for i in range(len(y)) if y[i] == 1]
    neg = [j for j in range(len(y)) if y[j] == 0]
    big_m, big_n = len(pos), len(neg)
    aucs, xs, ys = [], [], []
    for s in scores:
        auc = sum(_psi(s[i], s[j]) for i in pos for j in neg) / (big_m * big_n)
        x = {c: 0.0 for c in ids}
        yy = {c: 0.0 for c in ids}
        m = {c: 0 for c in ids}
        n = {c: 0 for c in ids}
        for i in pos:
            x[clusters[i]] += sum(_psi(s[i], s[j]) for j in neg) / big_n
            m[clusters[i]] += 1
        for j in neg:
            yy[clusters[j]] += sum(_psi(s[i], s[j]) for i in pos) / big_m
            n[clusters[j]] += 1
        aucs.append(auc)
        xs.append({c: x[c] - m[c] * auc for c in ids})
        ys.append({c: yy[c] - n[c] * auc for c in ids})
    i10 = sum(1 for c in ids if m[c] > 0)
    i01 = sum(1 for c in ids if n[c] > 0)
    i_all = len(ids)
    k = len(scores)
    cov = np.zeros((k, k))
    for r in range(k):
        for t in range(k):
            s10 = i10 / ((i10 - 1) * big_m) * sum(xs[r][c] * xs[t][c] for c in ids)
            s01 = i01 / ((i01 - 1) * big_n) * sum(ys[r][c] * ys[t][c] for c in ids)
            s11_rt = i_all / (i_all - 1) * sum(xs[r][c] * ys[t][c] for c in ids)
            s11_tr = i_all / (i_all - 1) * sum(xs[t][c] * ys[r][c] for c in ids)
            cov[r, t] = s10 / big_m + s01 / big_n + (s11_rt + s11_tr) / (big_m * big_n)
    return np.array(aucs), cov


def _clustered_data(rng, n_patients: int, per_patient: int, noise: float = 0.05):
    """Patients with a patient-level score effect; labels mostly shared within a patient."""
    clusters = np.repeat(np.arange(n_patients), per_patient)
    patient_label = rng.random(n_patients) < 0.4
    flip = rng.random(clusters.size) < 0.1
    y = np.where(flip, ~patient_label[clusters], patient_label[clusters]).astype(float)
    effect = rng.normal(0, 1, n_patients) + 0.8 * patient_label
    score = effect[clusters] + noise * rng.normal(size=clusters.size) + 0.3 * y
    return y, score, clusters


def test_one_image_per_patient_equals_delong():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 3)) < 0.3).astype(float)
    y[rng.random((300, 3)) < 0.05] = np.nan
    s = np.round(rng.normal(size=(300, 3)) + y * 0.8, 1)  # ties
    ids = np.array([f"P{i}" for i in range(300)])
    c, d = clustered_delong(y, np.nan_to_num(s), ids), delong(y, np.nan_to_num(s))
    np.testing.assert_allclose(c.auc, d.auc, rtol=0, atol=1e-15)
    np.testing.assert_allclose(c.variance, d.variance, rtol=1e-12, atol=1e-15)
    _, method = headline_delong(y, np.nan_to_num(s), ids)
    assert list(method) == [CI_IMAGE] * 3


def test_one_image_per_patient_paired_equals_delong_paired():
    rng = np.random.default_rng(7)
    y = (rng.random(200) < 0.35).astype(float)
    a, b = rng.normal(size=200) + y, rng.normal(size=200) + 0.5 * y
    ids = np.arange(200)
    c, d = clustered_delong_paired_test(y, a, b, ids), delong_paired_test(y, a, b)
    np.testing.assert_allclose(c.se_difference, d.se_difference, rtol=1e-12)
    np.testing.assert_allclose(c.p_value, d.p_value, rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_loop_reference(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, 25)  # 25 patients with 1-5 images each
    clusters = np.repeat([f"p{i}" for i in range(25)], sizes)
    n = clusters.size
    y = (rng.random(n) < 0.45).astype(float)
    a = np.round(rng.normal(size=n) + y, 1)
    b = np.round(rng.normal(size=n) + 0.4 * y, 1)
    aucs, cov = _reference(y, [a, b], clusters)
    ca, cb = clustered_delong(y, a, clusters), clustered_delong(y, b, clusters)
    assert ca.auc[0] == pytest.approx(aucs[0], abs=1e-12)
    assert ca.variance[0] == pytest.approx(cov[0, 0], abs=1e-10)
    assert cb.variance[0] == pytest.approx(cov[1, 1], abs=1e-10)
    paired = clustered_delong_paired_test(y, a, b, clusters)
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert paired.se_difference[0] == pytest.approx(np.sqrt(var_diff), abs=1e-10)
    assert paired.correlation[0] == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))


def test_unknown_truth_drops_images_per_label():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(30), 3)
    y = (rng.random((90, 2)) < 0.5).astype(float)
    s = rng.normal(size=(90, 2)) + y
    y[::4, 1] = np.nan
    keep = ~np.isnan(y[:, 1])
    both = clustered_delong(y, s, clusters)
    alone = clustered_delong(y[keep, 1], s[keep, 1], clusters[keep])
    assert both.variance[1] == pytest.approx(alone.variance[0], rel=1e-12)
    _, ref_cov = _reference(y[keep, 1], [s[keep, 1]], clusters[keep])
    assert alone.variance[0] == pytest.approx(ref_cov[0, 0], abs=1e-10)


def test_matches_patient_bootstrap_and_is_wider_than_image_level():
    rng = np.random.default_rng(11)
    y, s, clusters = _clustered_data(rng, 60, 10, noise=0.02)
    clustered = clustered_delong(y, s, clusters)
    image = delong(y, s)
    boot = bootstrap_auc_ap(
        y[:, None], s[:, None], patient_ids=clusters, n_bootstrap=2000, seed=5, normalise=None
    )
    boot_sd = np.nanstd(boot.samples[:, 1], ddof=1)
    # Monte-Carlo error of a bootstrap SD with B=2000 is ~1.6%; the two estimators differ by
    # O(1/I) besides: 15% allowed
    assert clustered.se[0] == pytest.approx(boot_sd, rel=0.15)
    assert clustered.se[0] > 2.0 * image.se[0]
    head, method = headline_delong(y, s, clusters)
    assert method[0] == CI_CLUSTERED
    assert head.variance[0] == clustered.variance[0]


def test_bad_clusters():
    with pytest.raises(EvaluationError, match="one per row"):
        clustered_delong(np.array([0.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3]), np.arange(2))


def test_compare_uses_the_clustered_paired_test():
    import pandas as pd

    from radlens.evaluation import compare_predictions

    rng = np.random.default_rng(4)
    y, s, clusters = _clustered_data(rng, 40, 5)
    frames = []
    for score in (s, s + rng.normal(0, 0.5, s.size)):
        frame = pd.DataFrame(
            {
                "id": [f"i{k}" for k in range(len(y))],
                "patient_id": [f"p{c}" for c in clusters],
                "split": "test",
                "target:x": y,
                "score:x": score,
            }
        )
        frame.attrs["radlens"] = {"task": "multi-label", "label_names": ["x"]}
        frames.append(frame)
    out = compare_predictions(*frames)
    ref = clustered_delong_paired_test(y, frames[0]["score:x"], frames[1]["score:x"], clusters)
    assert out["p_value"].iloc[0] == pytest.approx(ref.p_value[0])
    assert out["test_method"].iloc[0] == CI_CLUSTERED
