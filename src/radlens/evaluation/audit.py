"""Leakage audit, run before any figure is computed.

Evaluation is refused (EvaluationError) when a patient of the evaluated split also appears in the
training data. Near-duplicate images between training and evaluated images (perceptual hashes
from `radlens.data.splits.image_hash`, compared with `find_near_duplicates`) are reported, and
refused too when `refuse_duplicates` is set. Messages give counts, never patient ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radlens.data import check_no_patient_leakage, find_near_duplicates, image_hash, image_hashes
from radlens.errors import DataError, EvaluationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeakageReport:
    """What the audit checked and found (counts; pairs are image indices, not patient ids)."""

    split: str
    n_eval_patients: int
    n_train_patients: int
    patient_overlap: int
    n_images_hashed: int = 0
    near_duplicates: list[tuple[int, int, int]] = field(default_factory=list)
    max_distance: int | None = None
    checked: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "n_eval_patients": self.n_eval_patients,
            "n_train_patients": self.n_train_patients,
            "patient_overlap": self.patient_overlap,
            "n_images_hashed": self.n_images_hashed,
            "n_near_duplicates": len(self.near_duplicates),
            "near_duplicate_pairs": [
                {"train_index": a, "eval_index": b, "distance": d}
                for a, b, d in self.near_duplicates[:20]
            ],
            "max_distance": self.max_distance,
            "checked": list(self.checked),
        }


def check_patient_overlap(
    eval_patients: Iterable[str], train_patients: Iterable[str], *, split: str = "test"
) -> int:
    """Raise EvaluationError when any evaluated patient is in the training data; else 0.

    Uses `radlens.data.splits.check_no_patient_leakage` (messages count patients and show at most
    short SHA-256 prefixes, never ids).
    """
    ev = sorted({str(p) for p in eval_patients})
    tr = sorted({str(p) for p in train_patients})
    try:
        check_no_patient_leakage([split] * len(ev) + ["train"] * len(tr), ev + tr)
    except DataError as exc:
        raise EvaluationError(
            f"leakage: {exc}; refusing to evaluate {split}. Re-split by patient"
            " (radlens.data.splits.assign_splits) and retrain."
        ) from exc
    return 0


def find_image_duplicates(
    train_images: Sequence[np.ndarray] | np.ndarray,
    eval_images: Sequence[np.ndarray] | np.ndarray,
    *,
    max_distance: int | None = None,
) -> list[tuple[int, int, int]]:
    """(train index, eval index, Hamming distance) of near-duplicate images by difference hash.

    `max_distance` None uses the cohort module's default (10% of the hash bits).
    """

    def hashes(images) -> list[str]:
        if isinstance(images, np.ndarray):
            return image_hashes(images)
        return [image_hash(np.asarray(img)) for img in images]

    try:
        pairs = find_near_duplicates(hashes(train_images), hashes(eval_images), max_distance)
    except DataError as exc:
        raise EvaluationError(f"near-duplicate audit failed: {exc}") from exc
    return [(int(p[0]), int(p[1]), int(p[2])) for p in pairs]


def audit_leakage(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    train_patient_ids: Iterable[str] | None = None,
    train_images: Sequence[np.ndarray] | np.ndarray | None = None,
    eval_images: Sequence[np.ndarray] | np.ndarray | None = None,
    max_distance: int | None = None,
    refuse_duplicates: bool = False,
) -> LeakageReport:
    """Audit one split of a predictions table against the training data.

    Training patients are `train_patient_ids` plus the patients of any 'train' (and, when the
    evaluated split is 'test', 'val') rows of the table itself. Images, when given, are hashed.
    """
    splits = frame["split"].astype(str)
    ev = set(frame.loc[splits == split, "patient_id"].astype(str))
    if not ev:
        raise EvaluationError(f"leakage audit: split {split!r} has no rows")
    others = ("train", "val") if split == "test" else ("train",)
    tr = set(frame.loc[splits.isin(others) & (splits != split), "patient_id"].astype(str))
    checked = [f"patient ids vs {'/'.join(o for o in others if o != split)} rows of the table"]
    if train_patient_ids is not None:
        tr |= {str(p) for p in train_patient_ids}
        checked.append("patient ids vs the given training patients")
    check_patient_overlap(ev, tr, split=split)
    pairs: list[tuple[int, int, int]] = []
    n_hashed = 0
    if train_images is not None and eval_images is not None:
        pairs = find_image_duplicates(train_images, eval_images, max_distance=max_distance)
        n_hashed = len(train_images) + len(eval_images)
        limit = "10% of bits" if max_distance is None else max_distance
        checked.append(f"image difference hashes (max Hamming distance {limit})")
        if pairs:
            log.warning("leakage audit: %d near-duplicate train/%s image pairs", len(pairs), split)
            if refuse_duplicates:
                raise EvaluationError(
                    f"leakage: {len(pairs)} {split} images are near-duplicates of training images"
                    f" (first pair train #{pairs[0][0]} /"
                    f" {split} #{pairs[0][1]}); refusing to evaluate"
                )
    return LeakageReport(
        split=split,
        n_eval_patients=len(ev),
        n_train_patients=len(tr),
        patient_overlap=0,
        n_images_hashed=n_hashed,
        near_duplicates=pairs,
        max_distance=max_distance,
        checked=tuple(checked),
    )
