"""`radlens export`: a run's best model as one self-contained file (TorchScript or ONNX), checked.

The exported graph takes what `radlens predict` prepares from the run's plan, as float32 in
[0, 255] (N, C, H, W) or (N, C, D, H, W), and returns the task's probabilities (N, K) in the
order of the run's labels: the normalisation to [-1, 1] and the activation are inside it. The
sidecar ``FILE.json`` (also stored in the file: TorchScript extra file ``radlens.json``, ONNX
metadata ``radlens``) holds the plan, label names, input shape, radlens version and tolerance.

Verification: a fixed seeded batch runs through the run's model on `predict`'s path
(`radlens.training.predict_scores`) and through the exported file (TorchScript: `torch.jit.load`;
ONNX: onnxruntime); the largest absolute difference must be within the tolerance (1e-4 for float32
probabilities), else ModelError. ONNX needs the optional extra ``export`` (onnx, onnxruntime).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radlens import __version__
from radlens.core import atomic_write_json, look_up_option
from radlens.deploy.predictor import Predictor
from radlens.errors import ConfigError, ModelError
from radlens.models import Task
from radlens.training import predict_scores

__all__ = ["EXPORT_FORMATS", "TOLERANCE", "ExportResult", "export_run", "sidecar_path"]

EXPORT_FORMATS = ("torchscript", "onnx")
#: largest absolute difference of float32 probabilities allowed between the run and its export
TOLERANCE = 1e-4
VERIFY_SEED = 0
VERIFY_BATCH = 2
ONNX_OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    """The exported file, its sidecar JSON and the verification's largest difference."""

    path: Path
    sidecar: Path
    format: str
    max_abs_diff: float
    tolerance: float


class Deployable(nn.Module):
    """The run's model with its input scaling (`radlens.training.normalise` of uint8 pixels)
    and its task's activation (`Task.activate`): prepared pixels in, probabilities out."""

    def __init__(self, model: nn.Module, task: Task) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.task.activate(self.model(x * (2.0 / 255.0) - 1.0))


def sidecar_path(out: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def verification_input(p: Predictor) -> torch.Tensor:
    """The fixed input both models score: seeded uint8 pixels of the plan's input shape."""
    gen = torch.Generator().manual_seed(VERIFY_SEED)
    shape = (VERIFY_BATCH, p.plan.channels, *p.plan.shape)
    return torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)


def _sidecar(p: Predictor, fmt: str, tolerance: float) -> dict[str, Any]:
    return {
        "format": fmt,
        "radlens_version": __version__,
        "run": str(p.run_dir),
        "labels": list(p.label_names),
        "task": p.task.kind,
        "input": {
            "shape": [None, p.plan.channels, *p.plan.shape],
            "dtype": "float32",
            "values": "prepared pixels in [0, 255] (radlens predict's preparation from the plan)",
        },
        "output": "probabilities (N, K), one column per label",
        "tolerance": tolerance,
        "plan": p.plan.model_dump(mode="json"),
    }


def _torchscript(wrapper: Deployable, example: torch.Tensor, out: Path, meta: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings, the TorchScript deprecation notice
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(out), _extra_files={"radlens.json": meta})
        loaded = torch.jit.load(str(out), map_location="cpu")
    with torch.inference_mode():
        return loaded(example).numpy()


def _onnx(wrapper: Deployable, example: torch.Tensor, out: Path, meta: str, coral: bool) -> Any:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(
            f"--format onnx needs onnx and onnxruntime ({exc.name} is missing); install the "
            "optional extra: pip install 'radlens[export]'"
        ) from None
    if coral:
        raise ModelError("an ordinal CORAL run cannot be exported to ONNX; use torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (example,), str(out), dynamo=False, opset_version=ONNX_OPSET,
            input_names=["image"], output_names=["probabilities"],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        )  # fmt: skip
    model = onnx.load(str(out))
    onnx.helper.set_model_props(model, {"radlens": meta})
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": example.numpy()})[0]


def export_run(
    run_dir: str | Path,
    fmt: str,
    out: str | Path,
    *,
    tolerance: float = TOLERANCE,
    predictor: Predictor | None = None,
) -> ExportResult:
    """Export the run's best model to `out` as `fmt` (torchscript or onnx), write the sidecar
    JSON and verify the export on a fixed input (ModelError when it differs by more than
    `tolerance`; the files are then removed)."""
    fmt = look_up_option(fmt, EXPORT_FORMATS, what="export format")
    out = Path(out)
    p = predictor if predictor is not None else Predictor(run_dir)
    model = p.model.to("cpu").eval()
    wrapper = Deployable(model, p.task).eval()
    pixels = verification_input(p)
    expected = predict_scores(model, pixels, p.task, batch_size=VERIFY_BATCH, device="cpu")
    info = _sidecar(p, fmt, tolerance)
    meta = json.dumps(info)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = pixels.float()
    if fmt == "torchscript":
        got = _torchscript(wrapper, example, out, meta)
    else:
        got = _onnx(wrapper, example, out, meta, p.task.coral)
    diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected)))
    if not diff <= tolerance:
        out.unlink(missing_ok=True)
        raise ModelError(
            f"export of {p.run_dir} to {fmt}: outputs differ from the run's by {diff:.3g} on "
            f"the verification input; the tolerance is {tolerance:g}"
        )
    info["verification"] = {
        "seed": VERIFY_SEED,
        "batch": VERIFY_BATCH,
        "max_abs_diff": diff,
        "passed": True,
    }
    sidecar = sidecar_path(out)
    atomic_write_json(sidecar, info)
    return ExportResult(out, sidecar, fmt, diff, tolerance)
