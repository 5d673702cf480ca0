"""ACS convolutions: 2D kernels applied along the axial, coronal and sagittal planes of a volume.

Following Yang et al., "Reinforcing 3D understanding with ACS convolutions" (IEEE JBHI 2021), an
`ACSConv` keeps a 2D kernel (out, in, k, k) and splits its output channels into three groups:
the first runs as a (1, k, k) 3D kernel (axial plane, H x W), the second as (k, 1, k) (coronal,
D x W), the third as (k, k, 1) (sagittal, D x H); their outputs are concatenated. The weights keep
their 2D values (stored as (out, in, 1, k, k)), so a 2D network converts into a 3D one with the
same parameters (`convert_to_acs`) and 2D-trained weights load unchanged
(`acs_model.load_state_dict(model_2d.state_dict())`).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ModelError
from radlens.models.backbones import resnet

__all__ = ["ACSConv", "acs_resnet", "acs_split", "convert_to_acs"]


def _pair(value: int | tuple[int, ...], what: str) -> int:
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ModelError(f"ACS conversion needs square 2D kernels; got {what}={value}")
    return int(value[0])


def acs_split(channels: int) -> tuple[int, int, int]:
    """Output channels of the axial, coronal and sagittal groups (the official split)."""
    third = channels // 3
    return (third + (channels % 3 > 0), third + (channels % 3 > 1), third)


class ACSConv(nn.Module):
    """A 3D convolution made of one 2D kernel applied in the three orthogonal planes."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ModelError(f"ACSConv: channels {in_channels}->{out_channels} vs groups {groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups = dilation, groups
        k = kernel_size
        # the 2D kernel, stored as (out, in, 1, k, k) so that 3D memory formats apply to it
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, 1, k, k))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt((in_channels // groups) * k * k)
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d) -> ACSConv:
        """An ACSConv with the 2D layer's hyper-parameters and (copied) weights."""
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ModelError(f"ACS conversion supports zero-padded convolutions; got {conv}")
        acs = cls(
            conv.in_channels,
            conv.out_channels,
            _pair(conv.kernel_size, "kernel_size"),
            _pair(conv.stride, "stride"),
            _pair(conv.padding, "padding"),
            _pair(conv.dilation, "dilation"),
            conv.groups,
            conv.bias is not None,
        )
        with torch.no_grad():
            acs.weight.copy_(conv.weight.unsqueeze(2))
            if conv.bias is not None:
                acs.bias.copy_(conv.bias)
        return acs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ModelError(f"ACSConv expects (B, C, D, H, W) volumes; got {tuple(x.shape)}")
        w_a, w_c, w_s = torch.split(self.weight[:, :, 0], acs_split(self.out_channels))
        b_a = b_c = b_s = None
        if self.bias is not None:
            b_a, b_c, b_s = torch.split(self.bias, acs_split(self.out_channels))
        p, s, d, g = self.padding, self.stride, self.dilation, self.groups
        parts = []
        for w, b, dim, pad in (
            (w_a, b_a, 2, (0, p, p)),  # axial: kernel over (H, W)
            (w_c, b_c, 3, (p, 0, p)),  # coronal: kernel over (D, W)
            (w_s, b_s, 4, (p, p, 0)),  # sagittal: kernel over (D, H)
        ):
            if w.shape[0] == 0:
                continue
            parts.append(F.conv3d(x, w.unsqueeze(dim), b, s, pad, d, g))
        return torch.cat(parts, dim=1)

    def _load_from_state_dict(
        self, state_dict: dict, prefix: str, *args: object, **kwargs: object
    ) -> None:
        """Accept 2D kernels (out, in, k, k), e.g. from a 2D-trained checkpoint."""
        key = prefix + "weight"
        if key in state_dict and state_dict[key].ndim == 4:
            state_dict[key] = state_dict[key].unsqueeze(2)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size},"
            f" stride={self.stride}, padding={self.padding}, split={acs_split(self.out_channels)}"
        )


def _convert(module: nn.Module) -> nn.Module:
    """The 3D counterpart of one 2D layer (weights and buffers carried over)."""
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise ModelError("ACS conversion of grouped 2D convolutions is not supported")
        return ACSConv.from_conv2d(module)
    if isinstance(module, nn.BatchNorm2d):
        bn = nn.BatchNorm3d(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats)  # fmt: skip
        bn.load_state_dict(module.state_dict())
        return bn
    if isinstance(module, nn.MaxPool2d):
        return nn.MaxPool3d(module.kernel_size, module.stride, module.padding, module.dilation,
                            ceil_mode=module.ceil_mode)  # fmt: skip
    if isinstance(module, nn.AvgPool2d):
        return nn.AvgPool3d(module.kernel_size, module.stride, module.padding, module.ceil_mode)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        return nn.AdaptiveAvgPool3d(size if isinstance(size, int) else size[0])
    if isinstance(module, nn.AdaptiveMaxPool2d):
        size = module.output_size
        return nn.AdaptiveMaxPool3d(size if isinstance(size, int) else size[0])
    if isinstance(module, nn.Dropout2d):
        return nn.Dropout3d(module.p)
    return module


def convert_to_acs(model: nn.Module) -> nn.Module:
    """A 3D copy of a 2D network: Conv2d -> ACSConv, BatchNorm2d -> BatchNorm3d, 2D pools -> 3D.

    The copy has exactly the parameters of the original (2D-shaped kernels), so its state dict
    loads 2D-trained weights. The original model is left unchanged.
    """
    model = copy.deepcopy(model)

    def walk(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            new = _convert(child)
            if new is not child:
                setattr(parent, name, new)
            else:
                walk(child)

    root = _convert(model)
    if root is not model:
        return root
    walk(model)
    return model


def acs_resnet(
    depth: int, *, in_channels: int, num_outputs: int, small_input: bool = True
) -> nn.Module:
    """ResNet-18 / 50 with ACS convolutions (a MONAI 2D ResNet, converted)."""
    if depth not in (18, 50):
        raise ModelError(f"ACS ResNet depth must be 18 or 50, got {depth}")
    net2d = resnet(depth, spatial_dims=2, in_channels=in_channels, num_outputs=num_outputs,
                   small_input=small_input)  # fmt: skip
    return convert_to_acs(net2d)
