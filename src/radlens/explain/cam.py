"""Grad-CAM, Grad-CAM++ and HiResCAM for 2D and 3D classifiers, through `monai.visualize`.

MONAI computes the maps (`GradCAM.compute_map`, `GradCAMpp.compute_map`); HiResCAM (Draelos &
Carin 2020: the gradient multiplied element-wise with the activation, then summed over channels,
instead of Grad-CAM's spatially averaged gradient; for a model ending in global pooling + a linear
layer it shows exactly which positions raised the score) is the same `GradCAM` with that one line
changed. This module wraps them to avoid three pitfalls users hit:

* MONAI's default post-processing (`default_normalizer`) maps (min, max) to (1, 0), so high
  attention is drawn as *low*. We post-process with the identity and scale each map by its own
  maximum: 0 = no positive evidence, 1 = the hottest voxel (maps are ReLU'd, so never negative).
* Maps come out at feature-map resolution. We upsample them (bilinear / trilinear) to the
  input's spatial shape in the input's own axis order, so a 3D map of a (Z, Y, X) volume is
  (Z, Y, X) too, with each cell drawn on its receptive field's centre (`radlens.models.traced_grid`:
  a ResNet's cell j sits on pixel stride * j, which ``align_corners=False`` interpolation, the
  usual CAM upsampling, draws half a cell down-right; layers whose grid cannot be traced keep it).
* MONAI's `ModelWithHooks` registers hooks it never removes and back-propagates through the whole
  network. `_CamHooks` keeps the handles (removed by `close()`), and takes the gradient of the class
  score with respect to the target activation only (`torch.autograd.grad`), which skips the
  backward pass through every earlier layer: a 3D CT map costs little more than one forward pass.

Layers can be fused (`radlens.explain.fusion`: "features.5+features.9" the mean of their maps,
"features.5*features.9" the geometric mean, evidence only where both agree) and any map
multiplied by guided backprop ("guided-gradcam", "guided-hirescam"; `radlens.explain.guided`);
"input-x-gradient" is the smoothed gradient x input at the input's own
grid (no layer). The target layer is chosen during the first forward pass (every
module's output is recorded once) by `radlens.explain.layers.select_layer`, or given by name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from monai.visualize import GradCAM, GradCAMpp, ModelWithHooks
from monai.visualize.visualizer import default_upsampler
from torch import nn

from radlens.core import suggest
from radlens.errors import ConfigError, ModelError
from radlens.explain.fusion import fuse_maps, per_case_max, split_layers
from radlens.explain.guided import (
    INPUT_X_GRADIENT_SIGMA,
    guided_backprop,
    input_x_gradient,
    smooth_maps,
)
from radlens.explain.layers import Recorder, as_batch, select_layer
from radlens.models import CellGrid, traced_grid, upsample_map

log = logging.getLogger(__name__)

CamMethod = Literal[
    "gradcam", "gradcampp", "hirescam", "guided-gradcam", "guided-hirescam", "input-x-gradient"
]
CAM_METHODS: tuple[str, ...] = (
    "gradcam",
    "gradcampp",
    "hirescam",
    "guided-gradcam",
    "guided-hirescam",
    "input-x-gradient",
)
#: the layer name of maps taken at the input (method "input-x-gradient")
INPUT_LAYER = "input"


@dataclass
class CamResult:
    """Heatmaps for a batch: `maps` (N, *spatial) float32 in [0, 1] at the input's resolution and
    axis order (1 = hottest); `raw_max` is each map's maximum before scaling (0: no evidence);
    `class_idx` the explained output column per case; `scores` the model's logits (N, K)."""

    maps: np.ndarray
    layer: str
    method: str
    class_idx: np.ndarray
    raw_max: np.ndarray
    scores: np.ndarray


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def normalise_method(method: str) -> CamMethod:
    """One of `CAM_METHODS`; accepts spellings such as 'Grad-CAM++' or 'guided_hirescam'."""

    def squash(name: str) -> str:
        return name.lower().replace("-", "").replace("_", "").replace(" ", "").replace("++", "pp")

    known = {squash(m): m for m in CAM_METHODS}
    key = squash(str(method))
    if key not in known:
        raise ConfigError(
            f"CAM method {method!r} unknown; expected one of {CAM_METHODS}"
            f"{suggest(str(method).lower(), CAM_METHODS)}"
        )
    return known[key]  # type: ignore[return-value]


class HiResCAM(GradCAM):
    """HiResCAM: ReLU(sum over channels of gradient x activation), position by position."""

    def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):  # type: ignore[override]
        _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
        return torch.relu((grad[layer_idx] * acti[layer_idx]).sum(1, keepdim=True))


class _CamHooks(ModelWithHooks):
    """`ModelWithHooks` that keeps its hook handle, explains one output column per case, and gets
    the gradient at the target layer only (no backward pass through the rest of the network)."""

    def __init__(self, model: nn.Module, layer: str | None) -> None:
        # deliberately not calling super().__init__: it registers hooks without keeping handles.
        self.model = model
        self.target_layers: tuple[str, ...] = (layer,) if layer else ()
        self.register_forward = True
        self.register_backward = True
        self.activations: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self.score: torch.Tensor | None = None
        self.class_idx: torch.Tensor | None = None
        self.logits: torch.Tensor | None = None
        self._handle: torch.utils.hooks.RemovableHandle | None = None
        if layer:
            self._attach(layer)
        # an in-place op after the target layer would overwrite the saved activation
        self._inplace = [m for m in model.modules() if getattr(m, "inplace", False) is True]
        for m in self._inplace:
            m.inplace = False

    def _attach(self, layer: str) -> None:
        module = dict(self.model.named_modules())[layer]
        self._handle = module.register_forward_hook(self.forward_hook(layer))
        self.target_layers = (layer,)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        for m in self._inplace:
            m.inplace = True
        self._inplace = []

    def __call__(self, x, class_idx=None, retain_graph=False, **kwargs):  # type: ignore[override]
        train = self.model.training
        self.model.eval()
        # first call without a layer: record every module's output in this same forward pass and
        # pick the layer from them (no separate probe pass)
        recorder = Recorder(self.model) if not self.target_layers else None
        try:
            with torch.enable_grad():
                # an input that needs grad keeps a graph even when every weight is frozen
                logits = self.model(x.detach().requires_grad_(True), **kwargs)
                if recorder is not None:
                    recorder.remove()
                    chosen = select_layer(recorder.layers(), tuple(x.shape))
                    log.info("Grad-CAM target layer: %s", chosen)
                    self.activations[chosen] = recorder.outputs[chosen]
                    self._attach(chosen)
                    recorder = None
                layer = self.target_layers[0]
                if logits.ndim != 2:
                    raise ModelError(
                        f"model output has shape {tuple(logits.shape)}; expected (N, classes)"
                    )
                if class_idx is None:
                    idx = logits.argmax(1)
                else:
                    idx = torch.as_tensor(class_idx, device=logits.device).long().reshape(-1)
                    idx = idx.expand(logits.shape[0]) if idx.numel() == 1 else idx
                n_out = logits.shape[1]
                if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n_out):
                    raise ConfigError(
                        f"class_idx {idx.tolist()} out of range; the model has {n_out} outputs"
                        f" (0..{n_out - 1})"
                    )
                acti = self.activations[layer]
                picked = logits.gather(1, idx[:, None])
                # shape (N, 1, ..., 1) so GradCAM++'s exp(score) * grad broadcasts per case
                self.score = picked.view(-1, *([1] * (acti.ndim - 1)))
                self.class_idx = idx
                self.logits = logits.detach()
                (grad,) = torch.autograd.grad(
                    self.score.sum(), acti, retain_graph=retain_graph, allow_unused=True
                )
        finally:
            if recorder is not None:
                recorder.remove()
            self.model.train(train)
        if grad is None:
            raise ModelError(f"the model's output does not depend on layer {layer!r}")
        self.activations.pop(layer, None)  # drop the graph-holding reference between calls
        return logits, (acti.detach(),), (grad.detach(),)


class _LayerCam:
    """MONAI's GradCAM / GradCAM++ / HiResCAM of one model at one layer (None: chosen on the
    first call), on our hooks."""

    def __init__(self, model: nn.Module, base: str, layer: str | None) -> None:
        self.hooks = _CamHooks(model, layer)
        cls = {"gradcampp": GradCAMpp, "hirescam": HiResCAM}.get(base, GradCAM)
        self.cam = cls(
            nn_module=self.hooks,
            target_layers=layer or "",  # unused: the hooks object is given
            upsampler=default_upsampler,
            postprocessing=_identity,
        )

    def grid(self, x: torch.Tensor) -> CellGrid | None:
        """Where the layer's cells sit on inputs shaped like `x` (traced once per model, layer
        and input shape)."""
        return traced_grid(self.hooks.model, x, self.hooks.target_layers[0])

    def __call__(self, x: torch.Tensor, class_idx: torch.Tensor | None) -> torch.Tensor:
        """(N, *spatial) raw map (logit units) upsampled to the input, >= 0."""
        raw = self.cam.compute_map(x, class_idx=class_idx)
        up = upsample_map(raw, tuple(x.shape[2:]), self.grid(x))
        return up[:, 0].detach().float().clamp(min=0)


class CamExplainer:
    """Grad-CAM / Grad-CAM++ / HiResCAM maps of one model at one layer, or fused over several
    (`layer="features.5+features.9"`: the mean of the maps each divided by its own maximum,
    "features.5*features.9" their geometric mean, times the mean of those maxima, so evidence
    stays in logit units; `radlens.explain.fusion`); "guided-" methods multiply
    the map by guided backprop (`radlens.explain.guided`) divided by its maximum. Use as a
    context manager (or call `close()`) so the hooks are removed from the model afterwards.

    >>> with CamExplainer(model, method="gradcam") as cam:
    ...     result = cam(images, class_idx=1)   # images: (N, C, H, W) or (N, C, D, H, W)
    """

    def __init__(
        self, model: nn.Module, *, method: CamMethod = "gradcam", layer: str | None = None
    ) -> None:
        self.model = model
        self.method = normalise_method(method)
        if self.method == "input-x-gradient":
            if layer not in (None, INPUT_LAYER):
                raise ConfigError(
                    f"method input-x-gradient explains the input; layer {layer!r} given"
                    f" (leave it out or give {INPUT_LAYER!r})"
                )
            layer = None
        self.layers, self.fusion = split_layers(model, layer)
        self.layer = self.fusion.join(self.layers) if self.layers else None
        self._cams: list[_LayerCam] = []

    def _ensure(self) -> list[_LayerCam]:
        if not self._cams:
            base = self.method.removeprefix("guided-")
            self._cams = [_LayerCam(self.model, base, name) for name in self.layers or [None]]
        return self._cams

    def __call__(
        self,
        images: np.ndarray | torch.Tensor,
        class_idx: int | Sequence[int] | np.ndarray | None = None,
    ) -> CamResult:
        """Maps for `images` explaining output column `class_idx` (one int for all cases, one per
        case, or None for each case's top-scoring column)."""
        x = as_batch(images)
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        x = x.to(device)
        if class_idx is not None:
            idx = np.atleast_1d(np.asarray(class_idx, dtype=np.int64))
            if idx.size not in (1, x.shape[0]):
                raise ConfigError(
                    f"class_idx has {idx.size} entries for {x.shape[0]} images; expected 1 or"
                    f" {x.shape[0]}"
                )
            class_idx = torch.as_tensor(idx)
        if self.method == "input-x-gradient":
            return self._at_input(x, class_idx)
        cams = self._ensure()
        maps = fuse_maps([cam(x, class_idx) for cam in cams], self.fusion)
        for cam in cams:  # every forward pass fills every cam's hook: drop what is left
            cam.hooks.activations.clear()
        hooks = cams[0].hooks
        if hooks.class_idx is None or hooks.logits is None:  # pragma: no cover
            raise ModelError("Grad-CAM hooks did not run; the model was not called")
        if self.method.startswith("guided-"):
            guide = guided_backprop(self.model, x, hooks.class_idx.cpu().numpy())
            maps = maps * per_case_max(guide, 1.0).to(maps.device)
        self.layer = self.fusion.join(c.hooks.target_layers[0] for c in cams)
        return self._result(maps, hooks.class_idx, hooks.logits)

    def _at_input(self, x: torch.Tensor, class_idx: torch.Tensor | None) -> CamResult:
        """Smoothed gradient x input (`radlens.explain.guided`)."""
        if class_idx is None:
            with torch.no_grad():
                class_idx = self.model.eval()(x).argmax(1)
        maps, logits = input_x_gradient(self.model, x, class_idx.cpu().numpy())
        idx = torch.as_tensor(class_idx).reshape(-1).expand(len(x))
        self.layer = INPUT_LAYER
        return self._result(smooth_maps(maps, INPUT_X_GRADIENT_SIGMA), idx, logits)

    def _result(self, maps: torch.Tensor, idx: torch.Tensor, logits: torch.Tensor) -> CamResult:
        maps_np = maps.cpu().numpy()
        peak = maps_np.reshape(len(maps_np), -1).max(axis=1)
        scale = np.where(peak > 0, peak, 1.0).reshape(-1, *([1] * (maps_np.ndim - 1)))
        return CamResult(
            maps=(maps_np / scale).astype(np.float32),
            layer=str(self.layer),
            method=self.method,
            class_idx=idx.cpu().numpy(),
            raw_max=peak.astype(np.float32),
            scores=logits.float().cpu().numpy(),
        )

    def close(self) -> None:
        for cam in self._cams:
            cam.hooks.close()
        self._cams = []

    def __enter__(self) -> CamExplainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compute_cam(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    class_idx: int | Sequence[int] | np.ndarray | None = None,
    *,
    method: CamMethod = "gradcam",
    layer: str | None = None,
    batch_size: int = 8,
) -> CamResult:
    """Grad-CAM (or Grad-CAM++) heatmaps for a batch of channel-first images, in batches of
    `batch_size`; the hook is removed from `model` before returning."""
    x = as_batch(images)
    idx = None if class_idx is None else np.atleast_1d(np.asarray(class_idx, dtype=np.int64))
    if idx is not None and idx.size == 1:
        idx = np.repeat(idx, len(x))
    if idx is not None and idx.size != len(x):
        raise ConfigError(
            f"class_idx has {idx.size} entries for {len(x)} images; expected 1 or {len(x)}"
        )
    parts: list[CamResult] = []
    with CamExplainer(model, method=method, layer=layer) as cam:
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            parts.append(cam(x[start:stop], None if idx is None else idx[start:stop]))
    return CamResult(
        maps=np.concatenate([p.maps for p in parts]),
        layer=parts[0].layer,
        method=parts[0].method,
        class_idx=np.concatenate([p.class_idx for p in parts]),
        raw_max=np.concatenate([p.raw_max for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
    )
