"""C-index and time-dependent AUC by hand and against scikit-survival (to 1e-10)."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored
from sksurv.metrics import cumulative_dynamic_auc as sksurv_cd_auc
from sksurv.util import Surv

from radlens.errors import EvaluationError
from radlens.evaluation import (
    concordance_index,
    cumulative_dynamic_auc,
    kaplan_meier,
    survival_bootstrap,
)


def test_c_index_by_hand_with_tied_times_and_risks() -> None:
    t = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    e = np.array([1, 1, 0, 0, 1])
    r = np.array([4.0, 3.0, 3.0, 5.0, 1.0])
    # subject 0 (event at 1) vs 1..4: 4>3, 4>3, 4<5, 4>1 -> 3 of 4 concordant
    # subject 1 (event at 2) vs 2 (censored at 2, comparable, tied risk -> 1/2), vs 3 (3<5),
    # vs 4 (3>1) -> 1.5 of 3; censored subjects and the last event start no pair
    assert concordance_index(t, e, r) == pytest.approx(4.5 / 7)
    # two events at the same time are not comparable
    assert np.isnan(concordance_index([1.0, 1.0], [1, 1], [0.0, 1.0]))


def test_time_dependent_auc_by_hand_with_ipcw() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    e = np.array([True, False, True, True, False])
    # censoring KM: G = 1 before 2, 1 - 1/4 = 0.75 from 2 on -> weights 1, 4/3, 4/3 for events
    uniq, g = kaplan_meier(t, e, reverse=True)
    assert g[uniq == 3.0] == pytest.approx(0.75)
    r = np.array([5.0, 0.0, 1.0, 3.0, 2.0])
    # t = 3.5: cases 0 (w 1, risk 5) and 2 (w 4/3, risk 1); controls 3 (risk 3), 4 (risk 2)
    # case 0 beats both, case 2 neither: (1 * 2 + 4/3 * 0) / ((1 + 4/3) * 2) = 3/7
    auc, mean = cumulative_dynamic_auc(t, e, r, [3.5])
    assert auc[0] == pytest.approx(3 / 7) and mean == pytest.approx(3 / 7)


def _random_cohort(rng: np.random.Generator, trial: int):
    n = int(rng.integers(30, 200))
    t = rng.integers(1, 30, n).astype(float) if trial % 2 else rng.exponential(10.0, n)
    e = rng.random(n) < 0.6
    r = np.round(rng.normal(size=n), 1) if trial % 3 == 0 else rng.normal(size=n)
    return t, e, r


@pytest.mark.parametrize("trial", range(6))
def test_against_scikit_survival(trial: int) -> None:
    rng = np.random.default_rng(trial)
    t, e, r = _random_cohort(rng, trial)
    ref = concordance_index_censored(e, t, r)[0]
    assert concordance_index(t, e, r) == pytest.approx(ref, abs=1e-10)
    t[np.argmax(t)] += 1.0  # the last subject alone at the end: G stays positive
    e[np.argmax(t)] = False
    y = Surv.from_arrays(e, t)
    times = np.quantile(t[e], [0.25, 0.5, 0.75])
    auc_ref, mean_ref = sksurv_cd_auc(y, y, r, times)
    auc, mean = cumulative_dynamic_auc(t, e, r, times)
    np.testing.assert_allclose(auc, auc_ref, atol=1e-10, rtol=0)
    assert mean == pytest.approx(mean_ref, abs=1e-10)
    # censoring distribution from another (training) set
    tt = rng.exponential(15.0, 300)
    te = rng.random(300) < 0.5
    tt[0], te[0] = t.max() + 1.0, False
    auc_ref, mean_ref = sksurv_cd_auc(Surv.from_arrays(te, tt), y, r, times)
    auc, mean = cumulative_dynamic_auc(t, e, r, times, train_time=tt, train_event=te)
    np.testing.assert_allclose(auc, auc_ref, atol=1e-10, rtol=0)
    assert mean == pytest.approx(mean_ref, abs=1e-10)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(EvaluationError, match="within the follow-up"):
        cumulative_dynamic_auc([1.0, 2.0, 3.0], [1, 1, 0], [0.1, 0.2, 0.3], [3.0])
    with pytest.raises(EvaluationError, match="one value per subject"):
        concordance_index([1.0, 2.0], [1, 0], [0.5])
    with pytest.raises(EvaluationError, match="0/1"):
        concordance_index([1.0, 2.0], [2, 0], [0.5, 0.1])
    with pytest.raises(EvaluationError, match="zero at an event time"):
        # at t = 2 an event and the last censoring: G(2) = 1 - 1/(2 - 1) = 0
        cumulative_dynamic_auc([1.0, 2.0, 2.0], [1, 1, 0], [1.0, 2.0, 3.0], [1.5])


def test_bootstrap_ci() -> None:
    rng = np.random.default_rng(7)
    n = 120
    risk = rng.normal(size=n)
    t = rng.exponential(np.exp(-risk))
    e = rng.random(n) < 0.8
    times = np.quantile(t, [0.3, 0.6])
    res = survival_bootstrap(
        t, e, risk, patient_ids=np.arange(n), times=times, n_bootstrap=100, seed=1
    )
    assert res.samples.shape == (100, 4)  # C, AUC(t1), AUC(t2), mean AUC
    assert res.estimate[0] == pytest.approx(concordance_index(t, e, risk))
    assert (res.low <= res.estimate).all() and (res.estimate <= res.high).all()
    assert res.estimate[0] > 0.6
