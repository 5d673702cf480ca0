"""Leakage audit, run before any figure is computed.

Evaluation is refused (EvaluationError) when a patient of the evaluated split also appears in the
training data (train rows of the table and the given training ids) or, for test, in the
validation split; each clash is named by its pair (test/train, test/val). Patient ids are compared
after `radlens.data.normalise_patient_id` (whitespace, case, leading zeros; configurable), and ids
that differ only by that normalisation are listed as near-matches. The report states how many
patients of each split were compared, or that training ids were not available. Near-duplicate
images or volumes between every pair of the given image sets (train/val, train/test, val/test;
`radlens.data.find_split_duplicates`: rank-normalised grids matched over shifts and the
left-right flip; 3D by a soft rank floored at air/lung level) are listed with both split names,
with the sizes of each split pair compared and its pair count, and refused too when
`refuse_duplicates` is set; their descriptors can be cached by content digest
(`duplicate_cache`, e.g. RUN/`DUPLICATE_CACHE`). Error messages give counts, never patient ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radlens.data import (
    DuplicatePair,
    find_split_duplicates,
    normalise_patient_id,
    short_hash,
)
from radlens.errors import DataError, EvaluationError

log = logging.getLogger(__name__)

#: what the audit says when no training ids were given and the table has no train rows
TRAIN_NOT_CHECKED = "training ids not available: not checked"
#: at most this many near-match groups are kept in the audit
MAX_NEAR_MATCHES = 20
#: at most this many near-duplicate image pairs are listed in the audit's dict
MAX_DUPLICATE_PAIRS = 50
#: file name of the near-duplicate descriptor cache in a run directory (`duplicate_cache`)
DUPLICATE_CACHE = "duplicate_descriptors.npz"


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
    near_duplicates: list[DuplicatePair] = field(default_factory=list)
    duplicate_threshold: float | None = None
    checked: tuple[str, ...] = ()
    near_matches: list[dict] = field(default_factory=list)
    n_near_matches: int = 0
    duplicate_comparisons: list[dict] = field(default_factory=list)
    duplicate_kind: str = "images"

    def to_dict(self) -> dict:
        train_eval = [
            p for p in self.near_duplicates if (p.split_a, p.split_b) == ("train", self.split)
        ]
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
            # train/evaluated pairs in the keys report.html.j2 reads; every pair below
            "n_near_duplicates": len(train_eval),
            "near_duplicate_pairs": [
                {"train_index": p.index_a, "eval_index": p.index_b, "distance": p.similarity}
                for p in train_eval[:20]
            ],
            "n_duplicate_pairs": len(self.near_duplicates),
            "duplicate_pairs": [p.to_dict() for p in self.near_duplicates[:MAX_DUPLICATE_PAIRS]],
            "duplicate_threshold": self.duplicate_threshold,
            "duplicate_kind": self.duplicate_kind,
            "duplicate_comparisons": self.duplicate_comparisons,
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
    images_by_split: dict[str, Sequence[np.ndarray] | np.ndarray],
    *,
    threshold: float | None = None,
    cache: str | Path | None = None,
) -> list[DuplicatePair]:
    """Near-duplicate images (2D) or volumes (3D) between every pair of the given splits, in
    the order given (train/val, train/test, val/test), each named by both splits; `cache`: the
    descriptor cache file (`radlens.data.find_split_duplicates`)."""
    try:
        return find_split_duplicates(images_by_split, threshold=threshold, cache=cache)
    except DataError as exc:
        raise EvaluationError(f"near-duplicate audit failed: {exc}") from exc


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


def _comparisons(given: dict[str, object], pairs: list[DuplicatePair]) -> list[dict]:
    """One row per split pair compared: its sizes and how many near-duplicate pairs it holds."""
    names = list(given)
    return [
        {
            "splits": f"{a}/{b}",
            f"n_{a}": len(given[a]),  # type: ignore[arg-type]
            f"n_{b}": len(given[b]),  # type: ignore[arg-type]
            "n_compared": len(given[a]) * len(given[b]),  # type: ignore[arg-type]
            "n_pairs": sum((p.split_a, p.split_b) == (a, b) for p in pairs),
        }
        for k, a in enumerate(names)
        for b in names[k + 1 :]
    ]


def _kind(given: dict[str, object]) -> str:
    """'volumes' when the items are 3D (D, H, W), else 'images'."""
    first = next((v for v in given.values() if len(v)), None)  # type: ignore[arg-type]
    return "volumes" if first is not None and np.ndim(first[0]) == 3 else "images"


def _image_audit(
    split: str,
    images: dict[str, object],
    options: tuple[float | None, bool, str | Path | None],
) -> tuple[list[DuplicatePair], int, str | None, list[dict], str]:
    """(near-duplicate pairs, items compared, what was checked, per split pair counts, 'images'
    or 'volumes') when two image sets are given; `options`: (threshold, refuse, cache)."""
    threshold, refuse, cache = options
    given = {name: imgs for name, imgs in images.items() if imgs is not None}
    if len(given) < 2:
        return [], 0, None, [], "images"
    kind = _kind(given)
    pairs = find_image_duplicates(given, threshold=threshold, cache=cache)
    if pairs:
        log.warning("leakage audit: %d near-duplicate %s pairs", len(pairs), kind[:-1])
        if refuse:
            first = pairs[0]
            raise EvaluationError(
                f"leakage: {len(pairs)} near-duplicate {kind[:-1]} pairs between splits (first:"
                f" {first.split_a} #{first.index_a} / {first.split_b} #{first.index_b},"
                f" similarity {first.similarity:.3f}); refusing to evaluate {split}"
            )
    limit = "default" if threshold is None else threshold
    rows = _comparisons(given, pairs)
    compared = ", ".join(r["splits"] for r in rows)
    checked = (
        f"near-duplicate {kind} ({compared}; shift/flip/intensity-robust correlation,"
        f" threshold {limit})"
    )
    return pairs, sum(len(v) for v in given.values()), checked, rows, kind  # type: ignore[arg-type]


def audit_leakage(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    train_patient_ids: Iterable[object] | None = None,
    val_patient_ids: Iterable[object] | None = None,
    train_images: Sequence[np.ndarray] | np.ndarray | None = None,
    eval_images: Sequence[np.ndarray] | np.ndarray | None = None,
    val_images: Sequence[np.ndarray] | np.ndarray | None = None,
    duplicate_threshold: float | None = None,
    refuse_duplicates: bool = False,
    normalise: IdNormaliser = normalise_patient_id,
    duplicate_cache: str | Path | None = None,
) -> LeakageReport:
    """Audit one split of a predictions table against the training (and validation) data.

    The split's patients are compared with the train rows of the table plus
    `train_patient_ids`, and, when the split is 'test', with the val rows plus
    `val_patient_ids`; ids are compared after `normalise`. With neither train rows nor training
    ids, training is reported as not checked. Images (2D) or volumes (3D), when at least two of
    `train_images`, `val_images` (not used when `split` is 'val') and `eval_images` are given,
    are compared pairwise for near-duplicates (`duplicate_threshold` None: the documented
    default of `radlens.data.duplicates`; `duplicate_cache`: an .npz file that keeps the
    descriptors by content digest, e.g. RUN/duplicate_descriptors.npz, so a second audit of the
    same volumes describes nothing again).
    Pair indices are positions in the given image sets (the run's dataset splits), which may
    hold more items than `frame` has rows of that split (e.g. predictions of a subset).
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
    image_sets = {"train": train_images, "val": val_images if split != "val" else None}
    image_sets[split] = eval_images
    pairs, n_hashed, images, rows, kind = _image_audit(
        split, image_sets, (duplicate_threshold, refuse_duplicates, duplicate_cache)
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
        duplicate_threshold=duplicate_threshold,
        checked=tuple(checked),
        near_matches=matches[:MAX_NEAR_MATCHES],
        n_near_matches=len(matches),
        duplicate_comparisons=rows,
        duplicate_kind=kind,
    )
