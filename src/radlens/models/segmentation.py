"""Segmentation networks: MONAI UNet and SegResNet in 2D or 3D, one output channel per finding.

The factory's table (`radlens.models.factory.MODELS`) names them ("unet", "unet_lite",
"segresnet", "segresnet_lite"); `segmentation_network` builds one. Every segmentation model
takes volumes (B, C, D, H, W): a 2D network is wrapped in `SliceWise`, which runs it on each
axial slice, so training patches, sliding-window inference and evaluation are the same code for
both (a 2D model trains on patches one slice deep, `--patch 1,H,W`).
"""

from __future__ import annotations

import torch
from monai.networks.nets import SegResNet, UNet
from torch import nn

from radlens.errors import ModelError

__all__ = ["SEGMENTATION_FAMILIES", "SliceWise", "segmentation_network"]

#: factory families that are segmentation networks (per-voxel logits, one channel per finding)
SEGMENTATION_FAMILIES: tuple[str, ...] = ("unet", "segresnet")


class SliceWise(nn.Module):
    """Run a 2D network on every axial slice of (B, C, D, H, W) volumes; returns (B, K, D, H, W)."""

    def __init__(self, net2d: nn.Module) -> None:
        super().__init__()
        self.net2d = net2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ModelError(
                f"SliceWise expects (B, C, D, H, W) volumes; got shape {tuple(x.shape)}"
            )
        b, c, d, h, w = x.shape
        flat = x.permute(0, 2, 1, 3, 4).reshape(b * d, c, h, w)
        out = self.net2d(flat)
        return out.reshape(b, d, -1, h, w).permute(0, 2, 1, 3, 4)


def segmentation_network(
    family: str,
    *,
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    width: int = 16,
) -> nn.Module:
    """A MONAI UNet (4 levels, one residual unit each, instance norm: patches come in small
    batches) or SegResNet with `width` first-level channels; 2D networks come wrapped in
    `SliceWise` (they take volumes)."""
    if family not in SEGMENTATION_FAMILIES:
        raise ModelError(
            f"unknown segmentation family {family!r}; expected {SEGMENTATION_FAMILIES}"
        )
    if spatial_dims not in (2, 3):
        raise ModelError(f"segmentation spatial_dims must be 2 or 3; got {spatial_dims}")
    if family == "unet":
        net: nn.Module = UNet(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=(width, 2 * width, 4 * width, 8 * width),
            strides=(2, 2, 2),
            num_res_units=1,
            norm="instance",
        )
    else:
        net = SegResNet(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            init_filters=width,
            blocks_down=(1, 2, 2, 4),
            blocks_up=(1, 1, 1),
        )
    return SliceWise(net) if spatial_dims == 2 else net
