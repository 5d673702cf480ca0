"""AUPRC, operating points, patient bootstrap and calibration against scikit-learn and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, roc_curve

from radlens.errors import ConfigError, EvaluationError
from radlens.evaluation import (
    average_precision,
    brier_score,
    choose_thresholds,
    expected_calibration_error,
    fit_temperature,
    operating_metrics,
    parse_operating_point,
    patient_bootstrap,
    reliability_curve,
)
from radlens.evaluation.bootstrap import PatientResampler


def _data(seed=0, n=300, labels=4, nan_frac=0.1):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < 0.3).astype(float)
    y[rng.random((n, labels)) < nan_frac] = np.nan
    s = np.round(rng.random((n, labels)) + 0.5 * np.nan_to_num(y), 2)
    return y, s


def test_average_precision_equals_sklearn_with_ties_and_unknowns() -> None:
    y, s = _data()
    ap = average_precision(y, s)
    for j in range(y.shape[1]):
        known = ~np.isnan(y[:, j])
        assert ap[j] == pytest.approx(average_precision_score(y[known, j], s[known, j]), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.integers(0, 5)), min_size=2, max_size=30))
def test_average_precision_property(pairs) -> None:
    y = np.array([p[0] for p in pairs])[:, None]
    s = np.array([p[1] for p in pairs], dtype=float)[:, None]
    ap = average_precision(y, s)[0]
    if y.sum() == 0:
        assert np.isnan(ap)
    else:
        assert 0.0 <= ap <= 1.0
        assert ap == pytest.approx(average_precision_score(y[:, 0], s[:, 0]), abs=1e-12)


def test_youden_and_target_sensitivity_thresholds() -> None:
    y, s = _data(seed=1, nan_frac=0.0)
    thr = choose_thresholds(y, s, parse_operating_point("youden"))
    for j in range(y.shape[1]):
        fpr, tpr, th = roc_curve(y[:, j], s[:, j])
        pred = s[:, j] >= thr[j]
        j_mine = pred[y[:, j] == 1].mean() - pred[y[:, j] == 0].mean()
        assert j_mine == pytest.approx(np.max(tpr - fpr), abs=1e-12)
        # among equal J the highest threshold is kept (fewest positive calls)
        best = th[np.isclose(tpr - fpr, np.max(tpr - fpr), atol=1e-12)]
        assert thr[j] == pytest.approx(best.max())
    op = parse_operating_point("sensitivity:0.95")
    thr = choose_thresholds(y, s, op)
    got = operating_metrics(y, s, thr)
    assert np.all(got["sensitivity"] >= 0.95)
    # the next higher distinct score would fall below the target: the threshold is the highest
    for j in range(y.shape[1]):
        higher = np.unique(s[:, j][s[:, j] > thr[j]])
        if len(higher):
            sens = (s[y[:, j] == 1, j] >= higher[0]).mean()
            assert sens < 0.95
    fixed = choose_thresholds(y, s, parse_operating_point(0.7))
    np.testing.assert_array_equal(fixed, 0.7)


def test_operating_metrics_by_hand() -> None:
    y = np.array([[1], [1], [0], [0], [0], [np.nan]], dtype=float)
    s = np.array([[0.9], [0.4], [0.6], [0.2], [0.1], [0.99]])
    got = operating_metrics(y, s, np.array([0.5]))
    assert (got["tp"][0], got["fp"][0], got["tn"][0], got["fn"][0]) == (1, 1, 2, 1)
    assert got["sensitivity"][0] == pytest.approx(0.5)
    assert got["specificity"][0] == pytest.approx(2 / 3)
    assert got["ppv"][0] == pytest.approx(0.5)
    assert got["npv"][0] == pytest.approx(2 / 3)
    assert got["f1"][0] == pytest.approx(0.5)


def test_operating_point_parsing() -> None:
    assert parse_operating_point("sens@0.9").method == "sensitivity"
    assert parse_operating_point("fixed:0.3").value == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="did you mean 'youden'"):
        parse_operating_point("yuoden")
    with pytest.raises(ConfigError, match="must lie in"):
        parse_operating_point("sensitivity:1.5")


def test_patient_bootstrap_resamples_whole_patients() -> None:
    pids = np.repeat(np.arange(50), np.arange(50) % 4 + 1).astype(str)
    r = PatientResampler(pids, seed=0)
    for _ in range(20):
        idx = r.draw()
        picked = pids[idx]
        # each drawn patient contributes all of its images, as often as it was drawn
        uniq, counts = np.unique(picked, return_counts=True)
        per_patient = {p: (pids == p).sum() for p in uniq}
        assert all(c % per_patient[p] == 0 for p, c in zip(uniq, counts, strict=True))
    y = np.zeros(len(pids))
    res = patient_bootstrap(lambda a: a.mean(), y, patient_ids=pids, n_bootstrap=10)
    assert res.low == res.high == 0.0


def test_patient_bootstrap_widens_for_clustered_data() -> None:
    rng = np.random.default_rng(0)
    n_pat, per = 100, 10
    pids = np.repeat(np.arange(n_pat), per)
    values = np.repeat(rng.normal(size=n_pat), per)  # images of a patient are identical
    clustered = patient_bootstrap(np.mean, values, patient_ids=pids, n_bootstrap=300)
    naive = patient_bootstrap(np.mean, values, patient_ids=np.arange(len(pids)), n_bootstrap=300)
    assert (clustered.high - clustered.low) > 2.0 * (naive.high - naive.low)
    with pytest.raises(EvaluationError, match="rows but there are"):
        patient_bootstrap(np.mean, values[:5], patient_ids=pids)


def test_calibration_metrics() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(float)
    assert expected_calibration_error(y, p)[0] < 0.02
    assert brier_score(y, p)[0] == pytest.approx(brier_score_loss(y, p))
    assert expected_calibration_error(y, p**3)[0] > 0.1
    curve = reliability_curve(y, p, n_bins=5)
    assert curve.count.sum() == 20000
    np.testing.assert_allclose(curve.observed, curve.mean_predicted, atol=0.03)


@pytest.mark.parametrize("kind", ["sigmoid", "softmax"])
def test_temperature_scaling_recovers_known_temperature(kind: str) -> None:
    rng = np.random.default_rng(1)
    n = 4000
    if kind == "sigmoid":
        z = rng.normal(scale=2.0, size=(n, 2))
        y = (rng.random((n, 2)) < 1 / (1 + np.exp(-z))).astype(float)
        overconfident = 1 / (1 + np.exp(-3.0 * z))  # logits multiplied by 3
    else:
        z = rng.normal(scale=1.5, size=(n, 3))
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        y = np.array([rng.choice(3, p=row) for row in p])
        e = np.exp(3.0 * z)
        overconfident = e / e.sum(1, keepdims=True)
    ts = fit_temperature(overconfident, y, kind)
    assert ts.temperature == pytest.approx(3.0, rel=0.15)
    assert ts.nll_after < ts.nll_before
    with pytest.raises(EvaluationError, match="must be 'softmax' or 'sigmoid'"):
        fit_temperature(overconfident, y, "softplus")


def test_weighted_bootstrap_equals_resampling() -> None:
    from radlens.evaluation import delong
    from radlens.evaluation.bootstrap import bootstrap_auc_ap

    y, s = _data(seed=9, n=400, labels=3)
    y[:, 2] = np.where(np.isnan(y[:, 2]), np.nan, 0.0)  # one label with no positives
    pids = np.repeat(np.arange(200), 2).astype(str)

    def generic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        auc, ap = delong(a, b).auc, average_precision(a, b)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.concatenate([ap, auc, [np.nanmean(auc), np.nanmean(ap)]])

    fast = bootstrap_auc_ap(y, s, patient_ids=pids, n_bootstrap=40, seed=2)
    slow = patient_bootstrap(generic, y, s, patient_ids=pids, n_bootstrap=40, seed=2)
    np.testing.assert_allclose(fast.samples, slow.samples, atol=1e-12)
    np.testing.assert_allclose(fast.estimate, slow.estimate, atol=1e-12)
    assert np.isnan(fast.estimate[2]) and np.isnan(fast.low[5])  # undefined stays NaN
