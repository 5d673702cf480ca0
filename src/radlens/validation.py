"""The prediction passes of a training run: validation AUC after every epoch, and the final
predictions of the best model that become ``metrics.json`` and ``predictions.parquet``.

Per-epoch validation runs through the Fabric-wrapped model, so it uses the run's precision (bf16
autocast where the hardware has bf16) and channels-last; every rank scores its shard of the
validation images and the scores are gathered in order. The final pass runs in float32 without
autocast, as `radlens evaluate` does, so re-evaluating a run gives the same metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radlens.config import TrainConfig
from radlens.data.arrays import ArrayDataset
from radlens.device_data import predict_scores
from radlens.distributed import eval_shard, gather_rows
from radlens.tasks import Task

__all__ = ["validation_auc", "write_final_outputs"]


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
    return task.auc(y_true, scores)


def write_final_outputs(
    run_dir: Path,
    model: nn.Module,
    ds: ArrayDataset,
    task: Task,
    config: TrainConfig,
    *,
    device: torch.device,
    channels_last: bool,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Load the best weights (``checkpoint.pt``) into `model`, predict val and test in float32
    and write predictions.parquet and metrics.json; returns the metrics.

    Channels-last only changes the order of the float32 sums (scores agree with a plain-layout
    pass to ~1e-7), and is about a fifth faster on CPU."""
    from radlens.runs import write_outputs

    best = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(best["model"])
    return write_outputs(
        run_dir, model, ds, task, config, device=device, channels_last=channels_last, extra=extra
    )
