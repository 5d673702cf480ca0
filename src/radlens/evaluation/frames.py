"""Check a predictions table (RUN/predictions.parquet, read by `radlens.core.read_predictions`).

One row per image per split: `id`, `patient_id`, `split`, `site`; single-label tasks carry `target`
(class index) and `score:<class>` per class, multi-label tasks `target:<label>` (1/0/NaN) and
`score:<label>`. The parquet schema metadata key b"radlens" holds {"task", "label_names", ...}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radlens.core import suggest
from radlens.data import normalise_patient_id
from radlens.errors import DataError, EvaluationError

REQUIRED_COLUMNS = ("id", "patient_id", "split")
SINGLE_LABEL_TASKS = ("binary", "multi-class", "ordinal-regression")
TASKS = (*SINGLE_LABEL_TASKS, "multi-label")


@dataclass(frozen=True)
class PredictionSet:
    """Arrays of one split, ready for metrics.

    y (N, L) 1/0/NaN and scores (N, L) are one-vs-rest per evaluated label; for binary tasks the
    single evaluated label is the positive class (class index 1). Single-label tasks also keep the
    class index `target` (N,) and the full probability matrix `probs` (N, C).
    """

    split: str
    task: str
    label_names: tuple[str, ...]
    class_names: tuple[str, ...]
    ids: np.ndarray
    patient_ids: np.ndarray
    sites: np.ndarray
    y: np.ndarray
    scores: np.ndarray
    target: np.ndarray | None
    probs: np.ndarray | None

    @property
    def n_images(self) -> int:
        return len(self.ids)

    @property
    def n_patients(self) -> int:
        return len(np.unique(self.patient_ids))

    def subset(self, mask: np.ndarray) -> PredictionSet:
        """The rows selected by a boolean mask or an index array (e.g. one site, a bootstrap)."""
        return PredictionSet(
            split=self.split,
            task=self.task,
            label_names=self.label_names,
            class_names=self.class_names,
            ids=self.ids[mask],
            patient_ids=self.patient_ids[mask],
            sites=self.sites[mask],
            y=self.y[mask],
            scores=self.scores[mask],
            target=None if self.target is None else self.target[mask],
            probs=None if self.probs is None else self.probs[mask],
        )


def _meta(frame: pd.DataFrame) -> dict:
    meta = frame.attrs.get("radlens", {})
    return meta if isinstance(meta, dict) else {}


def infer_task(frame: pd.DataFrame) -> tuple[str, tuple[str, ...]]:
    """The task and the class/label names, from metadata or else from the column names."""
    meta = _meta(frame)
    score_names = tuple(c.split(":", 1)[1] for c in frame.columns if c.startswith("score:"))
    if not score_names:
        raise EvaluationError(
            f"predictions table has no 'score:<name>' columns (columns: {list(frame.columns)[:12]})"
        )
    task = meta.get("task")
    if task is None:
        if "target" in frame.columns:
            task = "binary" if len(score_names) == 2 else "multi-class"
        else:
            task = "multi-label"
    if task not in TASKS:
        raise EvaluationError(
            f"predictions table: unknown task {task!r}, expected one of {TASKS}"
            f"{suggest(task, TASKS)}"
        )
    names = tuple(meta.get("label_names") or score_names)
    missing = [n for n in names if f"score:{n}" not in frame.columns]
    if missing:
        raise EvaluationError(
            f"predictions table lacks score columns for {missing[:5]} (metadata label_names)"
        )
    return task, names


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Attach a separate label table (`id` + target column(s)) to predictions by image id.

    Raises EvaluationError with counts and examples when the two id sets differ.
    """
    for name, frame in (("predictions", predictions), ("labels", labels)):
        if "id" not in frame.columns:
            raise EvaluationError(f"{name} table has no 'id' column")
        dup = frame["id"].duplicated()
        if dup.any():
            raise EvaluationError(
                f"{name} table repeats {int(dup.sum())} image ids"
                f" (e.g. {frame['id'][dup].astype(str).head(3).tolist()})"
            )
    pred_ids, label_ids = set(predictions["id"].astype(str)), set(labels["id"].astype(str))
    only_pred, only_label = sorted(pred_ids - label_ids), sorted(label_ids - pred_ids)
    if only_pred or only_label:
        raise EvaluationError(
            f"ids differ between predictions ({len(pred_ids)}) and labels ({len(label_ids)}):"
            f" {len(only_pred)} only in predictions (e.g. {only_pred[:3]}),"
            f" {len(only_label)} only in labels (e.g. {only_label[:3]})"
        )
    target_cols = [c for c in labels.columns if c == "target" or c.startswith("target:")]
    if not target_cols:
        raise EvaluationError("labels table has no 'target' or 'target:<label>' columns")
    left = predictions.drop(columns=[c for c in target_cols if c in predictions.columns])
    right = labels[["id", *target_cols]].assign(id=labels["id"].astype(str))
    merged = left.assign(id=left["id"].astype(str)).merge(right, on="id", how="left")
    merged.attrs = dict(predictions.attrs)
    return merged


def patient_keys(
    values: pd.Series | np.ndarray | list,
    normalise: Callable[[object], str] | None = normalise_patient_id,
    *,
    what: str = "patient_id",
) -> np.ndarray:
    """Patient ids as compared and counted: `normalise` of each (each distinct value once; None
    keeps str(id)); a missing or empty id is an EvaluationError naming `what`."""
    series = pd.Series(values, dtype=object)
    if normalise is None:
        return series.astype(str).to_numpy()
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    try:
        done = np.array([normalise(u) for u in uniques], dtype=object)
    except DataError as exc:
        raise EvaluationError(f"{what}: {exc}") from exc
    return done[codes] if len(codes) else done


def _split_rows(frame: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of `split`; EvaluationError for missing columns or an empty split."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise EvaluationError(
            f"predictions table lacks columns {missing}; expected {list(REQUIRED_COLUMNS)}"
        )
    rows = frame[frame["split"].astype(str) == split]
    if rows.empty:
        present = sorted(frame["split"].astype(str).unique().tolist())
        raise EvaluationError(
            f"split {split!r} has no rows in the predictions table (splits present: {present})"
        )
    return rows


def prediction_set(
    frame: pd.DataFrame,
    split: str = "test",
    *,
    normalise: Callable[[object], str] | None = normalise_patient_id,
) -> PredictionSet:
    """Check one split of a predictions table and turn it into arrays.

    Patient ids are normalised by `normalise` (default `radlens.data.normalise_patient_id`:
    whitespace, case, leading zeros), so counts and the patient bootstrap see one patient per
    normalised id.

    Raises EvaluationError for missing columns, an empty split (naming the splits present),
    duplicate ids, NaN scores (naming the label and count) and targets out of range.
    """
    rows = _split_rows(frame, split)
    task, names = infer_task(frame)
    dup = rows["id"].astype(str).duplicated()
    if dup.any():
        raise EvaluationError(f"split {split!r} repeats {int(dup.sum())} image ids")
    scores_all = rows[[f"score:{n}" for n in names]].to_numpy(dtype=np.float64)
    nan_counts = np.isnan(scores_all).sum(axis=0)
    if nan_counts.any():
        bad = {n: int(c) for n, c in zip(names, nan_counts, strict=True) if c}
        first = next(iter(bad))
        raise EvaluationError(
            f"split {split!r}: NaN scores in score:{first} ({bad[first]} of {len(rows)} rows);"
            f" NaN counts per label: {bad}"
        )
    sites = rows["site"].fillna("").astype(str).to_numpy() if "site" in rows else None
    common = dict(
        split=split,
        task=task,
        class_names=names,
        ids=rows["id"].astype(str).to_numpy(),
        patient_ids=patient_keys(rows["patient_id"], normalise, what=f"patient_id of {split}"),
        sites=sites if sites is not None else np.full(len(rows), "", dtype=object),
    )
    if task == "multi-label":
        cols = [f"target:{n}" for n in names]
        absent = [c for c in cols if c not in rows.columns]
        if absent:
            raise EvaluationError(f"multi-label predictions lack target columns {absent[:5]}")
        y = rows[cols].to_numpy(dtype=np.float64)
        bad = ~np.isnan(y) & ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise EvaluationError(
                f"split {split!r}: {int(bad.sum())} target values are not 1, 0 or NaN"
            )
        return PredictionSet(
            label_names=names, y=y, scores=scores_all, target=None, probs=None, **common
        )
    if "target" not in rows.columns:
        raise EvaluationError(f"{task} predictions lack the 'target' (class index) column")
    target = rows["target"].to_numpy(dtype=np.float64)
    n_classes = len(names)
    bad = np.isnan(target) | (target < 0) | (target >= n_classes) | (target != np.round(target))
    if bad.any():
        raise EvaluationError(
            f"split {split!r}: {int(bad.sum())} targets are not class indices 0..{n_classes - 1}"
            f" (e.g. {target[bad][:3].tolist()})"
        )
    target = target.astype(np.int64)
    onehot = (target[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
    if task == "binary" and n_classes == 2:
        return PredictionSet(
            label_names=(names[1],),
            y=onehot[:, 1:],
            scores=scores_all[:, 1:],
            target=target,
            probs=scores_all,
            **common,
        )
    return PredictionSet(
        label_names=names, y=onehot, scores=scores_all, target=target, probs=scores_all, **common
    )
