"""`radlens.deploy.export_run`: TorchScript and ONNX files of a tiny 2D and a tiny 3D run score
inputs as `predict` does (within the stated tolerance), carry their plan and labels, and an ONNX
export without onnxruntime installed is a clear error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from radlens.core import read_plan
from radlens.deploy import TOLERANCE, Predictor, export_run, predict, sidecar_path
from radlens.errors import ConfigError


def exported_scores(path: Path, fmt: str, pixels: np.ndarray) -> np.ndarray:
    x = pixels.astype(np.float32)
    if fmt == "torchscript":
        with torch.inference_mode():
            return torch.jit.load(str(path))(torch.from_numpy(x)).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("dims", [2, 3])
def test_export_reproduces_predict(
    fmt: str, dims: int, run_2d: Path, run_3d: Path, ct_inputs: dict[str, Path], tmp_path: Path
) -> None:
    run = run_2d if dims == 2 else run_3d
    images = run_2d.parent / "images"
    inputs = [images / "img04.png", images / "img05.png"] if dims == 2 else [
        ct_inputs["series"], ct_inputs["nifti"]
    ]  # fmt: skip
    out = tmp_path / f"model.{'pt' if fmt == 'torchscript' else 'onnx'}"
    result = export_run(run, fmt, out)
    assert result.path == out and out.is_file()
    assert 0 <= result.max_abs_diff <= TOLERANCE == 1e-4

    p = Predictor(run)
    frame = predict(run, inputs, predictor=p)
    pixels = np.stack([p.prepare(p.read(Path(i))) for i in inputs])
    if dims == 2:
        pixels = pixels[:, None]  # (N, H, W) -> (N, 1, H, W)
    got = exported_scores(out, fmt, pixels)
    np.testing.assert_allclose(got, frame[list(p.label_names)].to_numpy(), atol=TOLERANCE)

    side = json.loads(sidecar_path(out).read_text())
    assert side["labels"] == list(p.label_names) and side["tolerance"] == TOLERANCE
    assert side["plan"] == read_plan(run).model_dump(mode="json")
    assert side["input"]["shape"] == [None, 1, *read_plan(run).shape]
    assert side["verification"]["max_abs_diff"] == result.max_abs_diff
    # self-contained: the metadata is inside the file too
    if fmt == "onnx":
        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    else:
        files = {"radlens.json": ""}
        torch.jit.load(str(out), _extra_files=files)
        props = {"radlens": files["radlens.json"]}
    assert json.loads(props["radlens"])["labels"] == list(p.label_names)


def test_onnx_without_onnxruntime_is_a_clear_error(
    run_2d: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"onnxruntime is missing.*radlens\[export\]"):
        export_run(run_2d, "onnx", tmp_path / "m.onnx")


def test_unknown_format_suggests_one(run_2d: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="onnx"):
        export_run(run_2d, "onx", tmp_path / "m.onnx")
