"""Where the cells of a CNN's feature map sit on its input, and maps upsampled to sit there.

A layer of kernel k, stride s, padding p and dilation d centres its output cell j on input
coordinate s * j + (k - 1) / 2 * d - p. Chained along a network's main path this puts cell j of
a feature map at ``offset + stride * j`` (pixel-centre coordinates). A ResNet's same-padded odd
kernels give offset 0: cell j is centred on pixel stride * j. The usual CAM upsampling
(bilinear / trilinear with ``align_corners=False``, e.g. MONAI's default upsampler) draws cell j
at stride * j + (stride - 1) / 2 instead: half a cell down and right of its receptive field's
centre (3.5 pixels at stride 8, 15.5 at stride 32), which is enough to move a map's peak off a
thin or small finding. `aligned_upsample` draws each cell where it looks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import DenseNet, ResNet
from torch import nn

from radlens.errors import ModelError

__all__ = ["CellGrid", "aligned_upsample", "backbone_grid", "chain_grid", "traced_grid"]

_SPATIAL = (nn.Conv2d, nn.Conv3d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)


class CellGrid(tuple):
    """(stride, offset), each a tuple with one float per spatial dimension."""

    @property
    def stride(self) -> tuple[float, ...]:
        return self[0]

    @property
    def offset(self) -> tuple[float, ...]:
        return self[1]


def _per_dim(value, dims: int) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),) * dims
    if isinstance(value, str):
        raise ModelError(f"padding {value!r}: the cell grid needs numeric padding")
    return tuple(float(v) for v in value)


def chain_grid(layers: Iterable[nn.Module], spatial_dims: int) -> CellGrid:
    """The cell grid after `layers` (convolutions and pools in main-path order; others skipped)."""
    stride = [1.0] * spatial_dims
    offset = [0.0] * spatial_dims
    for layer in layers:
        if not isinstance(layer, _SPATIAL):
            continue
        k = _per_dim(layer.kernel_size, spatial_dims)
        s = _per_dim(layer.stride, spatial_dims)
        p = _per_dim(layer.padding, spatial_dims)
        d = _per_dim(getattr(layer, "dilation", 1), spatial_dims)
        for i in range(spatial_dims):
            offset[i] += stride[i] * ((k[i] - 1) / 2 * d[i] - p[i])
            stride[i] *= s[i]
    return CellGrid((tuple(stride), tuple(offset)))


def _resnet_path(net: ResNet, stage: int) -> list[nn.Module]:
    path: list[nn.Module] = [net.conv1]
    if not net.no_max_pool:
        path.append(net.maxpool)
    for name in ("layer1", "layer2", "layer3", "layer4")[:stage]:
        for block in getattr(net, name):
            # the block's own convolutions, in order; the shortcut (a Sequential) is parallel
            path += [m for m in block.children() if isinstance(m, _SPATIAL)]
    return path


def backbone_grid(net: nn.Module, spatial_dims: int, stage: int = 4) -> CellGrid:
    """The cell grid of a MONAI ResNet's stage `stage` (1-4) or of a DenseNet's last features."""
    if isinstance(net, ResNet):
        if stage not in (1, 2, 3, 4):
            raise ModelError(f"ResNet stage {stage}: expected 1, 2, 3 or 4")
        return chain_grid(_resnet_path(net, stage), spatial_dims)
    if isinstance(net, DenseNet):
        return chain_grid(net.features.modules(), spatial_dims)
    raise ModelError(f"{type(net).__name__}: the cell grid is known for ResNet and DenseNet only")


@torch.no_grad()
def traced_grid(model: nn.Module, x: torch.Tensor, layer: str) -> CellGrid | None:
    """The cell grid of `model`'s output at `layer` (a name from ``named_modules``) for inputs
    shaped like `x`, from one forward pass of ``x[:1]``: the convolutions and pools that ran before
    the layer's output, in call order, keeping those whose input has the spatial shape the chain
    has reached (a ResNet shortcut sees the block's input, so it is left out). None when the
    chain does not end at the layer's own output shape (resampling outside modules, reshapes)."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ModelError(f"layer {layer!r} is not a module of {type(model).__name__}")
    calls: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...]]] = []
    target: list[tuple[int, ...]] = []

    def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not target and isinstance(module, _SPATIAL):
            calls.append((module, tuple(inputs[0].shape[2:]), tuple(output.shape[2:])))

    def done(_module: nn.Module, _inputs: tuple, output: object) -> None:
        if not target and isinstance(output, torch.Tensor):
            target.append(tuple(output.shape[2:]))

    handles = [m.register_forward_hook(record) for m in modules.values() if isinstance(m, _SPATIAL)]
    handles.append(modules[layer].register_forward_hook(done))
    training = model.training
    try:
        model.eval()
        model(x[:1])
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    if not target or not calls:
        return None
    current = tuple(x.shape[2:])
    if calls[0][1] != current and calls[0][1] == current[-len(calls[0][1]) :]:
        current = calls[0][1]  # 2.5D: slices as channels, the network sees (H, W)
    path = []
    for module, shape_in, shape_out in calls:
        if shape_in == current:
            path.append(module)
            current = shape_out
    if current != target[0]:
        return None
    return chain_grid(path, len(current))


def aligned_upsample(
    maps: torch.Tensor, size: Sequence[int], grid: CellGrid, mode: str = "bilinear"
) -> torch.Tensor:
    """(N, C, *cells) -> (N, C, *size): input pixel q takes the map's value at cell coordinate
    (q - offset) / stride (linear interpolation, border cells held beyond the edge)."""
    dims = maps.ndim - 2
    if dims not in (2, 3) or len(size) != dims or len(grid.stride) != dims:
        raise ModelError(
            f"aligned_upsample: maps {tuple(maps.shape)}, size {tuple(size)}, grid of"
            f" {len(grid.stride)} dimensions; expected (N, C, *cells) with 2 or 3 of each"
        )
    axes = []
    for n_out, n_in, s, o in zip(size, maps.shape[2:], grid.stride, grid.offset, strict=True):
        cell = (torch.arange(int(n_out), dtype=torch.float32, device=maps.device) - o) / s
        axes.append(2.0 * cell / max(int(n_in) - 1, 1) - 1.0)  # align_corners=True coordinates
    mesh = torch.meshgrid(*axes, indexing="ij")
    coords = torch.stack(mesh[::-1], dim=-1)  # grid_sample wants (x, y[, z]) last
    coords = coords.unsqueeze(0).expand(maps.shape[0], *coords.shape)
    return F.grid_sample(maps.float(), coords, mode=mode, padding_mode="border", align_corners=True)
