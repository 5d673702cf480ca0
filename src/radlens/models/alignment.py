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

import weakref
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from monai.visualize.visualizer import default_upsampler
from torch import nn

from radlens.errors import ModelError

__all__ = ["CellGrid", "aligned_upsample", "chain_grid", "traced_grid", "upsample_map"]

#: traced grids per model (weakly held), then per (layer, input shape): the geometry of a model
#: does not change with its weights, so each is traced once
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SPATIAL = (nn.Conv2d, nn.Conv3d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)


class CellGrid(NamedTuple):
    """Cell j of a map sits on input coordinate offset + stride * j (one float per dimension)."""

    stride: tuple[float, ...]
    offset: tuple[float, ...]


def _per_dim(value, dims: int) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),) * dims
    return tuple(float(v) for v in value)


def _padding(layer: nn.Module, k: tuple[float, ...], d: tuple[float, ...]) -> tuple[float, ...]:
    """Leading padding per dimension; "same" pads d * (k - 1) // 2 before (PyTorch's split)."""
    pad = layer.padding
    if pad == "valid":
        return (0.0,) * len(k)
    if pad == "same":
        return tuple(float(int(dd * (kk - 1)) // 2) for kk, dd in zip(k, d, strict=True))
    return _per_dim(pad, len(k))


def _step(layer: nn.Module, dims: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """One layer's stride and centre shift ((k - 1) / 2 * d - p), per dimension."""
    k = _per_dim(layer.kernel_size, dims)
    s = _per_dim(layer.stride or layer.kernel_size, dims)  # a pool's stride defaults to k
    d = _per_dim(getattr(layer, "dilation", 1), dims)
    p = _padding(layer, k, d)
    return s, tuple((k[i] - 1) / 2 * d[i] - p[i] for i in range(dims))


def chain_grid(layers: Iterable[nn.Module], spatial_dims: int) -> CellGrid:
    """The cell grid after `layers` (convolutions and pools in main-path order; others skipped)."""
    stride = [1.0] * spatial_dims
    offset = [0.0] * spatial_dims
    for layer in layers:
        if not isinstance(layer, _SPATIAL):
            continue
        s, shift = _step(layer, spatial_dims)
        for i in range(spatial_dims):
            offset[i] += stride[i] * shift[i]
            stride[i] *= s[i]
    return CellGrid(tuple(stride), tuple(offset))


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
    known = _TRACED.setdefault(model, {})
    key = (layer, tuple(x.shape[1:]))
    if key not in known:
        known[key] = _trace(model, modules, x, layer)
    return known[key]


def _trace(model: nn.Module, modules: dict, x: torch.Tensor, layer: str) -> CellGrid | None:
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
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        model(x[:1])
    finally:
        for m, mode in modes.items():
            m.training = mode
        for h in handles:
            h.remove()
    if not target or not calls:
        return None
    return _walk(calls, tuple(x.shape[2:]), target[0])


def _walk(calls: list, current: tuple[int, ...], target: tuple[int, ...]) -> CellGrid | None:
    """The main path of the traced calls (see `traced_grid`), or None if it is ambiguous: a
    parallel branch with the same shapes as a kept layer but another stride or centre."""
    if calls[0][1] != current and calls[0][1] == current[-len(calls[0][1]) :]:
        current = calls[0][1]  # 2.5D: slices as channels, the network sees (H, W)
    dims = len(current)
    path, kept = [], []
    for module, shape_in, shape_out in calls:
        if len(shape_in) != dims or len(shape_out) != dims:
            return None  # the layout changes on the way (e.g. 2D stacks -> 3D)
        step = _step(module, dims)
        if shape_in == current:
            path.append(module)
            kept.append((shape_in, shape_out, step))
            current = shape_out
        elif any(i == shape_in and o == shape_out and st != step for i, o, st in kept):
            return None
    if current != target:
        return None
    return chain_grid(path, dims)


def upsample_map(
    raw: torch.Tensor, spatial: tuple[int, ...], grid: CellGrid | None = None
) -> torch.Tensor:
    """(N, 1, *feature_shape) -> (N, 1, *spatial) by (bi/tri)linear interpolation in the same axis
    order: with the layer's `grid` each cell on its receptive field's centre (`aligned_upsample`),
    without it as ``align_corners=False`` draws it. A 2D map of a 3D input (2.5D models: slices as
    channels) is upsampled to (H, W) and repeated along depth, since such a model has no notion of
    which slice mattered."""

    def up(size: tuple[int, ...]) -> torch.Tensor:
        if grid is not None and len(grid.stride) == len(size):
            return aligned_upsample(raw, size, grid)
        return default_upsampler(size)(raw)

    if raw.ndim - 2 == len(spatial):
        return up(spatial)
    if raw.ndim - 2 == len(spatial) - 1:
        plane = up(spatial[1:])
        return plane.unsqueeze(2).expand(-1, -1, spatial[0], *spatial[1:])
    raise ModelError(
        f"feature map of shape {tuple(raw.shape)} cannot be upsampled to input shape {spatial}"
    )


def aligned_upsample(maps: torch.Tensor, size: Sequence[int], grid: CellGrid) -> torch.Tensor:
    """(N, C, *cells) -> (N, C, *size) float32: input pixel q takes the map's value at cell
    coordinate (q - offset) / stride, linear in each axis (bi/trilinear; border cells held beyond
    the edge), one axis at a time."""
    dims = maps.ndim - 2
    if dims not in (2, 3) or len(size) != dims or len(grid.stride) != dims:
        raise ModelError(
            f"aligned_upsample: maps {tuple(maps.shape)}, size {tuple(size)}, grid of"
            f" {len(grid.stride)} dimensions; expected (N, C, *cells) with 2 or 3 of each"
        )
    out = maps.float()
    letters = "xyz"[:dims]
    for axis, (n_out, n_in, s, o) in enumerate(
        zip(size, maps.shape[2:], grid.stride, grid.offset, strict=True)
    ):
        w = _weights(int(n_out), int(n_in), s, o, maps.device)  # (n_out, n_in)
        src = "nc" + letters
        dst = src.replace(letters[axis], "q")
        out = torch.einsum(f"q{letters[axis]},{src}->{dst}", w, out)
    return out


def _weights(n_out: int, n_in: int, stride: float, offset: float, device) -> torch.Tensor:
    """Linear interpolation weights (n_out, n_in) of output pixel q at cell (q - offset) / stride,
    held at the first / last cell beyond the edges."""
    u = ((torch.arange(n_out, dtype=torch.float32, device=device) - offset) / stride).clamp(
        0, n_in - 1
    )
    w = torch.zeros(n_out, n_in, dtype=torch.float32, device=device)
    if n_in == 1:
        return w.fill_(1.0)
    lo = u.floor().long().clamp(max=n_in - 2)
    frac = u - lo
    rows = torch.arange(n_out, device=device)
    w[rows, lo] = 1.0 - frac
    w[rows, lo + 1] = frac
    return w
