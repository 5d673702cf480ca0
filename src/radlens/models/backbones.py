"""MONAI backbones by depth: ResNet-18/50 and DenseNet-121 in 2D or 3D, and the 2.5D wrapper.

With ``small_input=True`` (the MedMNIST 28 px recipe) the stem is a 3x3 stride-1 convolution
without max-pooling; otherwise the ImageNet stem (7x7 stride 2 + max-pool). `SlicesAsChannels`
feeds the slices of a 3D volume as channels to a 2D network (2.5D).
"""

from __future__ import annotations

import torch
from monai.networks.nets import DenseNet121, ResNet
from torch import nn

from radlens.errors import ModelError

__all__ = ["RESNET_LAYERS", "SlicesAsChannels", "densenet121", "resnet"]

#: block type and blocks per stage of each ResNet depth
RESNET_LAYERS: dict[int, tuple[str, list[int]]] = {
    18: ("basic", [2, 2, 2, 2]),
    50: ("bottleneck", [3, 4, 6, 3]),
}


def _resnet(
    block: str, layers: list[int], widths: list[int], *, max_pool: bool, spatial_dims: int,
    in_channels: int, num_outputs: int, small_input: bool,
) -> ResNet:  # fmt: skip
    """A MONAI ResNet with the 28 px stem (3x3, stride 1) or the ImageNet one (7x7, stride 2)."""
    return ResNet(
        block=block,
        layers=layers,
        block_inplanes=widths,
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=3 if small_input else 7,
        conv1_t_stride=1 if small_input else 2,
        no_max_pool=not max_pool,
        num_classes=num_outputs,
    )


def resnet(
    depth: int, *, spatial_dims: int, in_channels: int, num_outputs: int, small_input: bool
) -> ResNet:
    """A MONAI ResNet-18 or -50 (2D or 3D) with the 28 px stem or the ImageNet one."""
    if depth not in RESNET_LAYERS:
        raise ModelError(f"ResNet depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
    block, layers = RESNET_LAYERS[depth]
    return _resnet(
        block, layers, [64, 128, 256, 512], max_pool=not small_input, spatial_dims=spatial_dims,
        in_channels=in_channels, num_outputs=num_outputs, small_input=small_input,
    )  # fmt: skip


def resnet_mini(
    *, spatial_dims: int, in_channels: int, num_outputs: int, small_input: bool
) -> ResNet:
    """A small CPU ResNet (MONAI ResNet, one basic block per stage, 16-32-64-128 channels, no
    max-pool): output stride 8 with the 28 px stem, 16 with the 7x7/2 one. Its last feature map
    keeps enough cells for region-level image-text alignment at radiograph sizes of 64-128 px,
    where resnet18's ImageNet stem leaves 2-4 cells a side."""
    return _resnet(
        "basic", [1, 1, 1, 1], [16, 32, 64, 128], max_pool=False, spatial_dims=spatial_dims,
        in_channels=in_channels, num_outputs=num_outputs, small_input=small_input,
    )  # fmt: skip


def densenet121(
    *, spatial_dims: int, in_channels: int, num_outputs: int, small_input: bool
) -> nn.Module:
    """A MONAI DenseNet-121; the 28 px stem is a 3x3 stride-1 convolution without max-pool."""
    net = DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_outputs)
    if small_input:  # 28 px would shrink to nothing through the 7x7/2 stem, max-pool and 3 pools
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        net.features.conv0 = conv(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.features.pool0 = nn.Identity()
    return net


class SlicesAsChannels(nn.Module):
    """2.5D: (B, C, D, H, W) volumes -> (B, C*D, H, W) -> a 2D network."""

    def __init__(self, net: nn.Module, depth: int) -> None:
        super().__init__()
        self.net = net
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != self.depth:
            raise ModelError(
                f"2.5D model expects (B, C, {self.depth}, H, W) volumes; got {tuple(x.shape)}"
            )
        return self.net(x.flatten(1, 2))
