"""The model of a run: what it needs from the data (geometry) and how the config builds it.

Training and `radlens.training.run.load_run` both build the model here, so a checkpoint always
loads into the network it was trained as.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from radlens.data import ArrayDataset
from radlens.models import Task, build_model
from radlens.training.config import TrainConfig
from radlens.training.device import images_to_tensor

__all__ = ["dataset_geometry", "make_model", "optimiser_and_schedule", "step_schedule"]


def dataset_geometry(ds: ArrayDataset) -> dict[str, Any]:
    """What build_model needs from the data: channels, dims, depth, small-input stem."""
    shape = images_to_tensor(
        ds.images["train"][:1], n_channels=ds.n_channels, spatial_dims=ds.spatial_dims
    ).shape
    return {
        "in_channels": ds.n_channels,
        "spatial_dims": ds.spatial_dims,
        "depth": int(shape[2]) if ds.spatial_dims == 3 else 1,
        "min_side": int(min(shape[-2:])),
    }


def make_model(config: TrainConfig, task: Task, geometry: dict[str, Any]) -> nn.Module:
    """The network `config.model` for `task` on data of `geometry` (see `dataset_geometry`);
    the MedMNIST 28 px stem when `config.small_input` says so, or by default for images <= 64 px."""
    small = config.small_input
    if small is None:
        small = geometry["min_side"] <= 64
    return build_model(
        config.model,
        spatial_dims=geometry["spatial_dims"],
        in_channels=geometry["in_channels"],
        num_outputs=task.num_outputs,
        small_input=small,
        depth=max(1, geometry["depth"]),
    )


def optimiser_and_schedule(
    config: TrainConfig, model: nn.Module, device: torch.device
) -> tuple[Any, Any]:
    """Adam (fused: one kernel for all parameters, on CUDA and CPU) and its step schedule."""
    fused = device.type in ("cuda", "cpu")
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused
    )
    return optimizer, step_schedule(config, optimizer)


def step_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer) -> Any:
    """The LR drops by `config.gamma` at `config.milestones` (fractions of the epochs)."""
    milestones = sorted({max(1, round(m * config.epochs)) for m in config.milestones})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=config.gamma)
