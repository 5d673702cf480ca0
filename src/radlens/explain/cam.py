"""Grad-CAM, Grad-CAM++ and HiResCAM for 2D and 3D classifiers, through `monai.visualize`.

MONAI computes the maps (`GradCAM.compute_map`, `GradCAMpp.compute_map`); HiResCAM (Draelos &
Carin 2020: the gradient multiplied element-wise with the activation, then summed over channels,
instead of Grad-CAM's spatially averaged gradient; for a model ending in global pooling + a linear
layer it shows exactly which positions raised the score) is the same `GradCAM` with that one line
changed. This module wraps them to avoid three pitfalls users hit:

* MONAI's default post-processing (`default_normalizer`) maps (min, max) to (1, 0), so high
  attention is drawn as *low*. We post-process with the identity and scale each map by its own
  maximum: 0 = no positive evidence, 1 = the hottest voxel (maps are ReLU'd, so never negative).
* Maps come out at feature-map resolution. We upsample them (bilinear / trilinear,
  `align_corners=False`) to the input's spatial shape in the input's own axis order, so a 3D map
  of a (Z, Y, X) volume is (Z, Y, X) too.
* MONAI's `ModelWithHooks` registers hooks it never removes and back-propagates through the whole
  network. `_CamHooks` keeps the handles (removed by `close()`), and takes the gradient of the class
  score with respect to the target activation only (`torch.autograd.grad`), which skips the
  backward pass through every earlier layer: a 3D CT map costs little more than one forward pass.

The target layer is chosen during the first forward pass (every module's output is recorded once)
by `radlens.explain.layers.select_layer`, or given by name.
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
from radlens.explain.layers import Recorder, as_batch, check_layer, select_layer

log = logging.getLogger(__name__)

CamMethod = Literal["gradcam", "gradcampp", "hirescam"]
CAM_METHODS: tuple[str, ...] = ("gradcam", "gradcampp", "hirescam")


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
    """'gradcam', 'gradcampp' or 'hirescam'; accepts spellings such as 'Grad-CAM++', 'HiResCAM'."""
    key = str(method).lower().replace("-", "").replace("_", "").replace("++", "pp")
    if key not in CAM_METHODS:
        raise ConfigError(
            f"CAM method {method!r} unknown; expected one of {CAM_METHODS}"
            f"{suggest(key, CAM_METHODS)}"
        )
    return key  # type: ignore[return-value]


def upsample_map(raw: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """(N, 1, *feature_shape) -> (N, 1, *spatial) by (bi/tri)linear interpolation in the same axis
    order. A 2D map of a 3D input (2.5D models: slices as channels) is upsampled to (H, W) and
    repeated along depth, since such a model has no notion of which slice mattered."""
    if raw.ndim - 2 == len(spatial):
        return default_upsampler(spatial)(raw)
    if raw.ndim - 2 == len(spatial) - 1:
        plane = default_upsampler(spatial[1:])(raw)
        return plane.unsqueeze(2).expand(-1, -1, spatial[0], *spatial[1:])
    raise ModelError(
        f"feature map of shape {tuple(raw.shape)} cannot be upsampled to input shape {spatial}"
    )


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


class CamExplainer:
    """Grad-CAM / Grad-CAM++ maps of one model at one layer. Use as a context manager (or call
    `close()`) so the hook is removed from the model afterwards.

    >>> with CamExplainer(model, method="gradcam") as cam:
    ...     result = cam(images, class_idx=1)   # images: (N, C, H, W) or (N, C, D, H, W)
    """

    def __init__(
        self, model: nn.Module, *, method: CamMethod = "gradcam", layer: str | None = None
    ) -> None:
        self.model = model
        self.method = normalise_method(method)
        self.layer = check_layer(model, layer) if layer is not None else None
        self._hooks: _CamHooks | None = None
        self._cam: GradCAM | None = None

    def _ensure(self) -> GradCAM:
        if self._cam is None:
            self._hooks = _CamHooks(self.model, self.layer)
            cls = {"gradcampp": GradCAMpp, "hirescam": HiResCAM}.get(self.method, GradCAM)
            self._cam = cls(
                nn_module=self._hooks,
                target_layers=self.layer or "",  # unused: the hooks object is given
                upsampler=default_upsampler,
                postprocessing=_identity,
            )
        return self._cam

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
        cam = self._ensure()
        if class_idx is not None:
            idx = np.atleast_1d(np.asarray(class_idx, dtype=np.int64))
            if idx.size not in (1, x.shape[0]):
                raise ConfigError(
                    f"class_idx has {idx.size} entries for {x.shape[0]} images; expected 1 or"
                    f" {x.shape[0]}"
                )
            class_idx = torch.as_tensor(idx)
        raw = cam.compute_map(x, class_idx=class_idx)
        up = upsample_map(raw, tuple(x.shape[2:]))[:, 0]  # (N, *spatial)
        maps = up.detach().float().cpu().numpy()
        maps = np.maximum(maps, 0.0)  # interpolation of a ReLU'd map stays >= 0; keep it exact
        peak = maps.reshape(len(maps), -1).max(axis=1)
        scale = np.where(peak > 0, peak, 1.0).reshape(-1, *([1] * (maps.ndim - 1)))
        hooks = self._hooks
        if hooks is None or hooks.class_idx is None or hooks.logits is None:  # pragma: no cover
            raise ModelError("Grad-CAM hooks did not run; the model was not called")
        self.layer = hooks.target_layers[0]
        return CamResult(
            maps=(maps / scale).astype(np.float32),
            layer=str(self.layer),
            method=self.method,
            class_idx=hooks.class_idx.cpu().numpy(),
            raw_max=peak.astype(np.float32),
            scores=hooks.logits.float().cpu().numpy(),
        )

    def close(self) -> None:
        if self._hooks is not None:
            self._hooks.close()
        self._hooks = None
        self._cam = None

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
