"""Threshold-free and threshold metrics per label, vectorised over labels.

AUROC comes from `delong`; here: average precision (sklearn's definition), operating points
(fixed threshold, Youden's J, target sensitivity), sensitivity/specificity/PPV/NPV/F1 and
macro/micro summaries. Inputs are `y` (N, L) with 1/0/NaN (NaN = unknown, left out) and
`scores` (N, L); every result is an (L,) array with NaN where a figure is undefined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from radlens.core import suggest
from radlens.errors import ConfigError

OPERATING_POINTS = ("fixed", "youden", "sensitivity", "ppv", "budget")
ALIASES = {"sens": "sensitivity", "threshold": "fixed", "alerts": "budget", "precision": "ppv"}


@dataclass(frozen=True)
class OperatingPoint:
    """How thresholds are chosen: "fixed" (at `value`), "youden", "sensitivity" (>= value),
    "ppv" (lowest threshold with PPV >= value) or "budget" (at most a `value` fraction of cases
    flagged: a fixed alerts budget)."""

    method: str = "youden"
    value: float = 0.5

    def describe(self) -> str:
        if self.method == "fixed":
            return f"fixed threshold {self.value:g}"
        if self.method == "sensitivity":
            return f"target sensitivity {self.value:g}"
        if self.method == "ppv":
            return f"target PPV {self.value:g} (lowest threshold reaching it)"
        if self.method == "budget":
            return f"alerts budget: at most {self.value:.1%} of cases flagged per label"
        return "Youden's J (max sensitivity + specificity - 1)"


def parse_operating_point(spec: str | float | OperatingPoint) -> OperatingPoint:
    """Accept 0.5, "fixed:0.5", "youden", "sensitivity:0.95" (or "sens@0.95"), "ppv:0.5",
    "budget:0.1" (or "alerts:0.1": flag at most 10% of cases)."""
    if isinstance(spec, OperatingPoint):
        op = spec
    elif isinstance(spec, int | float):
        op = OperatingPoint("fixed", float(spec))
    else:
        text = str(spec).strip().lower()
        match = re.fullmatch(r"([a-z_]+)\s*(?:[:@=]\s*([0-9.eE+-]+))?", text)
        if not match:
            raise ConfigError(
                f"operating point {spec!r} is not understood; expected e.g. 'youden',"
                " 'fixed:0.5', 'sensitivity:0.95', 'ppv:0.5', 'budget:0.1'"
            )
        name, value = match.group(1), match.group(2)
        name = ALIASES.get(name, name)
        if name not in OPERATING_POINTS:
            raise ConfigError(
                f"operating point {spec!r}: unknown method {name!r},"
                f" expected one of {OPERATING_POINTS}{suggest(name, OPERATING_POINTS)}"
            )
        default = {"fixed": 0.5, "sensitivity": 0.95, "youden": 0.0, "ppv": 0.5, "budget": 0.1}
        default = default[name]
        op = OperatingPoint(name, float(value) if value is not None else default)
    if op.method in ("sensitivity", "ppv", "budget") and not 0.0 < op.value <= 1.0:
        raise ConfigError(
            f"operating point {op.method}: value {op.value} must lie in (0, 1]"
            f" (a {'fraction of cases' if op.method == 'budget' else 'target rate'})"
        )
    return op


def _sorted_desc(y: np.ndarray, scores: np.ndarray):
    """Per label (L, N) arrays sorted by descending score, unknown truth moved to the end."""
    yt, st = y.T, scores.T
    known = ~np.isnan(yt)
    key = np.where(known, -st, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ss = np.take_along_axis(np.where(known, st, -np.inf), order, axis=1)
    pos = np.take_along_axis(yt == 1.0, order, axis=1)
    neg = np.take_along_axis(yt == 0.0, order, axis=1)
    last = np.ones_like(pos)
    last[:, :-1] = ss[:, 1:] != ss[:, :-1]  # last case of each tie group (distinct threshold)
    return ss, np.cumsum(pos, axis=1), np.cumsum(neg, axis=1), last, pos.sum(1), neg.sum(1)


def average_precision(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision per label, equal to sklearn.metrics.average_precision_score.

    AP = sum over distinct thresholds of (recall step) * precision. NaN without positives.
    """
    y, scores = np.atleast_2d(y.T).T, np.atleast_2d(scores.T).T
    _, tp, fp, last, n_pos, _ = _sorted_desc(y, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(last, tp / np.maximum(tp + fp, 1), 0.0)
        # recall step at each distinct threshold = positives gained since the previous one
        steps = np.diff(np.maximum.accumulate(np.where(last, tp, 0), axis=1), axis=1, prepend=0)
        ap = (steps * precision).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


def choose_thresholds(y: np.ndarray, scores: np.ndarray, op: OperatingPoint) -> np.ndarray:
    """One threshold per label (predict positive when score >= threshold)."""
    n_labels = y.shape[1]
    if op.method == "fixed":
        return np.full(n_labels, op.value)
    ss, tp, fp, last, n_pos, n_neg = _sorted_desc(y, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = tp / n_pos[:, None]
        spec = 1.0 - fp / n_neg[:, None]
    valid = last & np.isfinite(ss)
    if op.method == "youden":
        j = np.where(valid, sens + spec - 1.0, -np.inf)
        best = np.argmax(j, axis=1)
    elif op.method == "sensitivity":  # highest threshold that reaches the target sensitivity
        reach = valid & (sens >= op.value - 1e-12)
        best = np.where(reach.any(axis=1), np.argmax(reach, axis=1), ss.shape[1] - 1)
    else:  # lowest threshold still meeting the PPV target / the alerts budget
        with np.errstate(invalid="ignore", divide="ignore"):
            if op.method == "ppv":
                meets = valid & (tp / np.maximum(tp + fp, 1) >= op.value - 1e-12)
            else:
                meets = valid & ((tp + fp) / (n_pos + n_neg)[:, None] <= op.value + 1e-12)
        last_meeting = ss.shape[1] - 1 - np.argmax(meets[:, ::-1], axis=1)
        best = np.where(meets.any(axis=1), last_meeting, 0)
        # none meets it: no threshold (ppv) or above every score (budget: nothing flagged)
        unmet = ~meets.any(axis=1)
        thr = ss[np.arange(n_labels), best]
        thr = np.where(unmet, np.nan if op.method == "ppv" else np.inf, thr)
        return np.where((n_pos == 0) | (n_neg == 0), np.nan, thr)
    thr = ss[np.arange(n_labels), best]
    undefined = (n_pos == 0) | (n_neg == 0 if op.method == "youden" else False)
    return np.where(undefined, np.nan, thr)


def confusion_counts(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> dict:
    """tp, fp, tn, fn per label (L,) at score >= threshold; unknown truth left out."""
    pred = scores >= thresholds[None, :]
    pos, neg = y == 1.0, y == 0.0
    return {
        "tp": (pred & pos).sum(axis=0),
        "fp": (pred & neg).sum(axis=0),
        "tn": (~pred & neg).sum(axis=0),
        "fn": (~pred & pos).sum(axis=0),
    }


def rates(counts: dict) -> dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV, NPV, F1 and accuracy from counts; NaN when 0/0."""
    tp, fp, tn, fn = (np.asarray(counts[k], dtype=np.float64) for k in ("tp", "fp", "tn", "fn"))

    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    return {
        "sensitivity": div(tp, tp + fn),
        "specificity": div(tn, tn + fp),
        "ppv": div(tp, tp + fp),
        "npv": div(tn, tn + fn),
        "f1": div(2 * tp, 2 * tp + fp + fn),
        "accuracy": div(tp + tn, tp + tn + fp + fn),
    }


def operating_metrics(
    y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Counts and rates per label at the given thresholds (an undefined threshold gives NaN)."""
    counts = confusion_counts(y, scores, np.nan_to_num(thresholds, nan=np.inf))
    out = {**counts, **rates(counts)}
    undefined = np.isnan(thresholds)
    for key in ("sensitivity", "specificity", "ppv", "npv", "f1", "accuracy"):
        out[key] = np.where(undefined, np.nan, out[key])
    return out


def micro_pool(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All known (case, label) pairs as one binary problem, shapes (M, 1): micro averaging."""
    known = ~np.isnan(y)
    return y[known][:, None], scores[known][:, None]


def macro(values: np.ndarray) -> float:
    """Mean over labels where the figure is defined (NaN if none is)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
