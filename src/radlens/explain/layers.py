"""Which layer Grad-CAM explains: probe every module once, pick the last one that keeps the input's
layout and enough spatial detail (`select_layer`), or check a layer given by name.

For 3D inputs the layer must keep at least 1/`MAX_STRIDE_3D` of the input's size along every axis:
the last block of a small 3D CNN is often 4x3x3 voxels, a grid too coarse to point at a lesion (on
the synthetic chest-CT cohort its maps never hit a pleural effusion, while the block before it, at
stride 8, mostly does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from radlens.core import suggest
from radlens.errors import ConfigError, DataError, ModelError

log = logging.getLogger(__name__)

#: coarsest feature map (input size / map size, per axis) the automatic choice takes for 3D inputs
MAX_STRIDE_3D = 8


@dataclass(frozen=True)
class LayerInfo:
    """One module seen during a probe forward pass."""

    name: str
    output_shape: tuple[int, ...]
    calls: int


def as_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A float (N, C, H, W) or (N, C, D, H, W) tensor of at least one image, else DataError."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim not in (4, 5):
        raise DataError(
            f"images have shape {tuple(x.shape)}; expected a channel-first batch (N, C, H, W) for"
            " 2D or (N, C, D, H, W) for 3D models"
        )
    if x.shape[0] == 0:
        raise DataError("images: empty batch; expected at least one image")
    return x.float()


class Recorder:
    """Forward hooks on every named module: each module's last tensor output, its call count, and
    the order in which modules finished (children before the container holding them)."""

    def __init__(self, model: nn.Module) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self.order: list[str] = []
        self._handles = [
            module.register_forward_hook(self._hook(name))
            for name, module in model.named_modules()
            if name
        ]

    def _hook(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor):
                if name in self.outputs:
                    self.order.remove(name)
                self.order.append(name)
                self.outputs[name] = output

        return hook

    def layers(self) -> list[LayerInfo]:
        return [LayerInfo(n, tuple(self.outputs[n].shape), self.calls[n]) for n in self.order]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def probe_layers(model: nn.Module, images: np.ndarray | torch.Tensor) -> list[LayerInfo]:
    """Run `model` once on the first image (no gradients) and list every module that returned a
    tensor, in the order the modules finished (children before their container)."""
    x = as_batch(images)[:1]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    recorder = Recorder(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x.to(device))
    finally:
        recorder.remove()
        model.train(was_training)
    return recorder.layers()


def select_layer(
    layers: Sequence[LayerInfo],
    input_shape: Sequence[int],
    *,
    max_stride_3d: int | None = MAX_STRIDE_3D,
) -> str:
    """Name of the last module whose output keeps the input's layout (N, C, *spatial) with more
    than one spatial position; modules called more than once per forward pass (shared
    activations) are skipped because their hooks would pair one call's activation with another
    call's gradient. For 3D inputs, the last such module whose map is at most `max_stride_3d`
    times smaller than the input along every axis is preferred (None: no limit). 2.5D models (3D
    input, only 2D feature maps) fall back to (N, C, H, W)."""
    ndim, batch = len(input_shape), input_shape[0]
    spatial = tuple(int(s) for s in input_shape[2:])

    def usable(info: LayerInfo, dims: int) -> bool:
        return info.calls == 1 and len(info.output_shape) == dims and info.output_shape[0] == batch

    def fine(info: LayerInfo, stride: int) -> bool:
        out = info.output_shape[2:]
        return len(out) == len(spatial) and all(
            o >= -(-s // stride) for o, s in zip(out, spatial, strict=True)
        )

    candidates = [info for info in layers if usable(info, ndim)]
    if not candidates and ndim == 5:
        candidates = [info for info in layers if usable(info, 4)]
    extended = [info for info in candidates if int(np.prod(info.output_shape[2:])) > 1]
    if extended and ndim == 5 and max_stride_3d is not None:
        if max_stride_3d < 1:
            raise ConfigError(f"max_stride_3d {max_stride_3d} must be >= 1 (or None: no limit)")
        detailed = [info for info in extended if fine(info, max_stride_3d)]
        if detailed and detailed[-1].name != extended[-1].name:
            log.info(
                "Grad-CAM: %s %s is coarser than 1/%d of the input %s; using %s %s",
                extended[-1].name,
                extended[-1].output_shape[2:],
                max_stride_3d,
                spatial,
                detailed[-1].name,
                detailed[-1].output_shape[2:],
            )
        extended = detailed or extended
    if extended:
        return extended[-1].name
    if candidates:
        name = candidates[-1].name
        log.warning("no layer keeps spatial extent > 1; using %s (1-voxel map)", name)
        return name
    layout = "(N, C, D, H, W)" if ndim == 5 else "(N, C, H, W)"
    raise ModelError(
        f"no module of the model returns a {layout} feature map for this input;"
        " choose one with --layer NAME (layer= in Python; see model.named_modules())"
    )


def find_target_layer(model: nn.Module, images: np.ndarray | torch.Tensor) -> str:
    """The layer `CamExplainer` picks when none is given (see `select_layer`)."""
    x = as_batch(images)[:1]
    return select_layer(probe_layers(model, x), tuple(x.shape))


def check_layer(model: nn.Module, layer: str) -> str:
    """Return `layer` if `model` has a module of that name, else raise ModelError (did-you-mean)."""
    names = [name for name, _ in model.named_modules() if name]
    if layer in names:
        return layer
    hint = suggest(layer, names, n=3)
    raise ModelError(f"layer {layer!r} not found in {type(model).__name__}{hint}")
