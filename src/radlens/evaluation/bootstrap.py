"""Patient-level bootstrap: resample patients with replacement, keeping all of their images.

Images of one patient are correlated, so resampling images would understate the uncertainty;
here each replicate draws as many patients as there are, with replacement, and evaluates any
metric on all images of the drawn patients. The interval is the percentile interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.progress import Progress

from radlens.data import normalise_patient_id
from radlens.errors import EvaluationError
from radlens.evaluation.frames import patient_keys

IdNormaliser = Callable[[object], str]


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate on all data, percentile interval and the replicates (B, ...) behind it."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_valid: np.ndarray  # replicates where the metric was defined (finite), per output element
    samples: np.ndarray
    confidence: float


class PatientResampler:
    """Draws image index arrays of patient-level bootstrap replicates; patients are the
    `normalise`d ids (default `normalise_patient_id`; None: ids as given, as str)."""

    def __init__(
        self,
        patient_ids: np.ndarray,
        seed: int = 0,
        *,
        normalise: IdNormaliser | None = normalise_patient_id,
    ) -> None:
        keys = patient_keys(patient_ids, normalise)
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        if len(uniques) == 0:
            raise EvaluationError("bootstrap needs at least one patient; got no rows")
        self.n_patients = len(uniques)
        self._order = np.argsort(codes, kind="stable")
        self._counts = np.bincount(codes, minlength=self.n_patients)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]])
        self._rng = np.random.default_rng(seed)

    def draw(self) -> np.ndarray:
        """Image indices of one replicate (patients drawn with replacement)."""
        picked = self._rng.integers(0, self.n_patients, self.n_patients)
        lengths = self._counts[picked]
        ends = np.cumsum(lengths)
        offsets = np.repeat(self._starts[picked] - (ends - lengths), lengths)
        return self._order[offsets + np.arange(ends[-1])]


def patient_bootstrap(
    metric: Callable[..., np.ndarray | float],
    *arrays: np.ndarray,
    patient_ids: np.ndarray,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    normalise: IdNormaliser | None = normalise_patient_id,
) -> BootstrapResult:
    """Percentile CI of `metric(*arrays)` (scalar or array valued) by resampling patients.

    Every array is indexed along its first axis by the images of the drawn patients. Replicates
    where the metric is NaN (e.g. no positive drawn) are left out per output element. Patients
    are the `normalise`d ids (None: as given).
    """
    if n_bootstrap < 1:
        raise EvaluationError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise EvaluationError(f"confidence must lie in (0, 1), got {confidence}")
    n = len(patient_ids)
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise EvaluationError(
                f"bootstrap array {i} has {len(a)} rows but there are {n} patient ids"
            )
    estimate = np.asarray(metric(*arrays), dtype=np.float64)
    resampler = PatientResampler(patient_ids, seed, normalise=normalise)
    samples = np.empty((n_bootstrap, *estimate.shape))
    for b in range(n_bootstrap):
        idx = resampler.draw()
        samples[b] = metric(*(a[idx] for a in arrays))
    return _percentiles(estimate, samples, confidence)


class RankedLabels:
    """AUROC and AUPRC of weighted resamples without re-sorting (sort once, weight per replicate).

    A bootstrap replicate is the original cases with integer multiplicities, so every replicate
    shares the original ordering; counts become weighted cumulative sums in that order. Equal to
    recomputing AUROC (Mann-Whitney with half ties) and average precision on the resample.
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64).T
        s = np.asarray(scores, dtype=np.float64).T
        known = ~np.isnan(y)
        self.order = np.argsort(np.where(known, -s, np.inf), axis=1)
        ss = np.take_along_axis(np.where(known, -s, np.inf), self.order, axis=1)
        self.pos = np.take_along_axis(y == 1.0, self.order, axis=1)
        self.neg = np.take_along_axis(y == 0.0, self.order, axis=1)
        n_labels, n = s.shape
        ar = np.arange(n)
        first = np.ones((n_labels, n), dtype=bool)
        first[:, 1:] = ss[:, 1:] != ss[:, :-1]
        last = np.ones((n_labels, n), dtype=bool)
        last[:, :-1] = first[:, 1:]
        self.start = np.maximum.accumulate(np.where(first, ar, 0), axis=1)
        self.end = np.minimum.accumulate(np.where(last, ar, n)[:, ::-1], axis=1)[:, ::-1]

    def __call__(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(AUROC, AUPRC) per label for case weights (N,) (None: all 1)."""
        w = (
            np.ones(self.order.shape, dtype=np.float64)
            if weights is None
            else np.asarray(weights, dtype=np.float64)[self.order]
        )
        wp, wn = np.where(self.pos, w, 0.0), np.where(self.neg, w, 0.0)
        tp, fp = np.cumsum(wp, axis=1), np.cumsum(wn, axis=1)
        n_pos, n_neg = tp[:, -1], fp[:, -1]
        tp_end = np.take_along_axis(tp, self.end, axis=1)
        fp_end = np.take_along_axis(fp, self.end, axis=1)
        tp_before = np.take_along_axis(tp - wp, self.start, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            # each negative: positives ranked above it plus half of those tied with it
            auc = (wn * (tp_before + 0.5 * (tp_end - tp_before))).sum(axis=1) / (n_pos * n_neg)
            precision = tp_end / np.maximum(tp_end + fp_end, 1e-300)
            ap = (wp * precision).sum(axis=1) / n_pos
        auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
        return auc, np.where(n_pos > 0, ap, np.nan)


def bootstrap_auc_ap(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    patient_ids: np.ndarray,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    normalise: IdNormaliser | None = normalise_patient_id,
    micro: bool = False,
) -> BootstrapResult:
    """Patient bootstrap of [AUPRC per label, AUROC per label, macro AUROC, macro AUPRC] and,
    with `micro`, [micro AUROC, micro AUPRC] after them (all known case x label pairs pooled,
    each case weighted by its patient's draws, so a patient's labels move together).

    Same replicates as `patient_bootstrap` with the same seed, computed by `RankedLabels`.
    """
    y = np.asarray(y, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    ranked = RankedLabels(y, scores)
    known = ~np.isnan(y)
    pair_case = np.nonzero(known)[0]  # case of each pooled (case, label) pair
    pooled = RankedLabels(y[known][:, None], scores[known][:, None]) if micro else None
    resampler = PatientResampler(patient_ids, seed, normalise=normalise)
    n = len(patient_ids)

    def pack(weights: np.ndarray | None) -> np.ndarray:
        auc, ap = ranked(weights)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            macro = [np.nanmean(auc), np.nanmean(ap)]
        parts = [ap, auc, macro]
        if pooled is not None:
            m_auc, m_ap = pooled(None if weights is None else weights[pair_case])
            parts.append([m_auc[0], m_ap[0]])
        return np.concatenate(parts)

    estimate = pack(None)
    samples = np.empty((n_bootstrap, len(estimate)))
    with Progress(transient=True, disable=n_bootstrap < 200) as progress:
        task = progress.add_task("patient bootstrap", total=n_bootstrap)
        for b in range(n_bootstrap):
            weights = np.bincount(resampler.draw(), minlength=n)
            samples[b] = pack(weights)
            progress.advance(task)
    return _percentiles(estimate, samples, confidence)


def _percentiles(estimate: np.ndarray, samples: np.ndarray, confidence: float) -> BootstrapResult:
    alpha = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(samples, alpha, axis=0)
        high = np.nanquantile(samples, 1.0 - alpha, axis=0)
    return BootstrapResult(
        estimate=estimate,
        low=np.asarray(low),
        high=np.asarray(high),
        n_valid=np.isfinite(samples).sum(axis=0),
        samples=samples,
        confidence=confidence,
    )
