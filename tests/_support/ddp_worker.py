"""Run by tests/test_ddp_training.py (under torchrun, or in-process): train a tiny synthetic binary
task with radlens.training.loop.train and leave metrics.json in OUT.

    torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py OUT 2
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.models.factory import register_model
from radlens.training import end_process_group
from radlens.training.config import make_config
from radlens.training.loop import train


def tiny_cnn(*, spatial_dims: int, in_channels: int, num_outputs: int, **_: object) -> nn.Module:
    """No BatchNorm: per-rank batch statistics would make DDP differ from one process."""
    torch.manual_seed(0)  # same initial weights in every process
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, num_outputs),
    )


register_model("tiny_cnn", tiny_cnn)


def toy_dataset(n: int = 64, side: int = 8) -> ArrayDataset:
    """Binary: a faint bright bar marks class 1 (learnable, not trivial in two epochs)."""
    rng = np.random.default_rng(0)
    images, labels, ids = {}, {}, {}
    for split, m in (("train", n), ("val", 37), ("test", 37)):  # 37: not a multiple of 2
        y = (np.arange(m) % 2).astype(np.float32)
        rng.shuffle(y)
        x = rng.integers(0, 120, size=(m, side, side)).astype(np.uint8)
        x[y == 1, 3:5, :] += 60
        images[split], labels[split] = x, y[:, None]
        ids[split] = np.array([f"{split}-{i:04d}" for i in range(m)])
    return ArrayDataset("toy", "binary", ("no", "yes"), images, labels, ids,
                        {s: v.copy() for s, v in ids.items()}, official=False,
                        source="synthetic")  # fmt: skip


def run(out: str, devices: int) -> None:
    torch.set_num_threads(1)
    config = make_config(
        {
            "dataset": "toy",
            "model": "tiny_cnn",
            "out": out,
            "epochs": 3,
            "batch_size": 16,  # global batch: 8 per rank with 2 processes
            "eval_batch_size": 8,
            "device": "cpu",
            "devices": devices,
            "precision": "32-true",
            "lr": 3e-3,
            "seed": 5,
        }
    )
    train(config, dataset=toy_dataset(), progress=False)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
    Path(sys.argv[1], f"done-{torch.distributed.get_rank()}").touch()
    end_process_group()
