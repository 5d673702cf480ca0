"""The second stage of the nodule detector: a small 3-D CNN that scores candidate cubes.

Input: (B, 1, S, S, S) cubes of the windowed CT (0..1) centred on a candidate; output: one logit
per cube, "a nodule is centred here". Two 3x3x3 conv blocks (batch norm, ReLU) per stage at 16,
32 and 64 channels, max-pooled between stages; the last map's mean and max over space go to one
linear layer (the max keeps a small bright core that the mean would dilute).
"""

from __future__ import annotations

import torch
from torch import nn

from radlens.errors import ModelError

__all__ = ["CandidateNet"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(True)
    )


class CandidateNet(nn.Module):
    """Cube -> logit (module docstring); `width` scales the channels (16-32-64 at 16)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = int(width)
        self.features = nn.Sequential(
            _block(1, w), _block(w, w), nn.MaxPool3d(2),
            _block(w, 2 * w), _block(2 * w, 2 * w), nn.MaxPool3d(2),
            _block(2 * w, 4 * w), _block(4 * w, 4 * w),
        )  # fmt: skip
        self.head = nn.Linear(8 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 1 or min(x.shape[2:]) < 4:
            raise ModelError(
                f"CandidateNet expects (B, 1, S, S, S) cubes, S >= 4; got {tuple(x.shape)}"
            )
        f = self.features(x)
        return self.head(torch.cat([f.mean(dim=(2, 3, 4)), f.amax(dim=(2, 3, 4))], dim=1))[:, 0]
