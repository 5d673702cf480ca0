"""CT-Net-style whole-volume classifier and 2D -> 3D weight transfer.

`CTNet` (after Draelos et al., CT-Net / RAD-ChestCT): the volume (B, C, D, H, W) is cut into stacks
of `slices_per_stack` adjacent axial slices; each stack is one multi-channel 2D image for a MONAI
ResNet-18 (``spatial_dims=2``) feature extractor; the per-stack feature maps are put back in slice
order, (B, F, S, h, w), and 3D convolutions reduce them along the slice axis before global max
and mean pooling and one linear output per label (abnormality, and abnormality@location where the
data allows).

`transfer_2d_to_3d(model2d, model3d, mode=...)` copies a trained 2D ResNet's weights into a 3D
ResNet of the same layout: "inflate" (I3D: each k x k kernel repeated along depth and divided by
the depth, so a volume of identical slices gives the 2D activations) or "acs" (ACS convolutions:
output channels split in three groups whose 2D kernel acts in the axial, coronal or sagittal plane).
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
import torch.nn.functional as F
from monai.networks.nets import ResNet
from torch import nn

from radlens.errors import ModelError

logger = logging.getLogger(__name__)

TransferMode = Literal["inflate", "acs"]
TRANSFER_MODES: tuple[str, ...] = ("inflate", "acs")

__all__ = [
    "TRANSFER_MODES",
    "CTNet",
    "SmallCNN3D",
    "resnet18_2d",
    "transfer_2d_to_3d",
]


def resnet18_2d(
    in_channels: int,
    num_outputs: int = 1,
    *,
    widen_factor: float = 1.0,
    stem_stride: int = 2,
    max_pool: bool = False,
    spatial_dims: int = 2,
) -> ResNet:
    """A MONAI ResNet-18 (2D by default; 3D with the same layout for weight transfer).

    The stem is a 7x7 convolution with `stem_stride`; `max_pool` adds the ImageNet max-pool.
    """
    if widen_factor <= 0:
        raise ModelError(f"ResNet-18: widen_factor must be > 0, got {widen_factor}")
    return ResNet(
        block="basic",
        layers=[2, 2, 2, 2],
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=7,
        conv1_t_stride=stem_stride,
        no_max_pool=not max_pool,
        num_classes=num_outputs,
        widen_factor=widen_factor,
    )


def resnet_features(net: ResNet, x: torch.Tensor) -> torch.Tensor:
    """The feature map of a MONAI ResNet before global pooling (N, F, *spatial)."""
    x = net.act(net.bn1(net.conv1(x)))
    if not net.no_max_pool:
        x = net.maxpool(x)
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


class CTNet(nn.Module):
    """2D ResNet-18 on stacks of adjacent axial slices + 3D convolutions over the stacks.

    Args:
        in_channels: channels per voxel (1, or one per HU window).
        num_outputs: one logit per label.
        slices_per_stack: adjacent slices fed together as channels of one 2D image (3 in CT-Net);
            the depth is zero-padded at the top to a multiple of it.
        widen_factor: width of the ResNet-18 (1.0: 64-128-256-512 channels).
        stem_stride, max_pool: the 2D stem (stride 2 without max-pool keeps finer maps).
        reduce_channels: output channels of the 3D convolutions (kernel 3, stride 1 in-plane,
            stride 2 along the slice axis after the first).
        dropout: before the linear head (on the concatenated global max and mean).
    """

    def __init__(
        self,
        in_channels: int,
        num_outputs: int,
        *,
        slices_per_stack: int = 3,
        widen_factor: float = 1.0,
        stem_stride: int = 2,
        max_pool: bool = False,
        reduce_channels: tuple[int, ...] = (64, 32),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_outputs < 1 or slices_per_stack < 1:
            raise ModelError(
                "CTNet: in_channels, num_outputs and slices_per_stack must be >= 1; got "
                f"{in_channels}, {num_outputs}, {slices_per_stack}"
            )
        if not reduce_channels:
            raise ModelError("CTNet: reduce_channels needs at least one 3D convolution")
        self.in_channels = in_channels
        self.slices_per_stack = slices_per_stack
        self.backbone = resnet18_2d(
            in_channels * slices_per_stack,
            widen_factor=widen_factor,
            stem_stride=stem_stride,
            max_pool=max_pool,
        )
        self.backbone.fc = nn.Identity()  # features only; the head is below
        n_features = int(512 * widen_factor)
        layers: list[nn.Module] = []
        prev = n_features
        for i, ch in enumerate(reduce_channels):
            stride = (1, 1, 1) if i == 0 else (2, 1, 1)
            layers += [
                nn.Conv3d(prev, ch, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(ch),
                nn.ReLU(inplace=True),
            ]
            prev = ch
        self.reducer = nn.Sequential(*layers)
        # max finds a small lesion anywhere in the chest; the mean measures diffuse change
        self.global_max = nn.AdaptiveMaxPool3d(1)
        self.global_mean = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * prev, num_outputs)

    def stacks(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> (B * S, C * k, H, W): S stacks of k adjacent slices."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ModelError(
                f"CTNet expects volumes (B, {self.in_channels}, D, H, W); got {tuple(x.shape)}"
            )
        k = self.slices_per_stack
        pad = (-x.shape[2]) % k
        if pad:
            x = F.pad(x, (0, 0, 0, 0, 0, pad))
        b, c, d, h, w = x.shape
        s = d // k
        return x.reshape(b, c, s, k, h, w).permute(0, 2, 1, 3, 4, 5).reshape(b * s, c * k, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        feats = resnet_features(self.backbone, self.stacks(x))  # (B*S, F, h, w)
        _, f, h, w = feats.shape
        feats = feats.reshape(b, -1, f, h, w).permute(0, 2, 1, 3, 4)  # (B, F, S, h, w)
        reduced = self.reducer(feats)
        out = torch.cat([self.global_max(reduced), self.global_mean(reduced)], dim=1).flatten(1)
        return self.fc(self.dropout(out))


# ---- 2D -> 3D weight transfer -----------------------------------------------------------------
def _conv3d_weight(w2: torch.Tensor, shape3: torch.Size, mode: str) -> torch.Tensor:
    """A (O, I, kd, kh, kw) kernel from a (O, I, kh, kw) one."""
    o, i, kd, kh, kw = shape3
    if tuple(w2.shape) != (o, i, kh, kw):
        raise ModelError(
            f"2D kernel {tuple(w2.shape)} does not fit 3D kernel {tuple(shape3)} (expected "
            f"({o}, {i}, {kh}, {kw}))"
        )
    if mode == "inflate":
        return w2.unsqueeze(2).repeat(1, 1, kd, 1, 1) / kd
    # ACS: a third of the output channels each see the 2D kernel in one plane
    if not kd == kh == kw:
        raise ModelError(f"ACS transfer needs cubic 3D kernels; got {tuple(shape3)}")
    w3 = torch.zeros(shape3, dtype=w2.dtype)
    c = kd // 2
    groups = torch.tensor_split(torch.arange(o), 3)
    w3[groups[0], :, c, :, :] = w2[groups[0]]  # axial (H, W)
    w3[groups[1], :, :, c, :] = w2[groups[1]]  # coronal (D, W)
    w3[groups[2], :, :, :, c] = w2[groups[2]]  # sagittal (D, H)
    return w3


@torch.no_grad()
def transfer_2d_to_3d(
    model2d: nn.Module,
    model3d: nn.Module,
    *,
    mode: TransferMode = "inflate",
    skip: tuple[str, ...] = ("fc.",),
) -> dict[str, list[str]]:
    """Copy a 2D network's weights into a 3D network with the same module names.

    Convolution kernels are inflated along depth (``mode="inflate"``, I3D) or placed in the three
    orthogonal planes (``mode="acs"``); batch-norm, bias and linear tensors of equal shape are
    copied as they are. Parameters whose names start with a prefix in `skip` (the classifier by
    default) keep their initialisation. The first convolution's input channels may differ (a
    3-channel 2D stem into a 1-channel 3D one): the kernel is summed over input channels.

    Returns {"transferred": [...], "skipped": [...]} parameter names.
    """
    if mode not in TRANSFER_MODES:
        raise ModelError(f"transfer mode {mode!r} unknown; expected one of {TRANSFER_MODES}")
    src = model2d.state_dict()
    dst = model3d.state_dict()
    done, skipped = [], []
    for name, target in dst.items():
        if name.startswith(skip) or name not in src:
            skipped.append(name)
            continue
        w = src[name]
        if target.ndim == 5 and w.ndim == 4:
            if w.shape[1] != target.shape[1] and target.shape[1] == 1:
                w = w.sum(dim=1, keepdim=True)
            dst[name] = _conv3d_weight(w, target.shape, mode).to(target.dtype)
        elif w.shape == target.shape:
            dst[name] = w.clone()
        else:
            raise ModelError(
                f"cannot transfer {name!r}: 2D shape {tuple(w.shape)} vs 3D {tuple(target.shape)}"
            )
        done.append(name)
    if not any(dst[n].ndim == 5 for n in done):
        raise ModelError("transfer_2d_to_3d: no convolution kernels matched between the models")
    model3d.load_state_dict(dst)
    logger.info("2D->3D transfer (%s): %d tensors copied, %d kept", mode, len(done), len(skipped))
    return {"transferred": done, "skipped": skipped}


class SmallCNN3D(nn.Module):
    """A plain 3D CNN for CPU demos: conv-BN-ReLU blocks, stride (1, 2, 2) in the stem (the
    slices are already thick), max-pools of 2, then global max + mean and one linear output.

    On the synthetic cohort it learns faster and better than the quarter-width CT-Net (whose
    7x7/2 stem plus max-pool leaves 16x16 maps of 64x64 slices before any 3D context).
    """

    def __init__(self, in_channels: int, num_outputs: int, *, width: int = 16) -> None:
        super().__init__()
        if in_channels < 1 or num_outputs < 1 or width < 1:
            raise ModelError(
                "SmallCNN3D: in_channels, num_outputs and width must be >= 1; got "
                f"{in_channels}, {num_outputs}, {width}"
            )
        self.in_channels = in_channels

        def block(i: int, o: int, stride: tuple[int, int, int] = (1, 1, 1)) -> list[nn.Module]:
            conv = nn.Conv3d(i, o, 3, stride=stride, padding=1, bias=False)
            return [conv, nn.BatchNorm3d(o), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *block(in_channels, w, (1, 2, 2)),
            *block(w, 2 * w),
            nn.MaxPool3d(2),
            *block(2 * w, 4 * w),
            nn.MaxPool3d(2),
            *block(4 * w, 8 * w),
            nn.MaxPool3d(2),
            *block(8 * w, 8 * w),
        )
        self.fc = nn.Linear(16 * w, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ModelError(
                f"SmallCNN3D expects volumes (B, {self.in_channels}, D, H, W); got {tuple(x.shape)}"
            )
        h = self.features(x)
        return self.fc(torch.cat([h.amax(dim=(2, 3, 4)), h.mean(dim=(2, 3, 4))], dim=1))
