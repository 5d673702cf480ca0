"""Survival metrics: Harrell's C-index and the time-dependent (cumulative/dynamic) AUC with
inverse-probability-of-censoring weights, each with a patient-bootstrap CI.

Definitions follow scikit-survival (`concordance_index_censored`, `cumulative_dynamic_auc`),
which the tests use as the reference:

- C-index: a pair (i, j) is comparable when i has an event and either t_i < t_j, or t_i = t_j
  and j is censored (two events at the same time are not comparable). It is concordant when
  risk_i > risk_j; risks within `tied_tol` count 1/2. C = (concordant + ties / 2) / comparable.
- cumulative/dynamic AUC at t: cases are events at or before t, weighted by 1 / G(t_i), where G
  is the Kaplan-Meier estimate of the censoring distribution (censorings at a time count after
  the events at that time); controls are subjects still at risk after t. The AUC is the area
  under that weighted ROC (tied risks: the diagonal). The mean AUC over `times` weights each
  AUC(t) by the drop of the Kaplan-Meier survival function at t (scikit-survival's integral).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radlens.errors import EvaluationError
from radlens.evaluation.bootstrap import BootstrapResult, patient_bootstrap

TIED_TOL = 1e-8
_BLOCK = 2048


def _survival_arrays(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = np.asarray(time, dtype=np.float64).ravel()
    e = np.asarray(event).ravel()
    if e.dtype != bool:
        if not np.isin(e, (0, 1)).all():
            raise EvaluationError("event must be 0/1 or boolean (1: event, 0: censored)")
        e = e.astype(bool)
    if len(t) != len(e) or (risk is not None and len(np.ravel(risk)) != len(t)):
        raise EvaluationError(
            f"time ({len(t)}), event ({len(e)}) and risk must have one value per subject"
        )
    if len(t) == 0 or not np.isfinite(t).all() or (t < 0).any():
        raise EvaluationError("times must be finite, non-negative, and at least one is needed")
    r = None if risk is None else np.asarray(risk, dtype=np.float64).ravel()
    if r is not None and not np.isfinite(r).all():
        raise EvaluationError("risk scores must be finite")
    return t, e, r


def concordance_index(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, *, tied_tol: float = TIED_TOL
) -> float:
    """Harrell's C (module definition); NaN when no pair is comparable."""
    t, e, r = _survival_arrays(time, event, risk)
    concordant = tied = comparable = 0.0
    for start in range(0, len(t), _BLOCK):
        rows = slice(start, start + _BLOCK)
        ti, ei, ri = t[rows, None], e[rows, None], r[rows, None]
        comp = ei & ((ti < t[None]) | ((ti == t[None]) & ~e[None]))
        ties = comp & (np.abs(ri - r[None]) <= tied_tol)
        concordant += float((comp & ~ties & (ri > r[None])).sum())
        tied += float(ties.sum())
        comparable += float(comp.sum())
    return (concordant + 0.5 * tied) / comparable if comparable > 0 else float("nan")


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, *, reverse: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(unique times, survival just after each) of the Kaplan-Meier estimator; `reverse`: of the
    censoring distribution (censorings leave the risk set after the events at their time)."""
    t, e, _ = _survival_arrays(time, event)
    uniq, inverse = np.unique(t, return_inverse=True)
    n_events = np.bincount(inverse, weights=e.astype(float), minlength=len(uniq))
    n_total = np.bincount(inverse, minlength=len(uniq)).astype(float)
    at_risk = n_total[::-1].cumsum()[::-1]
    if reverse:
        at_risk, n_events = at_risk - n_events, n_total - n_events
    ratio = np.divide(n_events, at_risk, out=np.zeros(len(uniq)), where=n_events != 0)
    return uniq, np.cumprod(1.0 - ratio)


def _step(uniq: np.ndarray, prob: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Right-continuous step function (value 1 before the first time) evaluated at `at`."""
    idx = np.searchsorted(uniq, at, side="right") - 1
    return np.where(idx >= 0, prob[np.maximum(idx, 0)], 1.0)


def _ipcw(train_t, train_e, t, e) -> np.ndarray:
    if train_e.all():
        return e.astype(float)
    uniq, g = kaplan_meier(train_t, train_e, reverse=True)
    if g[-1] > 0 and (t[e] > uniq[-1]).any():
        raise EvaluationError(
            f"event times beyond the censoring data's last time {uniq[-1]} have no censoring "
            "weight; give training survival data that covers the test follow-up"
        )
    g_at = np.where(t > uniq[-1], 0.0, _step(uniq, g, t))
    if (g_at[e] == 0).any():
        raise EvaluationError("the censoring survival function is zero at an event time")
    return np.where(e, 1.0 / np.where(e, g_at, 1.0), 0.0)


def _auc_at(r: np.ndarray, case_w: np.ndarray, control: np.ndarray, tied_tol: float) -> float:
    order = np.argsort(-r, kind="stable")
    rs = r[order]
    tp = np.cumsum(case_w[order])
    fp = np.cumsum(control[order].astype(float))
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    last = np.ones(len(rs), dtype=bool)
    last[:-1] = np.abs(np.diff(rs)) > tied_tol  # keep the last of each run of tied risks
    x = np.r_[0.0, fp[last] / fp[-1]]
    y = np.r_[0.0, tp[last] / tp[-1]]
    return float(np.trapezoid(y, x))


def cumulative_dynamic_auc(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    times: Sequence[float],
    *,
    train_time: np.ndarray | None = None,
    train_event: np.ndarray | None = None,
    tied_tol: float = TIED_TOL,
) -> tuple[np.ndarray, float]:
    """(AUC at each of `times`, mean AUC) with IPCW from the training data (default: the same).

    `times` must lie within the test follow-up, [min time, max time).
    """
    t, e, r = _survival_arrays(time, event, risk)
    tt, te, _ = (t, e, None) if train_time is None else _survival_arrays(train_time, train_event)
    at = np.asarray(times, dtype=np.float64).ravel()
    if len(at) == 0 or at.min() < t.min() or at.max() >= t.max():
        raise EvaluationError(
            f"times {at.tolist()} must lie within the follow-up [{t.min()}, {t.max()})"
        )
    w = _ipcw(tt, te, t, e)
    auc = np.array([_auc_at(r, np.where(e & (t <= s), w, 0.0), t > s, tied_tol) for s in at])
    if len(at) == 1:
        return auc, float(auc[0])
    uniq, surv = kaplan_meier(t, e)
    s_at = _step(uniq, surv, at)
    drop = -np.diff(np.r_[1.0, s_at])
    return auc, float((auc * drop).sum() / (1.0 - s_at[-1]))


def survival_bootstrap(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    *,
    patient_ids: np.ndarray,
    times: Sequence[float] = (),
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Patient-bootstrap CIs of [C-index, AUC at each of `times`, mean AUC (if times)].

    The censoring weights are re-estimated in each replicate; a replicate where a time lies
    outside its follow-up gives NaN there and is left out of that element's interval.
    """
    t, e, r = _survival_arrays(time, event, risk)
    k = len(times)

    def metric(tb: np.ndarray, eb: np.ndarray, rb: np.ndarray) -> np.ndarray:
        out = np.full(1 + k + (k > 0), np.nan)
        out[0] = concordance_index(tb, eb, rb)
        if k:
            try:
                auc, mean = cumulative_dynamic_auc(tb, eb, rb, times)
                out[1:] = np.r_[auc, mean]
            except EvaluationError:
                pass
        return out

    return patient_bootstrap(
        metric,
        t,
        e,
        r,
        patient_ids=patient_ids,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
    )
