"""Mixed precision: when bf16 autocast pays, and whether this CPU computes it correctly.

"auto" precision means bf16 autocast on CUDA GPUs with bf16 and on CPUs with native bf16
(AVX512-BF16 / AMX), float32 elsewhere. On CPU, bf16 convolutions run through oneDNN, which has
shape-specific bugs: with torch 2.13 (oneDNN 3.12) the bf16 *weight gradient* of a 3x3x3 Conv3d
whose input is two slices deep reads uninitialised memory, so it changes from run to run and is
sometimes NaN (`benchmarks/bf16_conv_probe.py` shows it; the tiny demo's 16-slice volumes reach
the last block of `small_cnn_3d` 2 slices deep and diverged in about one run in forty).

Rather than hard-code that shape class, `bf16_conv_faults` runs each of the model's convolutions
on its real input shape once in float32 and under CPU bf16 autocast and compares outputs and
gradients; `guard_bf16_convs` then makes each convolution found wrong compute in float32 (its
input cast up, autocast off) while the rest of the model keeps bf16's speed. The layer's class
becomes a float32 subclass of its own, so weights, state_dict keys, deepcopy and pickling are
unchanged (TorchScript is not: export loads an unguarded model from the checkpoint). A model
loaded from a checkpoint is unguarded again; the bug is in the weight gradient, so inference is
not affected. With several processes each rank probes on its own.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

__all__ = [
    "bf16_conv_faults",
    "bf16_native",
    "guard_bf16_convs",
    "guard_fabric_run",
    "resolve_precision",
]

logger = logging.getLogger(__name__)

# bf16 keeps 8 significant bits: a correct conv's max error is ~0.4% of the largest value
TOLERANCE = 0.05


def bf16_native(cuda: bool) -> bool:
    """bf16 autocast pays on CUDA GPUs with bf16 and on CPUs with native bf16 (AVX512-BF16/AMX);
    elsewhere it is emulated and slower, so "auto" precision falls back to float32."""
    if cuda:
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, cuda: bool) -> str:
    """The Fabric precision for `precision` ("auto" decided by `bf16_native`)."""
    if precision == "auto":
        return "bf16-mixed" if bf16_native(cuda) else "32-true"
    return precision


def _channels_last(t: torch.Tensor) -> bool:
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}.get(t.ndim)
    return fmt is not None and not t.is_contiguous() and t.is_contiguous(memory_format=fmt)


def _conv_inputs(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[nn.Module, set]]:
    """Every convolution of `model` with the (shape without batch dim, channels-last?) of each
    input it gets when the model sees `example` (float32, eval mode, no gradients; the model's
    mode is restored). Give `example` in the memory format training uses."""
    seen: dict[str, tuple[nn.Module, set]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):

            def record(mod: nn.Module, args: tuple, _out: Any, name: str = name) -> None:
                x = args[0]
                seen.setdefault(name, (mod, set()))[1].add((tuple(x.shape[1:]), _channels_last(x)))

            hooks.append(module.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            model(example.float())
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return seen


def _rel_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    got = got.float()
    if not torch.isfinite(got).all():
        return float("inf")
    scale = ref.abs().max().clamp_min(1e-12)
    return float((got - ref).abs().max() / scale)


def _probe(
    module: nn.Module, shape: tuple, channels_last: bool, gen: torch.Generator, repeats: int
) -> float:
    """Worst relative error of output, input gradient and weight gradient of `module` under CPU
    bf16 autocast against float32, on a batch of 2 random inputs of `shape` (in channels-last
    memory format when the model gave it so)."""
    conv = copy.deepcopy(module).float().cpu().train()
    x = torch.randn((2, *shape), generator=gen)
    if channels_last:
        fmt = torch.channels_last if x.ndim == 4 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)
    with torch.no_grad():
        g = torch.randn(conv(x).shape, generator=gen)

    def run(bf16: bool) -> list[torch.Tensor]:
        conv.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = conv(xi)
        y.float().backward(g)
        assert xi.grad is not None and conv.weight.grad is not None
        return [y.detach().float(), xi.grad.float(), conv.weight.grad.float()]

    ref = run(False)
    worst = 0.0
    for _ in range(repeats):  # a read of uninitialised memory need not show the first time
        worst = max(worst, *(_rel_error(a, b) for a, b in zip(run(True), ref, strict=True)))
    return worst


def bf16_conv_faults(
    model: nn.Module, example: torch.Tensor, *, repeats: int = 2, seed: int = 0
) -> list[str]:
    """The convolutions of `model` that CPU bf16 autocast computes wrongly on the input shapes
    `example` (one sample, batch dim included) gives them, as "name (Conv3d on 2x1x2)"."""
    gen = torch.Generator().manual_seed(seed)
    faults, checked = [], {}
    for name, (module, inputs) in _conv_inputs(model, example).items():
        wrong = []
        for shape, channels_last in sorted(inputs):
            key = (repr(module), shape, channels_last)
            if key not in checked:
                checked[key] = _probe(module, shape, channels_last, gen, repeats)
            if checked[key] > TOLERANCE:
                wrong.append("x".join(str(s) for s in shape[1:]))
        if wrong:
            faults.append(f"{name} ({type(module).__name__} on {', '.join(wrong)})")
    return faults


class _Float32Forward:
    """Mixin: the layer computes in float32 with autocast off (input cast up)."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float(), *args, **kwargs)  # type: ignore[misc]


_FLOAT32_CLASSES: dict[type, type] = {}


def _float32_class(cls: type) -> type:
    if cls not in _FLOAT32_CLASSES:
        name = f"Float32{cls.__name__}"
        made = type(name, (_Float32Forward, cls), {"__module__": __name__})
        globals().setdefault(name, made)  # pickle finds it as radlens.training.precision.<name>
        _FLOAT32_CLASSES[cls] = made
    return _FLOAT32_CLASSES[cls]


def guard_bf16_convs(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Make every convolution that CPU bf16 autocast computes wrongly at `example`'s shapes (see
    `bf16_conv_faults`) compute in float32 from now on; returns them, logged once."""
    faults = bf16_conv_faults(model, example)
    modules = dict(model.named_modules())
    for fault in faults:
        module = modules[fault.split(" (", 1)[0]]
        if not isinstance(module, _Float32Forward):
            module.__class__ = _float32_class(type(module))
    if faults:
        shown = ", ".join(faults[:3]) + (f" and {len(faults) - 3} more" if len(faults) > 3 else "")
        logger.warning(
            "this CPU's bf16 convolutions compute wrong values or gradients for %s (a oneDNN bug"
            " for some input shapes; checked against float32): those layers run in float32",
            shown,
        )
    return faults


def guard_fabric_run(fabric: Any, model: nn.Module, example: torch.Tensor) -> list[str]:
    """`guard_bf16_convs` when `fabric` trains on the CPU under bf16 autocast, else nothing."""
    if fabric.device.type != "cpu" or fabric.strategy.precision.precision != "bf16-mixed":
        return []
    return guard_bf16_convs(model, example)
