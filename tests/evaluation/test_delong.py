"""DeLong AUROC, variance, covariance and paired test against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from radlens.errors import EvaluationError
from radlens.evaluation import delong, delong_covariance, delong_paired_test, patient_bootstrap


def brute_force(y: np.ndarray, scores: list[np.ndarray]):
    """O(m*n) Mann-Whitney kernel: AUCs, structural components and DeLong's covariance."""
    pos, neg = y == 1, y == 0
    v10, v01, aucs = [], [], []
    for s in scores:
        x, z = s[pos], s[neg]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = pos.sum(), neg.sum()
    cov = np.cov(np.array(v10), ddof=1) / m + np.cov(np.array(v01), ddof=1) / n
    return np.array(aucs), np.atleast_2d(cov), v10, v01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_structural_components(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 150
    y = (rng.random(n) < 0.35).astype(float)
    s1 = np.round(rng.normal(size=n) + y, 1)  # rounding makes ties
    s2 = np.round(s1 + rng.normal(scale=0.8, size=n), 1)
    aucs, cov, v10, v01 = brute_force(y, [s1, s2])
    res = delong(y, s1)
    assert res.auc[0] == pytest.approx(aucs[0], abs=1e-12)
    assert res.variance[0] == pytest.approx(cov[0, 0], rel=1e-10)
    np.testing.assert_allclose(res.components[0, y == 1], v10[0], atol=1e-12)
    np.testing.assert_allclose(res.components[0, y == 0], v01[0], atol=1e-12)
    got_aucs, got_cov = delong_covariance(y, [s1, s2])
    np.testing.assert_allclose(got_aucs[:, 0], aucs, atol=1e-12)
    np.testing.assert_allclose(got_cov[0], cov, rtol=1e-10)


def test_vectorised_labels_with_unknown_truth_match_per_label() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((400, 6)) < 0.3).astype(float)
    y[rng.random((400, 6)) < 0.1] = np.nan
    s = np.round(rng.random((400, 6)) + 0.4 * np.nan_to_num(y), 2)
    res = delong(y, s)
    for j in range(6):
        known = ~np.isnan(y[:, j])
        assert res.auc[j] == pytest.approx(roc_auc_score(y[known, j], s[known, j]), abs=1e-12)
        single = delong(y[known, j], s[known, j])
        assert res.variance[j] == pytest.approx(single.variance[0], rel=1e-12)
        _, cov, _, _ = brute_force(y[known, j], [s[known, j]])
        assert res.variance[j] == pytest.approx(cov[0, 0], rel=1e-10)


@pytest.mark.slow
def test_delong_se_agrees_with_large_bootstrap() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    y = (rng.random(n) < 0.25).astype(float)
    s = rng.normal(size=n) + 1.2 * y
    res = delong(y, s)
    boot = patient_bootstrap(
        lambda a, b: delong(a, b).auc[0], y, s, patient_ids=np.arange(n), n_bootstrap=2000
    )
    assert np.std(boot.samples, ddof=1) == pytest.approx(res.se[0], rel=0.1)
    low, high = res.ci()
    assert boot.low == pytest.approx(low[0], abs=0.01)
    assert boot.high == pytest.approx(high[0], abs=0.01)


def test_undefined_and_degenerate_labels() -> None:
    y = np.array([[0, 1, 0], [0, 1, 1], [0, 1, 0], [0, 0, 0]], dtype=float)
    s = np.array([[0.1, 0.2, 0.9], [0.4, 0.3, 0.8], [0.5, 0.4, 0.1], [0.7, 0.1, 0.2]])
    res = delong(y, s)
    assert np.isnan(res.auc[0]) and np.isnan(res.variance[0])  # only negatives
    assert res.auc[1] == pytest.approx(1.0)  # one negative: AUC defined, variance not
    assert np.isnan(res.variance[1])
    assert res.auc[2] == pytest.approx(roc_auc_score(y[:, 2], s[:, 2]))


def test_nan_scores_and_bad_shapes_raise() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0])
    with pytest.raises(EvaluationError, match="NaN values where the truth is known"):
        delong(y, np.array([0.1, np.nan, 0.3, 0.2]))
    with pytest.raises(EvaluationError, match="shape"):
        delong(y, np.zeros(5))
    with pytest.raises(EvaluationError, match="other than 0, 1 or NaN"):
        delong(np.array([0.0, 2.0]), np.array([0.1, 0.2]))


def test_paired_test_references() -> None:
    rng = np.random.default_rng(11)
    n = 300
    y = (rng.random(n) < 0.4).astype(float)
    good = rng.normal(size=n) + 2.0 * y
    weak = good + rng.normal(scale=3.0, size=n)
    res = delong_paired_test(y, good, weak)
    aucs, cov, _, _ = brute_force(y, [good, weak])
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert res.z[0] == pytest.approx(z, rel=1e-9)
    assert res.p_value[0] < 1e-3
    same = delong_paired_test(y, good, good)
    assert same.difference[0] == 0.0 and same.p_value[0] == pytest.approx(1.0)
    # a monotone transform of the same scores is the same ranking: no difference
    mono = delong_paired_test(y, good, np.exp(good))
    assert mono.p_value[0] == pytest.approx(1.0)


def test_paired_test_false_positive_rate_under_null() -> None:
    rng = np.random.default_rng(5)
    pvals = []
    for _ in range(300):
        y = (rng.random(120) < 0.5).astype(float)
        base = rng.normal(size=120) + y
        a = base + rng.normal(size=120)
        b = base + rng.normal(size=120)
        pvals.append(delong_paired_test(y, a, b).p_value[0])
    rate = np.mean(np.array(pvals) < 0.05)
    assert 0.015 < rate < 0.1


small_int_scores = st.lists(st.integers(0, 6), min_size=4, max_size=40)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), scores=small_int_scores)
def test_properties(data, scores) -> None:
    s = np.array(scores, dtype=float)
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(s), max_size=len(s))))
    res = delong(y, s)
    if y.min() == y.max():
        assert np.isnan(res.auc[0])
        return
    auc = res.auc[0]
    assert 0.0 <= auc <= 1.0
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    monotone = delong(y, s**3 + 2 * s + 5.0)  # strictly increasing on integers >= 0
    assert monotone.auc[0] == pytest.approx(auc, abs=1e-12)
    np.testing.assert_allclose(monotone.variance, res.variance, rtol=1e-9, atol=1e-15)
    flipped = delong(y, 1.0 - s)
    assert flipped.auc[0] == pytest.approx(1.0 - auc, abs=1e-12)
    np.testing.assert_allclose(flipped.variance, res.variance, rtol=1e-9, atol=1e-15)
    if np.isfinite(res.variance[0]):
        assert res.variance[0] >= 0.0


def test_compare_runs_is_paired_by_id(tmp_path) -> None:
    from _support.evaluation_synth import multilabel_frame, write_run_dir

    from radlens.evaluation import compare_predictions, compare_runs

    a = multilabel_frame(splits=("test",), n_per_split=(600,), signal=2.5, seed=1)
    b = a.copy()
    rng = np.random.default_rng(0)
    for col in [c for c in b.columns if c.startswith("score:")]:
        b[col] = np.clip(b[col] + rng.normal(scale=0.4, size=len(b)), 0, 1)
    shuffled = b.sample(frac=1.0, random_state=0)  # row order must not matter
    shuffled.attrs = b.attrs
    table = compare_predictions(a, shuffled, names=("base", "noisy"))
    y = a[[f"target:{n}" for n in ("nodule", "mass", "pleural_effusion")]].to_numpy()
    sa = a[[f"score:{n}" for n in ("nodule", "mass", "pleural_effusion")]].to_numpy()
    sb = b[[f"score:{n}" for n in ("nodule", "mass", "pleural_effusion")]].to_numpy()
    # two images per patient: the paired test is the clustered one (patients as clusters)
    from radlens.evaluation import clustered_delong_paired_test

    ref = clustered_delong_paired_test(y, sa, sb, a["patient_id"].to_numpy())
    np.testing.assert_allclose(table["p_value"], ref.p_value)
    assert not np.allclose(ref.p_value, delong_paired_test(y, sa, sb).p_value, atol=0)
    assert (table["auroc_base"] > table["auroc_noisy"]).all() and (table["p_value"] < 0.01).all()
    assert (table["difference_low"] > 0).all()
    write_run_dir(tmp_path / "base", a)
    write_run_dir(tmp_path / "noisy", b)
    on_disk = compare_runs(tmp_path / "base", tmp_path / "noisy")
    np.testing.assert_allclose(on_disk["p_value"], table["p_value"])
    fewer = b.iloc[5:].copy()
    fewer.attrs = b.attrs
    with pytest.raises(EvaluationError, match=r"5 only in base .* 0 only in noisy"):
        compare_predictions(a, fewer, names=("base", "noisy"))
    other_truth = b.copy()
    other_truth["target:mass"] = 1.0 - other_truth["target:mass"]
    with pytest.raises(EvaluationError, match="targets differ"):
        compare_predictions(a, other_truth)
