"""Patient-level bootstrap: resample patients with replacement, keeping all of their images.

Images of one patient are correlated, so resampling images would understate the uncertainty;
here each replicate draws as many patients as there are, with replacement, and evaluates any
metric on all images of the drawn patients. The interval is the percentile interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radlens.errors import EvaluationError


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
    """Draws image index arrays of patient-level bootstrap replicates."""

    def __init__(self, patient_ids: np.ndarray, seed: int = 0) -> None:
        codes, uniques = pd.factorize(pd.Series(np.asarray(patient_ids).astype(str)))
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
) -> BootstrapResult:
    """Percentile CI of `metric(*arrays)` (scalar or array valued) by resampling patients.

    Every array is indexed along its first axis by the images of the drawn patients. Replicates
    where the metric is NaN (e.g. no positive drawn) are left out per output element.
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
    resampler = PatientResampler(patient_ids, seed)
    samples = np.empty((n_bootstrap, *estimate.shape))
    for b in range(n_bootstrap):
        idx = resampler.draw()
        samples[b] = metric(*(a[idx] for a in arrays))
    alpha = (1.0 - confidence) / 2.0
    n_valid = np.isfinite(samples).sum(axis=0)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanquantile(samples, alpha, axis=0)
            high = np.nanquantile(samples, 1.0 - alpha, axis=0)
    return BootstrapResult(
        estimate=estimate,
        low=np.asarray(low),
        high=np.asarray(high),
        n_valid=n_valid,
        samples=samples,
        confidence=confidence,
    )
