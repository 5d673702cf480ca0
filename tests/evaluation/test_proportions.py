"""Wilson and Rao-Scott cluster-adjusted intervals of sensitivity, specificity, PPV, NPV."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from radlens.evaluation.proportions import (
    METHOD_RAO_SCOTT,
    METHOD_WILSON,
    balanced_accuracy,
    flagged_fraction,
    rate_intervals,
    wilson,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (8, 10), (10, 10), (37, 161), (1, 2)])
def test_wilson_equals_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
    low, high = wilson(np.array([k]), np.array([n]))
    assert low[0] == pytest.approx(ref.low, abs=1e-12)
    assert high[0] == pytest.approx(ref.high, abs=1e-12)


def test_wilson_by_hand_and_empty():
    low, high = wilson(np.array([8, 0]), np.array([10, 0]))
    assert (round(low[0], 4), round(high[0], 4)) == (0.4902, 0.9433)
    assert np.isnan(low[1]) and np.isnan(high[1])


def _cases(rng, n):
    y = (rng.random((n, 2)) < 0.4).astype(float)
    s = rng.random((n, 2)) * 0.6 + 0.4 * y
    return y, s


def test_one_image_per_patient_is_wilson():
    rng = np.random.default_rng(0)
    y, s = _cases(rng, 120)
    thr = np.array([0.5, 0.4])
    out, method = rate_intervals(y, s, thr, np.arange(120).astype(str))
    assert list(method) == [METHOD_WILSON] * 2
    tp = ((s >= thr) & (y == 1)).sum(axis=0)
    fn = ((s < thr) & (y == 1)).sum(axis=0)
    low, high = wilson(tp, tp + fn)
    np.testing.assert_allclose(out["sensitivity"][0], low)
    np.testing.assert_allclose(out["sensitivity"][1], high)


def test_duplicated_images_do_not_narrow_the_interval():
    """Each patient's image repeated 5 times: the Rao-Scott design effect is 5 n/(n-1), so the
    interval is Wilson's at n - 1 effective cases, not at 5 n."""
    rng = np.random.default_rng(1)
    y, s = _cases(rng, 80)
    thr = np.array([0.5, 0.5])
    rep = np.repeat(np.arange(80), 5)
    out, method = rate_intervals(y[rep], s[rep], thr, rep)
    assert list(method) == [METHOD_RAO_SCOTT] * 2
    tp = ((s >= thr) & (y == 1)).sum(axis=0)
    n_pos = (y == 1).sum(axis=0)
    low, high = wilson(tp * (n_pos - 1) / n_pos, n_pos - 1)
    np.testing.assert_allclose(out["sensitivity"][0], low, rtol=1e-10)
    np.testing.assert_allclose(out["sensitivity"][1], high, rtol=1e-10)
    naive_low, naive_high = wilson(5 * tp, 5 * n_pos)
    assert np.all(high - low > 2.0 * (naive_high - naive_low))


def test_undefined_threshold_gives_nan_and_flagged_fraction():
    y = np.array([[1.0], [0.0], [0.0], [np.nan]])
    s = np.array([[0.9], [0.6], [0.1], [0.99]])
    out, _ = rate_intervals(y, s, np.array([np.nan]), np.arange(4))
    assert np.isnan(out["ppv"][0]).all()
    assert flagged_fraction(y, s, np.array([0.5]))[0] == pytest.approx(2 / 3)
    assert np.isnan(flagged_fraction(y, s, np.array([np.nan]))[0])
    op = {"sensitivity": np.array([1.0]), "specificity": np.array([0.5])}
    assert balanced_accuracy(op)[0] == 0.75
