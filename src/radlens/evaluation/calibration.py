"""Calibration: reliability curves, expected calibration error, Brier score, temperature scaling.

Probabilities are treated one-vs-rest per label (columns of `y` (N, L) with 1/0/NaN). Temperature
scaling divides the logits by one scalar T fitted by minimising the negative log-likelihood on the
validation split only, then applied unchanged to the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from radlens.errors import EvaluationError

_EPS = 1e-7


@dataclass(frozen=True)
class ReliabilityCurve:
    """Equal-width bins of predicted probability: mean prediction, observed rate and count."""

    edges: np.ndarray
    mean_predicted: np.ndarray
    observed: np.ndarray
    count: np.ndarray

    def ece(self) -> float:
        total = self.count.sum()
        if total == 0:
            return float("nan")
        gap = np.abs(self.observed - self.mean_predicted)
        return float(np.nansum(self.count * gap) / total)


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> ReliabilityCurve:
    """Reliability bins of one label (y 1/0/NaN, p probabilities); empty bins hold NaN."""
    y, p = np.asarray(y, dtype=np.float64).ravel(), np.asarray(p, dtype=np.float64).ravel()
    known = ~np.isnan(y)
    y, p = y[known], p[known]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(which, weights=p, minlength=n_bins) / count
        observed = np.bincount(which, weights=y, minlength=n_bins) / count
    return ReliabilityCurve(edges, mean_pred, observed, count)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """ECE per label (L,): count-weighted mean |observed rate - mean prediction| over bins."""
    y, p = np.atleast_2d(np.asarray(y).T).T, np.atleast_2d(np.asarray(p).T).T
    return np.array([reliability_curve(y[:, j], p[:, j], n_bins).ece() for j in range(y.shape[1])])


def brier_score(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Brier score per label (L,): mean (p - y)^2 over cases with known truth."""
    y, p = np.atleast_2d(np.asarray(y, float).T).T, np.atleast_2d(np.asarray(p, float).T).T
    known = ~np.isnan(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known, (p - y) ** 2, 0.0).sum(axis=0) / known.sum(axis=0)


def probs_to_logits(p: np.ndarray, kind: str) -> np.ndarray:
    """Logits from stored probabilities: log-odds ("sigmoid") or log-probabilities ("softmax")."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) if kind == "softmax" else special.logit(p)


def apply_temperature(logits: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Probabilities after dividing logits by the temperature."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    return special.softmax(z, axis=1) if kind == "softmax" else special.expit(z)


def _nll(log_t: float, logits: np.ndarray, y: np.ndarray, kind: str) -> float:
    z = logits / np.exp(log_t)
    if kind == "softmax":
        return float(-np.mean(special.log_softmax(z, axis=1)[np.arange(len(y)), y.astype(int)]))
    known = ~np.isnan(y)
    ll = y * special.log_expit(z) + (1.0 - y) * special.log_expit(-z)
    return float(-ll[known].mean())


@dataclass(frozen=True)
class TemperatureScaling:
    """A fitted temperature and the validation NLL before and after."""

    temperature: float
    kind: str
    nll_before: float
    nll_after: float
    fitted_on: str

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return apply_temperature(probs_to_logits(probs, self.kind), self.temperature, self.kind)


def fit_temperature(
    probs: np.ndarray, y: np.ndarray, kind: str, *, fitted_on: str = "val"
) -> TemperatureScaling:
    """Fit T > 0 minimising NLL (scipy bounded scalar search over log T).

    kind "softmax": probs (N, C) and y (N,) class indices; kind "sigmoid": probs and y (N, L)
    with 1/0/NaN. Fit on validation predictions only.
    """
    if kind not in ("softmax", "sigmoid"):
        raise EvaluationError(f"temperature kind {kind!r} must be 'softmax' or 'sigmoid'")
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0 or (kind == "sigmoid" and np.isnan(y).all()):
        raise EvaluationError(f"cannot fit a temperature on {fitted_on!r}: no labelled cases")
    from scipy.optimize import minimize_scalar

    logits = probs_to_logits(probs, kind)
    res = minimize_scalar(
        _nll, bounds=(np.log(0.05), np.log(20.0)), args=(logits, y, kind), method="bounded"
    )
    return TemperatureScaling(
        temperature=float(np.exp(res.x)),
        kind=kind,
        nll_before=_nll(0.0, logits, y, kind),
        nll_after=float(res.fun),
        fitted_on=fitted_on,
    )
