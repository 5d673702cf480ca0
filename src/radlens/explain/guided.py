"""Input-resolution attributions: guided backpropagation (Springenberg et al. 2015) for guided
CAMs (Selvaraju et al. 2017), and gradient x input (Shrikumar et al. 2016).

Guided backprop is the gradient of a class score with respect to the input in which every ReLU
passes back only positive gradients where its input was positive: g_in = 1[x > 0] * max(g_out, 0).
It is computed here without touching the model's code: a forward hook on each `nn.ReLU` routes its
output through `_PositiveGradient` (identity forward, gradient clamped at 0 backward), whose
gradient then goes through the ReLU's own backward (1[x > 0]). ReLUs called as functions
(`torch.relu` / `F.relu` inside `forward`) are not seen and stay plain.

`guided_backprop` returns the positive part of that input gradient, the largest over the input
channels, at the input's full resolution. A guided CAM multiplies it with a (HiRes/Grad-)CAM
upsampled to the input (`radlens.explain.cam.CamExplainer` with method "guided-gradcam" /
"guided-hirescam"): the CAM says *where* the class evidence is, at its layer's coarse grid; guided
backprop adds the input-resolution detail inside it. Guided backprop alone barely depends on the
model's upper layers (Adebayo et al. 2018); the product must still pass the randomisation check
(`radlens.explain.sanity`), and the CAM factor is what makes it.

`input_x_gradient` is HiResCAM taken at the input itself: ReLU(sum over channels of gradient x
input), each voxel's first-order share of the logit (logit units). At single voxels it is noisy;
`smooth_maps` (a Gaussian of `sigma` voxels, MONAI's `GaussianFilter`) gives the region around a
voxel its due, which is how method "input-x-gradient" draws it (`INPUT_X_GRADIENT_SIGMA`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.networks.layers import GaussianFilter
from torch import nn

from radlens.errors import ConfigError, ModelError

#: Gaussian sigma (voxels) with which method "input-x-gradient" smooths its maps
INPUT_X_GRADIENT_SIGMA = 1.0

__all__ = ["guided_backprop", "input_x_gradient", "smooth_maps"]


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward lets only the positive part of the gradient through."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.clamp(min=0)


def _guide(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
    return _PositiveGradient.apply(output)


def guided_backprop(
    model: nn.Module,
    images: torch.Tensor,
    class_idx: int | Sequence[int] | np.ndarray,
) -> torch.Tensor:
    """(N, *spatial) float32 >= 0: guided-backprop gradient of output column `class_idx` (one
    per case, or one for all) with respect to `images` (N, C, *spatial), positive part, maximum
    over channels. The model is run in eval mode; its hooks are removed before returning."""
    x = images.detach().float().clone().requires_grad_(True)
    idx = _class_index(class_idx, len(x))
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ModelError(
            f"{type(model).__name__} has no nn.ReLU module; guided backprop needs them"
        )
    inplace = [m for m in relus if m.inplace]
    for m in inplace:  # the hook's output replaces the ReLU's; in place it would be overwritten
        m.inplace = False
    handles = [m.register_forward_hook(_guide) for m in relus]
    train = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x.to(next(model.parameters()).device))
            picked = logits.gather(1, idx.to(logits.device)[:, None]).sum()
            (grad,) = torch.autograd.grad(picked, x)
    finally:
        for handle in handles:
            handle.remove()
        for m in inplace:
            m.inplace = True
        model.train(train)
    return grad.clamp(min=0).amax(dim=1).detach().float().cpu()


def _class_index(class_idx: int | Sequence[int] | np.ndarray, n: int) -> torch.Tensor:
    idx = torch.as_tensor(np.atleast_1d(np.asarray(class_idx, dtype=np.int64)))
    if idx.numel() == 1:
        idx = idx.expand(n)
    if idx.numel() != n:
        raise ConfigError(f"class_idx has {idx.numel()} entries for {n} images; expected 1 or {n}")
    return idx


def input_x_gradient(
    model: nn.Module,
    images: torch.Tensor,
    class_idx: int | Sequence[int] | np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, *spatial) ReLU(sum_c gradient x input) of output `class_idx` (logit units), (N, K)
    logits). The model is run in eval mode."""
    x = images.detach().float().clone().requires_grad_(True)
    idx = _class_index(class_idx, len(x))
    train = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x)
            if logits.ndim != 2:
                raise ModelError(
                    f"model output has shape {tuple(logits.shape)}; expected (N, classes)"
                )
            picked = logits.gather(1, idx.to(logits.device)[:, None]).sum()
            (grad,) = torch.autograd.grad(picked, x)
    finally:
        model.train(train)
    attribution = torch.relu((grad * x).sum(dim=1)).detach().float()
    return attribution, logits.detach()


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, *spatial) maps each smoothed by a Gaussian of `sigma` voxels (0: unchanged)."""
    if sigma < 0:
        raise ConfigError(f"smoothing sigma {sigma} must be >= 0 voxels")
    if sigma == 0:
        return maps
    blur = GaussianFilter(maps.ndim - 1, sigma=float(sigma)).to(maps.device)
    with torch.no_grad():
        return blur(maps[:, None].float())[:, 0].clamp(min=0)
