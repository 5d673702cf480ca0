"""``--label-fraction F``: train on the labels of a seeded, patient-level subset of the training
split (label-efficiency studies; validation and test stay whole).

`select_label_subset` keeps ``ceil(F x training patients)`` patients, all images of each kept
patient. It first covers every finding: rarest finding first (fewest positive patients; ties in
label order), a finding no kept patient is positive for gets one positive patient drawn at random;
then random patients fill the subset up to its size. A finding (multi-label) or class
(binary / multi-class / ordinal) without any positive training patient cannot be covered: a
DataError names it. When the cover needs more patients than the fraction gives (a very small
fraction), the subset is the cover and `LabelSubset.minimum_patients` says so. The selection
depends only on the set of (patient, labels) rows and the seed, not on row order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from radlens.data import ArrayDataset
from radlens.errors import ConfigError, DataError

__all__ = ["LabelSubset", "apply_label_fraction", "positive_matrix", "select_label_subset"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSubset:
    """The training rows kept and what they hold."""

    fraction: float
    seed: int
    rows: np.ndarray  # indices into the training split, ascending
    patients: int
    patients_total: int
    minimum_patients: int  # patients the cover of every finding needs
    positives: dict[str, int]  # positive images per finding in the subset
    positive_patients: dict[str, int]
    positives_total: dict[str, int]  # positive images per finding in the whole training split

    def summary(self) -> dict[str, Any]:
        """What metrics.json and the benchmarks record (no patient ids)."""
        return {
            "fraction": self.fraction, "seed": self.seed, "images": len(self.rows),
            "patients": self.patients, "patients_total": self.patients_total,
            "minimum_patients": self.minimum_patients,
            "actual_patient_fraction": round(self.patients / self.patients_total, 4),
            "positives": self.positives, "positive_patients": self.positive_patients,
            "positives_total": self.positives_total,
        }  # fmt: skip


def positive_matrix(labels: np.ndarray, label_names: Sequence[str], task: str) -> np.ndarray:
    """(N, K) bool: row i is a positive of finding k. Multi-label: the label is 1 (0 and NaN are
    not); single-label tasks ((N, 1) class index): one column per class, the row's class."""
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if task == "multi-label":
        if y.shape[1] != len(label_names):
            raise DataError(f"labels have {y.shape[1]} columns but {len(label_names)} label names")
        return y == 1
    return y[:, :1] == np.arange(len(label_names))[None, :]


def _check_fraction(fraction: float) -> float:
    value = float(fraction)
    if not math.isfinite(value) or not 0 < value <= 1:
        raise ConfigError(f"--label-fraction {fraction}: expected a number in (0, 1]")
    return value


def select_label_subset(
    labels: np.ndarray,
    patient_ids: Sequence[object],
    label_names: Sequence[str],
    *,
    fraction: float,
    seed: int,
    task: str = "multi-label",
) -> LabelSubset:
    """The seeded patient-level subset of the training rows (module doc)."""
    fraction = _check_fraction(fraction)
    names = [str(n) for n in label_names]
    pos = positive_matrix(labels, names, task)
    pids = np.asarray([str(p) for p in patient_ids])
    if len(pids) != len(pos):
        raise DataError(f"{len(pos)} label rows but {len(pids)} patient ids")
    patients, codes = np.unique(pids, return_inverse=True)
    per_patient = np.zeros((len(patients), len(names)), dtype=bool)
    np.logical_or.at(per_patient, codes, pos)
    counts = per_patient.sum(axis=0)
    missing = [n for n, c in zip(names, counts, strict=True) if c == 0]
    if missing:
        raise DataError(
            f"--label-fraction {fraction}: no training patient is positive for {missing}; every"
            " finding must keep a positive (drop those labels or add positive patients)"
        )
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x1AB])
    order = rng.permutation(len(patients))
    chosen: list[int] = []
    taken = np.zeros(len(patients), dtype=bool)
    for k in sorted(range(len(names)), key=lambda j: (counts[j], j)):
        if per_patient[taken, k].any():
            continue
        first = next(p for p in order if per_patient[p, k])
        chosen.append(int(first))
        taken[first] = True
    minimum = len(chosen)
    target = max(1, math.ceil(fraction * len(patients)))
    for p in order:
        if len(chosen) >= target:
            break
        if not taken[p]:
            chosen.append(int(p))
            taken[p] = True
    rows = np.flatnonzero(taken[codes])
    return LabelSubset(
        fraction=fraction, seed=int(seed), rows=rows, patients=len(chosen),
        patients_total=len(patients), minimum_patients=minimum,
        positives={n: int(c) for n, c in zip(names, pos[rows].sum(axis=0), strict=True)},
        positive_patients={n: int(c) for n, c in zip(names, per_patient[taken].sum(axis=0),
                                                     strict=True)},
        positives_total={n: int(c) for n, c in zip(names, pos.sum(axis=0), strict=True)},
    )  # fmt: skip


def apply_label_fraction(ds: ArrayDataset, fraction: float, seed: int) -> ArrayDataset:
    """`ds` with its training split cut to `select_label_subset` (fraction 1: `ds` itself);
    the subset's summary is ``extra["label_subset"]``. Per-split arrays in `extra` (e.g. sites)
    are cut alike."""
    if _check_fraction(fraction) >= 1.0:
        return ds
    subset = select_label_subset(
        ds.labels["train"], ds.patient_ids["train"], ds.label_names,
        fraction=fraction, seed=seed, task=ds.task,
    )  # fmt: skip
    n, rows = ds.size("train"), subset.rows

    def cut(table: dict) -> dict:
        return {**table, "train": np.asarray(table["train"])[rows]}

    extra = {
        k: cut(v) if isinstance(v, dict) and len(np.asarray(v.get("train", ()))) == n else v
        for k, v in ds.extra.items()
    }
    extra["label_subset"] = subset.summary()
    logger.info(
        "--label-fraction %s: %d of %d training patients (%d images; cover needs %d),"
        " positives per label %s",
        fraction, subset.patients, subset.patients_total, len(rows), subset.minimum_patients,
        subset.positives,
    )  # fmt: skip
    return replace(
        ds, images=cut(ds.images), labels=cut(ds.labels), ids=cut(ds.ids),
        patient_ids=cut(ds.patient_ids), extra=extra,
    )  # fmt: skip
