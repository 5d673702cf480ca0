"""Leakage audit, run before any figure is computed.

Evaluation is refused (EvaluationError) when a patient of the evaluated split also appears in the
training data (train rows of the table and the given training ids) or, for test, in the
validation split; each clash is named by its pair (test/train, test/val). Patient ids are compared
after `radlens.data.normalise_patient_id` (whitespace, case, leading zeros; configurable), and ids
that differ only by that normalisation are listed as near-matches. The report states how many
patients of each split were compared, or that training ids were not available. Near-duplicate
images between training and evaluated images (perceptual hashes from
`radlens.data.splits.image_hash`, compared with `find_near_duplicates`) are reported, and refused
too when `refuse_duplicates` is set. Error messages give counts, never patient ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radlens.data import (
    find_near_duplicates,
    image_hash,
    image_hashes,
    normalise_patient_id,
    short_hash,
)
from radlens.errors import DataError, EvaluationError

log = logging.getLogger(__name__)

#: what the audit says when no training ids were given and the table has no train rows
TRAIN_NOT_CHECKED = "training ids not available: not checked"
#: at most this many near-match groups are kept in the audit
MAX_NEAR_MATCHES = 20


@dataclass(frozen=True)
class LeakageReport:
    """What the audit checked and found. `n_train_patients` / `n_val_patients` are None when
    that split was not compared; pairs are image indices; `near_matches` lists groups of ids that
    are one patient after full normalisation but are written differently."""

    split: str
    n_eval_patients: int
    n_train_patients: int | None
    patient_overlap: int
    n_val_patients: int | None = None
    n_images_hashed: int = 0
    near_duplicates: list[tuple[int, int, int]] = field(default_factory=list)
    max_distance: int | None = None
    checked: tuple[str, ...] = ()
    near_matches: list[dict] = field(default_factory=list)
    n_near_matches: int = 0

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "n_eval_patients": self.n_eval_patients,
            "n_train_patients": self.n_train_patients,
            "n_val_patients": self.n_val_patients,
            "train_checked": self.n_train_patients is not None,
            "patient_overlap": self.patient_overlap,
            "n_near_matches": self.n_near_matches,
            "near_matches": self.near_matches,
            "n_images_hashed": self.n_images_hashed,
            "n_near_duplicates": len(self.near_duplicates),
            "near_duplicate_pairs": [
                {"train_index": a, "eval_index": b, "distance": d}
                for a, b, d in self.near_duplicates[:20]
            ],
            "max_distance": self.max_distance,
            "checked": list(self.checked),
        }


IdNormaliser = Callable[[object], str]


def _normalised(values: Iterable[object], normalise: IdNormaliser, what: str) -> dict[str, str]:
    """str(raw id) -> normalised id; a missing/empty id is an EvaluationError naming `what`."""
    out: dict[str, str] = {}
    try:
        for v in values:
            out[str(v)] = normalise(v)
    except DataError as exc:
        raise EvaluationError(f"leakage audit: patient_id of {what}: {exc}") from exc
    return out


def check_split_overlap(
    eval_patients: Iterable[object],
    others: dict[str, Iterable[object]],
    *,
    split: str = "test",
    normalise: IdNormaliser = normalise_patient_id,
) -> dict[str, int]:
    """Patients per split ({split: n, "train": n, ...}, normalised); EvaluationError when any
    evaluated patient is in one of `others` ({"train": ids, "val": ids}), counting clashes per
    pair (test/train, test/val) and showing at most five SHA-256 prefixes, never ids."""
    ev_map = _normalised(eval_patients, normalise, f"{split} rows")
    ev = set(ev_map.values())
    maps = {name: _normalised(ids, normalise, f"{name} patients") for name, ids in others.items()}
    clashes = {name: ev & set(m.values()) for name, m in maps.items()}
    leaked = set().union(*clashes.values())
    if leaked:
        detail = ", ".join(f"{split}/{n}: {len(c)}" for n, c in clashes.items() if c)
        examples = ", ".join(sorted(short_hash(p) for p in leaked)[:5])
        raw_others = {r for m in maps.values() for r in m}
        exact = {n for r, n in ev_map.items() if r in raw_others}
        inexact = len(leaked - exact)
        note = (
            f"; {inexact} of them match only after normalising ids (case, whitespace,"
            " leading zeros)"
            if inexact
            else ""
        )
        raise EvaluationError(
            f"leakage: {split}: {len(leaked)} of {len(ev)} patients also appear in"
            f" {'/'.join(n for n, c in clashes.items() if c)} ({detail}); first patients by"
            f" SHA-256 prefix: {examples}{note}; refusing to evaluate {split}. Re-split by"
            " patient (radlens.data.splits.assign_splits) and retrain."
        )
    return {split: len(ev), **{name: len(set(m.values())) for name, m in maps.items()}}


def check_patient_overlap(
    eval_patients: Iterable[str],
    train_patients: Iterable[str],
    *,
    split: str = "test",
    normalise: IdNormaliser = normalise_patient_id,
) -> int:
    """Raise EvaluationError when any evaluated patient is in the training data; else 0."""
    check_split_overlap(eval_patients, {"train": train_patients}, split=split, normalise=normalise)
    return 0


def near_matches(
    ids_by_split: dict[str, Iterable[object]], normalise: IdNormaliser = normalise_patient_id
) -> list[dict]:
    """Groups of ids written differently that are one patient after full normalisation
    (`normalise_patient_id`: whitespace, case, leading zeros): {"ids", "splits",
    "same_patient"} where same_patient says whether `normalise` (the audit's) merged them."""
    groups: dict[str, dict[str, set[str]]] = {}
    for name, ids in ids_by_split.items():
        for raw in dict.fromkeys(str(v) for v in ids):
            try:
                key = normalise_patient_id(raw)
            except DataError:
                continue
            groups.setdefault(key, {}).setdefault(raw, set()).add(name)
    out = []
    for key in sorted(groups):
        forms = groups[key]
        if len(forms) < 2:
            continue
        out.append(
            {
                "ids": sorted(forms)[:5],
                "splits": sorted(set().union(*forms.values())),
                "same_patient": len({normalise(r) for r in forms}) == 1,
            }
        )
    return out


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


def _compared_ids(
    frame: pd.DataFrame,
    split: str,
    train_patient_ids: Iterable[object] | None,
    val_patient_ids: Iterable[object] | None,
) -> tuple[dict[str, list], list[str]]:
    """The ids each split is compared with ({"train": [...], "val": [...]}: table rows plus the
    given ids; train absent when neither exists) and where they came from."""
    splits = frame["split"].astype(str)
    out: dict[str, list] = {}
    sources: list[str] = []
    names = ("train", "val") if split == "test" else ("train",)
    given = {"train": train_patient_ids, "val": val_patient_ids if split == "test" else None}
    for name in names:
        ids = frame.loc[splits == name, "patient_id"].tolist() if name != split else []
        if ids:
            sources.append(f"{name} rows of the table")
        if given[name] is not None:
            ids = [*ids, *given[name]]
            sources.append(f"the given {name} patients")
        if ids or given[name] is not None:
            out[name] = ids
    return out, sources


def _image_audit(
    split: str, train_images, eval_images, max_distance: int | None, refuse: bool
) -> tuple[list[tuple[int, int, int]], int, str | None]:
    """(near-duplicate pairs, images hashed, what was checked) when both image sets are given."""
    if train_images is None or eval_images is None:
        return [], 0, None
    pairs = find_image_duplicates(train_images, eval_images, max_distance=max_distance)
    limit = "10% of bits" if max_distance is None else max_distance
    if pairs:
        log.warning("leakage audit: %d near-duplicate train/%s image pairs", len(pairs), split)
        if refuse:
            raise EvaluationError(
                f"leakage: {len(pairs)} {split} images are near-duplicates of training images"
                f" (first pair train #{pairs[0][0]} /"
                f" {split} #{pairs[0][1]}); refusing to evaluate"
            )
    checked = f"image difference hashes (max Hamming distance {limit})"
    return pairs, len(train_images) + len(eval_images), checked


def audit_leakage(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    train_patient_ids: Iterable[object] | None = None,
    val_patient_ids: Iterable[object] | None = None,
    train_images: Sequence[np.ndarray] | np.ndarray | None = None,
    eval_images: Sequence[np.ndarray] | np.ndarray | None = None,
    max_distance: int | None = None,
    refuse_duplicates: bool = False,
    normalise: IdNormaliser = normalise_patient_id,
) -> LeakageReport:
    """Audit one split of a predictions table against the training (and validation) data.

    The split's patients are compared with the train rows of the table plus
    `train_patient_ids`, and, when the split is 'test', with the val rows plus
    `val_patient_ids`; ids are compared after `normalise`. With neither train rows nor training
    ids, training is reported as not checked. Images, when both are given, are hashed.
    """
    splits = frame["split"].astype(str)
    ev_raw = frame.loc[splits == split, "patient_id"].tolist()
    if not ev_raw:
        raise EvaluationError(f"leakage audit: split {split!r} has no rows")
    others, sources = _compared_ids(frame, split, train_patient_ids, val_patient_ids)
    counts = check_split_overlap(ev_raw, others, split=split, normalise=normalise)
    checked = [f"{counts[split]} {split} patients vs {counts[n]} {n} patients" for n in others]
    if sources:
        checked.append(f"compared ids from {', '.join(sources)}")
    if "train" not in others:
        checked.append(TRAIN_NOT_CHECKED)
    matches = near_matches({split: ev_raw, **others}, normalise)
    pairs, n_hashed, images = _image_audit(
        split, train_images, eval_images, max_distance, refuse_duplicates
    )
    if images:
        checked.append(images)
    return LeakageReport(
        split=split,
        n_eval_patients=counts[split],
        n_train_patients=counts["train"] if "train" in others else None,
        n_val_patients=counts["val"] if "val" in others else None,
        patient_overlap=0,
        n_images_hashed=n_hashed,
        near_duplicates=pairs,
        max_distance=max_distance,
        checked=tuple(checked),
        near_matches=matches[:MAX_NEAR_MATCHES],
        n_near_matches=len(matches),
    )
