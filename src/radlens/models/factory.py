"""Model factory: name + spatial dims + channels + outputs -> nn.Module, from one parameter table
(classifiers, and the UNet / SegResNet segmentation networks of `radlens.models.segmentation`).

`MODELS` lists every built-in name and how it is built: MONAI ResNet-18/50, "resnet_mini" (a
small CPU ResNet) and DenseNet-121 in 2D or 3D (`spatial_dims`), "resnet18_25d" (the slices of
a volume as channels of a 2D ResNet-18),
the 3D-only "resnet18_3d"/"resnet50_3d" (MONAI 3D ResNets) and "acs_resnet18"/"acs_resnet50"
(ACS convolutions, `radlens.models.acs`), and the CT-Net variants "ctnet", "ctnet_lite" (a quarter
of the ResNet-18 width, for CPU demos) and "ctnet_3d" (the plain 3D CNN of the CPU demo,
`radlens.models.ctnet`). `register_model` adds more names at run time (tests, plug-ins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from radlens.core import look_up_option
from radlens.errors import ModelError
from radlens.models.acs import acs_resnet
from radlens.models.backbones import SlicesAsChannels, densenet121, resnet, resnet_mini
from radlens.models.ctnet import CTNet, SmallCNN3D
from radlens.models.segmentation import SEGMENTATION_FAMILIES, segmentation_network

__all__ = [
    "MODELS",
    "ModelFactory",
    "ModelSpec",
    "available_models",
    "build_model",
    "count_parameters",
    "is_segmentation_model",
    "model_key",
    "register_model",
    "resolve_model_name",
    "supports_channels_last",
]

Family = Literal[
    "resnet",
    "resnet_mini",
    "densenet",
    "resnet_25d",
    "acs_resnet",
    "ctnet",
    "small_cnn3d",
    "unet",
    "segresnet",
]


@dataclass(frozen=True)
class ModelSpec:
    """How one model name is built.

    family: the builder (MONAI ResNet / DenseNet, 2.5D ResNet, ACS ResNet, CT-Net, small 3D CNN).
    depth: the ResNet depth (18 or 50) of the resnet, resnet_25d and acs_resnet families.
    volumes_only: the model takes 3D volumes only (spatial_dims=3).
    widen_factor: the CT-Net ResNet-18 width (1.0: 64-128-256-512 channels); for UNet and
    SegResNet the first-level width 16 x widen_factor.
    """

    family: Family
    depth: int = 0
    volumes_only: bool = False
    widen_factor: float = 1.0


#: every built-in model name, in the order the help and error messages list them
MODELS: dict[str, ModelSpec] = {
    "resnet18": ModelSpec("resnet", depth=18),
    "resnet50": ModelSpec("resnet", depth=50),
    "resnet_mini": ModelSpec("resnet_mini"),  # small CPU ResNet (image-text pretraining)
    "densenet121": ModelSpec("densenet"),
    "resnet18_25d": ModelSpec("resnet_25d", depth=18, volumes_only=True),
    "ctnet": ModelSpec("ctnet", volumes_only=True, widen_factor=1.0),
    "ctnet_lite": ModelSpec("ctnet", volumes_only=True, widen_factor=0.25),
    "ctnet_3d": ModelSpec("small_cnn3d", volumes_only=True),
    "resnet18_3d": ModelSpec("resnet", depth=18, volumes_only=True),
    "resnet50_3d": ModelSpec("resnet", depth=50, volumes_only=True),
    "acs_resnet18": ModelSpec("acs_resnet", depth=18, volumes_only=True),
    "acs_resnet50": ModelSpec("acs_resnet", depth=50, volumes_only=True),
    # segmentation (radlens.models.segmentation): first-level width 16 x widen_factor
    "unet": ModelSpec("unet"),
    "unet_lite": ModelSpec("unet", widen_factor=0.5),
    "segresnet": ModelSpec("segresnet"),
    "segresnet_lite": ModelSpec("segresnet", widen_factor=0.5),
}

ModelFactory = Callable[..., nn.Module]
_REGISTERED: dict[str, ModelFactory] = {}


def model_key(name: str) -> str:
    """A model name in canonical spelling: lower case, no hyphens ("ResNet-18" -> "resnet18")."""
    return name.lower().replace("-", "")


def register_model(name: str, factory: ModelFactory) -> None:
    """Add a model by name. `factory` is called with keyword arguments spatial_dims,
    in_channels, num_outputs, small_input and depth (accept **kwargs for those it ignores)."""
    key = model_key(name)
    if key in MODELS:
        raise ModelError(f"model name {name!r} is built in; register under another name")
    _REGISTERED[key] = factory


def available_models() -> tuple[str, ...]:
    """Built-in model names, then registered ones."""
    return tuple(MODELS) + tuple(k for k in _REGISTERED if k not in MODELS)


def resolve_model_name(name: str) -> str:
    """The canonical name of a known model; ModelError with the closest name and the valid ones."""
    return look_up_option(model_key(name), available_models(), what="model", error=ModelError)


def _build(
    name: str,
    spec: ModelSpec,
    *,
    spatial_dims: int,
    in_channels: int,
    num_outputs: int,
    small_input: bool,
    depth: int,
) -> nn.Module:
    """Build one built-in model from its table entry (arguments already checked)."""
    common = {"in_channels": in_channels, "num_outputs": num_outputs}
    if spec.family == "resnet":
        return resnet(spec.depth, spatial_dims=spatial_dims, small_input=small_input, **common)
    if spec.family == "resnet_mini":
        return resnet_mini(spatial_dims=spatial_dims, small_input=small_input, **common)
    if spec.family == "densenet":
        return densenet121(spatial_dims=spatial_dims, small_input=small_input, **common)
    if spec.family == "acs_resnet":
        return acs_resnet(spec.depth, small_input=small_input, **common)
    if spec.family == "ctnet":
        return CTNet(in_channels, num_outputs, max_pool=True, widen_factor=spec.widen_factor)
    if spec.family == "small_cnn3d":
        return SmallCNN3D(in_channels, num_outputs)
    if spec.family in SEGMENTATION_FAMILIES:
        width = round(16 * spec.widen_factor)
        return segmentation_network(spec.family, spatial_dims=spatial_dims, width=width,
                                    in_channels=in_channels, out_channels=num_outputs)  # fmt: skip
    # resnet_25d
    if depth < 1:
        raise ModelError(f"model {name!r}: depth must be >= 1, got {depth}")
    net2d = resnet(spec.depth, spatial_dims=2, in_channels=in_channels * depth,
                   num_outputs=num_outputs, small_input=small_input)  # fmt: skip
    return SlicesAsChannels(net2d, depth)


def build_model(
    name: str,
    *,
    spatial_dims: int,
    in_channels: int,
    num_outputs: int,
    small_input: bool = True,
    depth: int = 28,
) -> nn.Module:
    """Build a model by name.

    Args:
        name: one of `available_models()` (case and hyphens ignored: "ResNet-18").
        spatial_dims: 2 or 3 (dimensions of the input images).
        in_channels: channels of each image (1 grey, 3 RGB).
        num_outputs: logits produced (classes, labels, or K-1 for a CORAL ordinal head).
        small_input: MedMNIST 28 px stem (3x3 stride 1, no max-pool) instead of ImageNet's.
        depth: number of slices, used only by 2.5D models.
    """
    key = resolve_model_name(name)
    if spatial_dims not in (2, 3):
        raise ModelError(f"model {name!r}: spatial_dims must be 2 or 3, got {spatial_dims}")
    if in_channels < 1 or num_outputs < 1:
        raise ModelError(
            f"model {name!r}: in_channels and num_outputs must be >= 1,"
            f" got {in_channels} and {num_outputs}"
        )
    options = {"spatial_dims": spatial_dims, "in_channels": in_channels,
               "num_outputs": num_outputs, "small_input": small_input, "depth": depth}  # fmt: skip
    if key not in MODELS:
        return _REGISTERED[key](**options)
    spec = MODELS[key]
    if spec.volumes_only and spatial_dims != 3:
        raise ModelError(f"model {key!r} is for 3D volumes (spatial_dims=3), got {spatial_dims}")
    return _build(key, spec, **options)


def is_segmentation_model(name: str) -> bool:
    """Whether a built-in model name is a segmentation network (per-voxel logits)."""
    spec = MODELS.get(resolve_model_name(name))
    return spec is not None and spec.family in SEGMENTATION_FAMILIES


def supports_channels_last(model: nn.Module) -> bool:
    """False for 2D networks fed 5D volumes (2.5D, CT-Net): no channels-last 3D format there."""
    return not isinstance(model, (SlicesAsChannels, CTNet))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
