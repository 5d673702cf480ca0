"""Task types: loss, output activation, prediction and metrics, computed the MedMNIST v2 way.

Four tasks, named as MedMNIST names them: "binary", "multi-class", "multi-label" and
"ordinal-regression". Headline AUC and ACC follow the official MedMNIST evaluator
(`medmnist.evaluator.getAUC` / `getACC`):

- binary: AUC of the positive-class score ``y_score[:, -1]``; ACC at ``score > 0.5``.
- multi-class and ordinal: mean over classes of the one-vs-rest AUC of each class's softmax score;
  ACC of the argmax.
- multi-label: mean over labels of the per-label AUC; ACC = mean over labels of the accuracy at
  ``score > 0.5``. Unknown labels (NaN) are left out of the loss and of every metric.

Ordinal regression also reports MAE and quadratic-weighted kappa, and can train with a
cumulative-link (CORAL-style) loss: K-1 logits for P(y > k), turned into K class probabilities.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, cohen_kappa_score, roc_auc_score

from radlens.data import TASK_TYPES
from radlens.errors import ConfigError, EvaluationError

logger = logging.getLogger(__name__)

OrdinalLoss = Literal["ce", "coral"]


def _auc_or_nan(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """sklearn ROC AUC; NaN when only one class is present (the official code would crash)."""
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


_WARNED: set[tuple[str, int, int]] = set()  # one warning per situation, not one per epoch


def _mean_defined(values: list[float], what: str) -> float:
    arr = np.asarray(values, dtype=float)
    if np.isnan(arr).all():
        return float("nan")
    situation = (what, int(np.isnan(arr).sum()), len(arr))
    if np.isnan(arr).any() and situation not in _WARNED:
        _WARNED.add(situation)
        logger.warning(
            "%s: %d of %d undefined (one class only); averaged the rest",
            what,
            int(np.isnan(arr).sum()),
            len(arr),
        )
    return float(np.nanmean(arr))


@dataclass(frozen=True)
class Task:
    """One prediction task over named classes (single-label) or labels (multi-label)."""

    kind: str
    label_names: tuple[str, ...]
    ordinal_loss: OrdinalLoss = "ce"

    def __post_init__(self) -> None:
        if self.kind not in TASK_TYPES:
            raise ConfigError(f"task: unknown task {self.kind!r}; expected one of {TASK_TYPES}")
        if self.ordinal_loss not in ("ce", "coral"):
            raise ConfigError(f"ordinal_loss: {self.ordinal_loss!r}; expected 'ce' or 'coral'")
        min_names = 1 if self.kind == "multi-label" else 2
        if len(self.label_names) < min_names:
            raise ConfigError(
                f"task {self.kind!r}: needs at least {min_names} label names,"
                f" got {list(self.label_names)}"
            )

    # ---- shapes ------------------------------------------------------------------------------
    @property
    def multi_label(self) -> bool:
        return self.kind == "multi-label"

    @property
    def coral(self) -> bool:
        return self.kind == "ordinal-regression" and self.ordinal_loss == "coral"

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def num_outputs(self) -> int:
        """Logits the model must produce."""
        return self.n_classes - 1 if self.coral else self.n_classes

    # ---- training ----------------------------------------------------------------------------
    def class_weights(self, labels: np.ndarray) -> torch.Tensor:
        """'balanced' weights from training labels (N, L).

        Single-label: inverse class frequency n / (K * count_k); multi-label: neg/pos per label.
        """
        if self.multi_label:
            pos = np.nansum(labels == 1, axis=0).astype(float)
            neg = np.nansum(labels == 0, axis=0).astype(float)
            return torch.tensor(neg / np.maximum(pos, 1.0), dtype=torch.float32)
        counts = np.bincount(labels[:, 0].astype(np.int64), minlength=self.n_classes).astype(float)
        weights = counts.sum() / (self.n_classes * np.maximum(counts, 1.0))
        return torch.tensor(weights, dtype=torch.float32)

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean loss of a batch; targets (B, L) float as stored in `ArrayDataset.labels`."""
        logits = logits.float()
        if self.multi_label:
            known = ~torch.isnan(targets)
            filled = torch.where(known, targets, torch.zeros_like(targets))
            per = F.binary_cross_entropy_with_logits(
                logits, filled, pos_weight=weight, reduction="none"
            )
            return (per * known).sum() / known.sum().clamp_min(1)
        y = targets[:, 0].long()
        if self.coral:
            ranks = torch.arange(self.n_classes - 1, device=logits.device)
            levels = (y[:, None] > ranks[None, :]).float()
            per = F.binary_cross_entropy_with_logits(logits, levels, reduction="none").sum(1)
            if weight is not None:
                w = weight[y]
                return (per * w).sum() / w.sum()
            return per.mean()
        return F.cross_entropy(logits, y, weight=weight)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Scores per class (softmax) or per label (sigmoid); CORAL: cumulative P(y > k) made
        monotone, then differenced into K class probabilities."""
        logits = logits.float()
        if self.multi_label:
            return torch.sigmoid(logits)
        if self.coral:
            above = torch.cummin(torch.sigmoid(logits), dim=1).values
            ones = torch.ones_like(above[:, :1])
            cum = torch.cat([ones, above, torch.zeros_like(ones)], dim=1)
            return cum[:, :-1] - cum[:, 1:]
        return torch.softmax(logits, dim=1)

    # ---- evaluation --------------------------------------------------------------------------
    def _split_true(self, y_true: np.ndarray) -> np.ndarray:
        y_true = np.asarray(y_true)
        if self.multi_label:
            y = y_true.astype(float).reshape(len(y_true), -1)
            if y.shape[1] != self.n_classes:
                raise EvaluationError(
                    f"labels have {y.shape[1]} columns; expected {self.n_classes} labels"
                )
            return y
        if y_true.ndim == 2:
            y_true = y_true[:, 0]
        return y_true.astype(np.int64)

    def _check(self, y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = self._split_true(y_true)
        s = np.asarray(y_score, dtype=float)
        if s.ndim != 2 or s.shape != (len(y), self.n_classes):
            raise EvaluationError(
                f"scores have shape {s.shape}; expected ({len(y)}, {self.n_classes})"
                f" for {self.n_classes} {'labels' if self.multi_label else 'classes'}"
            )
        if len(y) == 0:
            raise EvaluationError("no predictions to evaluate (empty split)")
        return y, s

    def predict(self, y_score: np.ndarray) -> np.ndarray:
        """Binary / multi-label: score > 0.5 (1/0 per column); multi-class / ordinal: argmax."""
        s = np.asarray(y_score, dtype=float)
        if self.multi_label:
            return (s > 0.5).astype(np.int64)
        if self.kind == "binary":
            return (s[:, -1] > 0.5).astype(np.int64)
        return np.argmax(s, axis=1).astype(np.int64)

    def auc(self, y_true: np.ndarray, y_score: np.ndarray) -> float:
        y, s = self._check(y_true, y_score)
        if self.kind == "binary":
            return _auc_or_nan(y, s[:, -1])
        if self.multi_label:
            per = [
                _auc_or_nan(y[m, i], s[m, i])
                for i in range(self.n_classes)
                for m in [~np.isnan(y[:, i])]
            ]
            return _mean_defined(per, "per-label AUC")
        per = [_auc_or_nan((y == i).astype(float), s[:, i]) for i in range(self.n_classes)]
        return _mean_defined(per, "one-vs-rest AUC")

    def acc(self, y_true: np.ndarray, y_score: np.ndarray) -> float:
        y, s = self._check(y_true, y_score)
        pred = self.predict(s)
        if self.multi_label:
            per = []
            for i in range(self.n_classes):
                known = ~np.isnan(y[:, i])
                per.append(
                    float(accuracy_score(y[known, i], pred[known, i])) if known.any() else np.nan
                )
            return _mean_defined(per, "per-label ACC")
        return float(accuracy_score(y, pred))

    def metrics(self, y_true: np.ndarray, y_score: np.ndarray) -> dict[str, object]:
        """Headline AUC/ACC (MedMNIST evaluator) plus per-class AUC and task extras."""
        y, s = self._check(y_true, y_score)
        out: dict[str, object] = {"auc": self.auc(y, s), "acc": self.acc(y, s)}
        if self.multi_label:
            out["auc_per_label"] = {
                name: _auc_or_nan(y[~np.isnan(y[:, i]), i], s[~np.isnan(y[:, i]), i])
                for i, name in enumerate(self.label_names)
            }
            return out
        pred = self.predict(s)
        if self.kind != "binary":
            out["auc_per_class"] = {
                name: _auc_or_nan((y == i).astype(float), s[:, i])
                for i, name in enumerate(self.label_names)
            }
        if self.kind == "ordinal-regression":
            out["mae"] = float(np.mean(np.abs(pred - y)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                kappa = cohen_kappa_score(
                    y, pred, weights="quadratic", labels=list(range(self.n_classes))
                )
            out["qwk"] = float(kappa)
        return out


def prevalence(task: Task, labels: np.ndarray) -> dict[str, float]:
    """Fraction of images per class (single-label) or positive per label among known (multi)."""
    labels = np.asarray(labels, dtype=float).reshape(len(labels), -1)
    if task.multi_label:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pos = np.nanmean(labels, axis=0)
        return {n: float(p) for n, p in zip(task.label_names, pos, strict=True)}
    counts = np.bincount(labels[:, 0].astype(np.int64), minlength=task.n_classes)
    return {
        n: float(c) / max(len(labels), 1) for n, c in zip(task.label_names, counts, strict=True)
    }


# ---- prediction tables (RUN/predictions.parquet) --------------------------------------------
def predictions_to_frame(
    *,
    task: Task,
    split: str,
    ids: Sequence[str],
    patient_ids: Sequence[str],
    y_true: np.ndarray,
    y_score: np.ndarray,
    sites: Sequence[str] | None = None,
    dataset: str = "",
    official: bool = True,
) -> pd.DataFrame:
    """One row per image: id, patient_id, split, site, target(s) and score:<name> columns.

    The frame's ``attrs["radlens"]`` carries {"task", "label_names", "dataset", "official"}; it
    is stored as parquet schema metadata by `radlens.core.rundir.write_predictions`.
    """
    y, s = task._check(y_true, y_score)
    n = len(y)
    frame: dict[str, object] = {
        "id": np.asarray(ids, dtype=str),
        "patient_id": np.asarray(patient_ids, dtype=str),
        "split": np.full(n, split, dtype=object),
        "site": np.asarray(sites, dtype=str) if sites is not None else np.full(n, "", dtype=object),
    }
    if task.multi_label:
        for i, name in enumerate(task.label_names):
            frame[f"target:{name}"] = y[:, i].astype(float)
    else:
        frame["target"] = y.astype(np.int64)
    for i, name in enumerate(task.label_names):
        frame[f"score:{name}"] = s[:, i].astype(float)
    df = pd.DataFrame(frame)
    df.attrs["radlens"] = {
        "task": task.kind,
        "label_names": list(task.label_names),
        "dataset": dataset,
        "official": bool(official),
    }
    return df


def frame_to_arrays(
    df: pd.DataFrame, split: str | None = None
) -> tuple[np.ndarray, np.ndarray, str, tuple[str, ...]]:
    """(y_true, y_score, task, label_names) from a predictions frame (optionally one split).

    y_true is (N,) int64 for single-label tasks and (N, L) float (NaN = unknown) for multi-label.
    """
    meta = df.attrs.get("radlens")
    if isinstance(meta, str | bytes):
        meta = json.loads(meta)
    if not meta or "task" not in meta or "label_names" not in meta:
        raise EvaluationError(
            "predictions table has no 'radlens' metadata (task, label_names);"
            " read it with radlens.core.rundir.read_predictions"
        )
    names = tuple(meta["label_names"])
    if split is not None:
        if "split" not in df.columns or not (df["split"] == split).any():
            have = sorted(set(df["split"])) if "split" in df.columns else []
            raise EvaluationError(f"predictions table has no rows for split {split!r}; has {have}")
        df = df[df["split"] == split]
    missing = [f"score:{n}" for n in names if f"score:{n}" not in df.columns]
    targets = [f"target:{n}" for n in names] if meta["task"] == "multi-label" else ["target"]
    missing += [c for c in targets if c not in df.columns]
    if missing:
        raise EvaluationError(f"predictions table lacks columns {missing}")
    y_score = df[[f"score:{n}" for n in names]].to_numpy(dtype=float)
    if meta["task"] == "multi-label":
        y_true = df[targets].to_numpy(dtype=float)
    else:
        y_true = df["target"].to_numpy(dtype=np.int64)
    return y_true, y_score, str(meta["task"]), names
