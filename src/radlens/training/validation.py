"""Validation AUC after every epoch of a training run.

Per-epoch validation runs through the Fabric-wrapped model, so it uses the run's precision (bf16
autocast where the hardware has bf16) and channels-last; every rank scores its shard of the
validation images and the scores are gathered in order. (The final pass of the best model runs
through `radlens.training.run.write_outputs` in float32, as `radlens evaluate` does.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from radlens.errors import ModelError
from radlens.models import Task
from radlens.training.device import predict_scores
from radlens.training.distributed import eval_shard, gather_rows

__all__ = ["validation_auc"]


def validation_auc(
    fabric: Any,
    model: nn.Module,
    images: torch.Tensor,
    y_true: np.ndarray,
    task: Task,
    *,
    batch_size: int,
    channels_last: bool,
) -> float:
    """AUC of `model` on the device-resident validation `images` (each rank scores its shard)."""
    shard = eval_shard(len(images), fabric.global_rank, fabric.world_size)
    local = predict_scores(
        model, images[shard], task, batch_size=batch_size, channels_last=channels_last
    )
    scores = gather_rows(fabric, torch.from_numpy(local).to(images.device), len(images))
    scores = scores.cpu().numpy() if isinstance(scores, torch.Tensor) else scores
    if not np.isfinite(scores).all():
        raise ModelError(
            f"validation scores are not finite ({int((~np.isfinite(scores)).sum())} of"
            f" {scores.size}): the model diverged; train again with --precision 32-true or a"
            " lower --lr"
        )
    return task.auc(y_true, scores)
