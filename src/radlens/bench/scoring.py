"""Test-time augmentation, seed ensembles and the metrics macro-AUC hides.

Beside the MedMNIST evaluator's AUC/ACC (`radlens.models.tasks.Task.metrics`), each benchmark row
gets per-class recall and F1 (at the task's own decision rule: argmax, or 0.5 for binary and
multi-label) and the expected calibration error (ECE, 10 equal-width bins, one-vs-rest per class,
averaged; binary: of the positive-class score), from `radlens.evaluation.calibration`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score, recall_score
from torch import nn

from radlens.evaluation import expected_calibration_error
from radlens.models import Task
from radlens.training import images_to_tensor, predict_scores

__all__ = ["detail_metrics", "ensemble_scores", "predict_images", "row_metrics"]


def predict_images(
    model: nn.Module,
    images: np.ndarray,
    task: Task,
    *,
    n_channels: int,
    spatial_dims: int,
    tta: bool = False,
    device: torch.device | str = "cpu",
    batch_size: int = 512,
) -> np.ndarray:
    """Scores (N, K) of stored images; with `tta`, the mean over the image and its left-right
    mirror (the flip the training augmentation uses)."""
    x = images_to_tensor(images, n_channels=n_channels, spatial_dims=spatial_dims)
    model = model.to(device)
    scores = predict_scores(model, x, task, batch_size=batch_size, device=device)
    if tta:
        scores = (scores + predict_scores(model, x.flip(-1), task, batch_size=batch_size,
                                          device=device)) / 2.0  # fmt: skip
    return scores


def ensemble_scores(scores: list[np.ndarray]) -> np.ndarray:
    """Mean of several models' probabilities (a seed ensemble)."""
    return np.mean(np.stack(scores), axis=0)


def detail_metrics(task: Task, y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Per-class recall/F1, their macro means, and ECE (see module doc)."""
    y_true = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)
    pred = task.predict(scores)
    names = list(task.label_names)
    if task.multi_label:
        recall, f1 = [], []
        for j in range(task.n_classes):
            known = ~np.isnan(y_true[:, j])
            yt, yp = y_true[known, j].astype(int), pred[known, j]
            recall.append(float(recall_score(yt, yp, zero_division=0)))
            f1.append(float(f1_score(yt, yp, zero_division=0)))
        ece = expected_calibration_error(y_true, scores)
    else:
        y = y_true[:, 0].astype(int)
        labels = list(range(task.n_classes))
        recall = recall_score(y, pred, labels=labels, average=None, zero_division=0).tolist()
        f1 = f1_score(y, pred, labels=labels, average=None, zero_division=0).tolist()
        onehot = np.eye(task.n_classes)[y]
        if task.kind == "binary":
            ece = expected_calibration_error(onehot[:, -1:], scores[:, -1:])
        else:
            ece = expected_calibration_error(onehot, scores)
    return {
        "recall_per_class": dict(zip(names, map(float, recall), strict=True)),
        "f1_per_class": dict(zip(names, map(float, f1), strict=True)),
        "macro_recall": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "ece": float(np.nanmean(ece)),
    }


def row_metrics(task: Task, y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AUC/ACC exactly as the MedMNIST evaluator, plus `detail_metrics`."""
    return {
        "auc": float(task.auc(y_true, scores)),
        "acc": float(task.acc(y_true, scores)),
        **detail_metrics(task, y_true, scores),
    }
