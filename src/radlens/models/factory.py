"""Model factory over MONAI networks: name + spatial dims + channels + outputs -> nn.Module.

ResNet-18/50 and DenseNet-121 in 2D and 3D (`spatial_dims`), any number of input channels. With
``small_input=True`` (the MedMNIST 28 px recipe) the stem is a 3x3 stride-1 convolution without
max-pooling; otherwise the ImageNet stem (7x7 stride 2 + max-pool). "resnet18_25d" treats the
slices of a 3D volume as channels of a 2D ResNet-18 (2.5D).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import torch
from monai.networks.nets import DenseNet121, ResNet
from torch import nn

from radlens.errors import ModelError

MODEL_NAMES: tuple[str, ...] = ("resnet18", "resnet50", "densenet121", "resnet18_25d")
# chest-CT helper hook: CT-Net-style models live in radlens.models.ctnet (2D ResNet-18 on slice stacks)
MODEL_NAMES += ("ctnet", "ctnet_lite", "ctnet_3d")

ModelFactory = Callable[..., nn.Module]
_REGISTERED: dict[str, ModelFactory] = {}


def _key(name: str) -> str:
    return name.lower().replace("-", "")


def register_model(name: str, factory: ModelFactory) -> None:
    """Add a model by name. `factory` is called with keyword arguments spatial_dims,
    in_channels, num_outputs, small_input and depth (accept **kwargs for those it ignores)."""
    key = _key(name)
    if key in MODEL_NAMES:
        raise ModelError(f"model name {name!r} is built in; register under another name")
    _REGISTERED[key] = factory


def available_models() -> tuple[str, ...]:
    """Built-in model names, then registered ones."""
    import radlens.models.acs  # noqa: F401  (registers acs_resnet18/50 and resnet18/50_3d)

    return MODEL_NAMES + tuple(k for k in _REGISTERED if k not in MODEL_NAMES)


_RESNETS: dict[str, tuple[str, list[int]]] = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}


def _resnet(
    name: str, spatial_dims: int, in_channels: int, num_outputs: int, small_input: bool
) -> ResNet:
    block, layers = _RESNETS[name]
    return ResNet(
        block=block,
        layers=layers,
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=3 if small_input else 7,
        conv1_t_stride=1 if small_input else 2,
        no_max_pool=small_input,
        num_classes=num_outputs,
    )


def _densenet(
    spatial_dims: int, in_channels: int, num_outputs: int, small_input: bool
) -> nn.Module:
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


def build_model(
    name: str,
    *,
    spatial_dims: int,
    in_channels: int,
    num_outputs: int,
    small_input: bool = True,
    depth: int = 28,
) -> nn.Module:
    """Build a MONAI network by name.

    Args:
        name: one of `MODEL_NAMES`.
        spatial_dims: 2 or 3 (dimensions of the input images).
        in_channels: channels of each image (1 grey, 3 RGB).
        num_outputs: logits produced (classes, labels, or K-1 for a CORAL ordinal head).
        small_input: MedMNIST 28 px stem (3x3 stride 1, no max-pool) instead of ImageNet's.
        depth: number of slices, used only by 2.5D models.
    """
    key = _key(name)
    names = available_models()
    if key not in names:
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelError(f"unknown model {name!r}{hint} (available: {', '.join(names)})")
    if spatial_dims not in (2, 3):
        raise ModelError(f"model {name!r}: spatial_dims must be 2 or 3, got {spatial_dims}")
    if in_channels < 1 or num_outputs < 1:
        raise ModelError(
            f"model {name!r}: in_channels and num_outputs must be >= 1,"
            f" got {in_channels} and {num_outputs}"
        )
    if key in _REGISTERED:
        return _REGISTERED[key](
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            num_outputs=num_outputs,
            small_input=small_input,
            depth=depth,
        )
    if key == "resnet18_25d":
        if spatial_dims != 3:
            raise ModelError("model 'resnet18_25d' is for 3D volumes (spatial_dims=3)")
        if depth < 1:
            raise ModelError(f"model 'resnet18_25d': depth must be >= 1, got {depth}")
        net2d = _resnet("resnet18", 2, in_channels * depth, num_outputs, small_input)
        return SlicesAsChannels(net2d, depth)
    if key.startswith("ctnet"):  # chest-CT helper hook: see radlens.models.ctnet.build_ctnet
        from radlens.models.ctnet import build_ctnet

        return build_ctnet(
            key, spatial_dims=spatial_dims, in_channels=in_channels, num_outputs=num_outputs
        )
    if key == "densenet121":
        return _densenet(spatial_dims, in_channels, num_outputs, small_input)
    return _resnet(key, spatial_dims, in_channels, num_outputs, small_input)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
