"""Segmentation losses (`radlens train --task segmentation --seg-loss ...`) and the operating
threshold each finding's masks are cut at.

Both losses are batch Dice (MONAI `DiceLoss`, sigmoid, summed over the batch so a finding absent
from one patch is neither a perfect nor a failed Dice) plus a binary cross-entropy; they differ in
how much a lesion voxel weighs in the cross-entropy:

- ``pos-weight`` (default): one weight `POS_WEIGHT` on every lesion voxel.
- ``balanced``: per finding, the mean cross-entropy over its lesion voxels plus the mean over its
  background voxels (a finding with no lesion voxel in the batch: background only), so a 2-voxel
  calcified plaque pulls as hard as a 900-voxel effusion. With ``pos-weight`` the nodule,
  lymph-node and plaque channels can collapse to "never" (seed 0 of the 120-epoch benchmark: val
  Dice 0 at every epoch; `benchmarks/seg_loss_probe.py`: after 1800 steps the plaque channel ranks
  voxels at AUROC 0.56, where the soft-tissue window alone gives 0.97, and no lesion voxel of the
  three findings gets above 0.002): the cross-entropy saturates their logits negative before batch
  Dice, whose gradient passes through the sigmoid, pulls the few lesion voxels up. ``balanced``
  learns them (voxel AUROC 0.94 / 1.00 / 0.96 after 1800 steps) but, scored on all
  232 studies of an unseen cohort (`benchmarks/results/segmentation.json`,
  "seg_loss_comparison", one training seed), it trades the large findings for the small ones:
  lymph-node FROC 0.17 -> 0.24 and Dice 0.00 -> 0.17, but mass FROC 0.88 -> 0.75 and Dice 0.64
  -> 0.58, consolidation 0.76 -> 0.72, effusion 0.85 -> 0.82; nodules stay unseparated from
  vessel mimics (FROC 0.02). A second ``pos-weight`` seed learned lymph nodes too (FROC 0.29).
  Hence not the default.

Balancing inflates the probabilities of rare findings (it trains at even odds), so 0.5 is no
longer the point that segments best: `best_thresholds` picks, per finding, the threshold of
`THRESHOLDS` with the best val Dice (pooled over the val studies), and `OffsetLogits` shifts
that finding's logits by ``-logit(threshold)`` so the run's masks and lesion candidates are cut
at 0.5 as before (voxel ranking, hence AUROC and FROC order within a finding, unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.losses import DiceLoss
from torch import nn

from radlens.errors import ConfigError

__all__ = [
    "POS_WEIGHT",
    "SEG_LOSSES",
    "THRESHOLDS",
    "OffsetLogits",
    "balanced_bce",
    "best_thresholds",
    "seg_loss",
    "study_dice",
    "threshold_counts",
]

SEG_LOSSES = ("pos-weight", "balanced")
POS_WEIGHT = 10.0  # BCE weight of a lesion voxel (lesions fill < 1% of a patch)
THRESHOLDS: tuple[float, ...] = (
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999,
)  # fmt: skip


def balanced_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over findings (dim 1) of: mean BCE over lesion voxels + mean BCE over background
    voxels of the batch (no lesion voxel: the background mean alone)."""
    if logits.shape != target.shape:
        raise ConfigError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    z = logits.float().transpose(0, 1).reshape(logits.shape[1], -1)
    lesion = target.transpose(0, 1).reshape(target.shape[1], -1) > 0.5
    softplus = nn.functional.softplus
    n_pos, n_neg = lesion.sum(1), (~lesion).sum(1)
    pos = (softplus(-z) * lesion).sum(1) / n_pos.clamp(min=1)
    neg = (softplus(z) * ~lesion).sum(1) / n_neg.clamp(min=1)
    return (pos + neg).mean()


def seg_loss(kind: str = "pos-weight", pos_weight: float = POS_WEIGHT):
    """loss(logits, target) of (B, F, ...) tensors: batch Dice over sigmoid channels + the BCE of
    `kind` (module's list). Not MONAI `DiceCELoss`: with sigmoid and several channels its
    cross-entropy is a softmax over the findings, zero on every background voxel."""
    if kind not in SEG_LOSSES:
        raise ConfigError(f"--seg-loss {kind!r}: expected one of {SEG_LOSSES}")
    dice = DiceLoss(sigmoid=True, batch=True)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if kind == "balanced":
            return dice(logits, target) + balanced_bce(logits, target)
        weight = torch.full((logits.shape[1],) + (1,) * (logits.ndim - 2), float(pos_weight))
        bce = nn.functional.binary_cross_entropy_with_logits(
            logits, target, pos_weight=weight.to(logits.device)
        )
        return dice(logits, target) + bce

    return loss


def threshold_counts(
    prob: np.ndarray, truth: np.ndarray, thresholds: Sequence[float] = THRESHOLDS
) -> np.ndarray:
    """(3, T, F) of one study's (F, ...) probabilities and truth: per threshold and finding, the
    lesion voxels at or above it, all voxels at or above it, and the lesion voxels. A few numbers
    per study, so a val split's threshold choice never holds its probability maps."""
    n, t = int(prob.shape[0]), np.asarray(thresholds, dtype=np.float64)
    p, y = prob.reshape(n, -1), truth.reshape(n, -1) > 0
    out = np.zeros((3, len(t), n))
    for i in range(n):
        every, lesion = np.sort(p[i]), np.sort(p[i][y[i]])
        out[0, :, i] = len(lesion) - np.searchsorted(lesion, t, side="left")
        out[1, :, i] = len(every) - np.searchsorted(every, t, side="left")
        out[2, :, i] = len(lesion)
    return out


def best_thresholds(
    counts: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS
) -> list[float]:
    """Per finding, the threshold with the best Dice pooled over the studies' `threshold_counts`:
    2 x lesion voxels found / (voxels predicted + lesion voxels), so voxels predicted in studies
    without the finding count against it (ties: the threshold nearest 0.5; a finding neither
    present nor predicted: 0.5)."""
    if not counts:
        return []
    t = np.asarray(thresholds, dtype=np.float64)
    found, predicted, present = np.sum(counts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = 2 * found / (predicted + present)
    order = np.argsort(np.abs(t - 0.5), kind="stable")  # ties: the threshold nearest 0.5
    out = []
    for i in range(dice.shape[1]):
        col = dice[order, i]
        out.append(0.5 if np.isnan(col).all() else float(t[order[int(np.nanargmax(col))]]))
    return out


def study_dice(
    counts: Sequence[np.ndarray], cuts: Sequence[float], thresholds: Sequence[float] = THRESHOLDS
) -> np.ndarray:
    """(studies, F) Dice of each study at each finding's threshold `cuts` (each one of
    `thresholds`), from `threshold_counts`; NaN where the study has no lesion voxel of the finding
    (MONAI `DiceMetric(ignore_empty=True)`)."""
    k = [list(thresholds).index(c) for c in cuts]
    cols = np.arange(len(k))
    out = np.full((len(counts), len(k)), np.nan)
    for s, (found, predicted, present) in enumerate(counts):
        lesion = present[0] > 0
        dice = 2 * found[k, cols] / np.maximum(predicted[k, cols] + present[0], 1)
        out[s, lesion] = dice[lesion]
    return out


class OffsetLogits(nn.Module):
    """`net` with each output channel's logits shifted by ``-logit(threshold)``, so sigmoid 0.5
    of the result is `thresholds[c]` of the net's own probability."""

    def __init__(self, net: nn.Module, thresholds: Sequence[float]) -> None:
        super().__init__()
        bad = [t for t in thresholds if not 0.0 < float(t) < 1.0]
        if bad:
            raise ConfigError(f"mask thresholds must lie in (0, 1); got {bad}")
        self.net = net
        offset = [-math.log(float(t) / (1.0 - float(t))) for t in thresholds]
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out + self.offset.to(out.dtype).view(1, -1, *([1] * (out.ndim - 2)))
