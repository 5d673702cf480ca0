"""`radlens predict`: score new images / studies with a trained run, one row per input.

`predict(run_dir, inputs)` returns a DataFrame with the columns ``id``, ``path``, ``status``
("scored", "not_scorable": the input failed a check and was not scored, "error": it could not be
read or is not an input of this run), ``reason`` (empty when scored), one probability column per
label (named as the run's labels; NaN when not scored) and, with heatmaps, ``heatmap`` (the
file). ``df.attrs["timings_s"]`` holds the seconds spent per stage (read, preprocess, model,
scores, heatmaps). `write_table` writes it as CSV, Parquet or JSON by the file's suffix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from radlens.data import DEFAULT_FITNESS, FitnessRules
from radlens.deploy.inputs import PredictInput, collect_inputs
from radlens.deploy.predictor import Predictor
from radlens.errors import ConfigError, DataError, NotScorableError
from radlens.explain import compute_cam, heat_rgba
from radlens.training import normalise

__all__ = ["OUTPUT_SUFFIXES", "STAGES", "check_output", "predict", "write_table"]

OUTPUT_SUFFIXES = (".csv", ".parquet", ".json")
STAGES = ("read", "checks", "preprocess", "model", "scores", "heatmaps")
META_COLUMNS = ("id", "path", "status", "reason")


def check_output(out: str | Path) -> Path:
    """The output path, after checking its suffix names a format (ConfigError listing them)."""
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"--out {out}: unknown format {out.suffix or '(no suffix)'!r}; the suffix chooses "
            f"it, one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return out


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write `frame` as CSV, Parquet or JSON (records) by the suffix of `out`."""
    out = check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        plain = frame.copy()
        plain.attrs = {}
        plain.to_parquet(out, index=False)
    else:
        out.write_text(frame.to_json(orient="records", indent=2) + "\n", encoding="utf-8")
    return out


def _safe_name(index: int, ident: str) -> str:
    return f"{index:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', ident)[-60:]}"


def _write_heatmap(folder: Path, name: str, image: np.ndarray, cam: np.ndarray, label: str) -> Path:
    """``name.npz`` (the map on the model's input grid, the input, the label); 2D runs also get
    ``name.png``: the image in gray with the map over it (transparent where cold)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{name}.npz", cam=cam, image=image, label=np.array(label))
    if cam.ndim != 2:
        return folder / f"{name}.npz"
    gray = image.astype(np.float32).mean(axis=0) / 255.0  # (C, H, W) uint8 -> (H, W)
    rgba = heat_rgba(cam)
    alpha = rgba[..., 3:4]
    rgb = gray[..., None] * (1 - alpha) + rgba[..., :3] * alpha
    path = folder / f"{name}.png"
    Image.fromarray(np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)).save(path)
    return path


class _Run:
    """One `predict` call: rows, prepared inputs of the current batch, stage timings."""

    def __init__(self, predictor: Predictor, heatmaps_dir: Path | None) -> None:
        self.p = predictor
        self.heatmaps_dir = heatmaps_dir
        self.rows: list[dict[str, Any]] = []
        self.timings = dict.fromkeys(STAGES, 0.0)
        self.pending: list[tuple[int, np.ndarray]] = []

    def add(self, item: PredictInput) -> None:
        row: dict[str, Any] = {"id": item.id, "path": str(item.path), "status": "error"}
        row["reason"] = item.problem or ""
        self.rows.append(row)
        if item.problem:
            return
        try:
            t0 = time.perf_counter()
            decoded = self.p.read(item.path)
            t1 = time.perf_counter()
            self.p.check(decoded, item.path)
            t2 = time.perf_counter()
            prepared = self.p.prepare(decoded)
            t3 = time.perf_counter()
        except NotScorableError as exc:
            row.update(status="not_scorable", reason="; ".join(exc.reasons) or str(exc))
            return
        except DataError as exc:
            row["reason"] = str(exc)
            return
        self.timings["read"] += t1 - t0
        self.timings["checks"] += t2 - t1
        self.timings["preprocess"] += t3 - t2
        self.pending.append((len(self.rows) - 1, prepared))

    def flush(self, batch_size: int) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        batch = self.p.tensor([a for _, a in self.pending])
        probs = self.p.score(batch, batch_size)
        t1 = time.perf_counter()
        for (i, _), row_probs in zip(self.pending, probs, strict=True):
            self.rows[i].update(status="scored", reason="")
            self.rows[i].update(zip(self.p.label_names, map(float, row_probs), strict=True))
        self.timings["model"] += t1 - t0
        self.timings["scores"] += time.perf_counter() - t1
        if self.heatmaps_dir is not None:
            self._heatmaps(batch, probs)
        self.pending = []

    def _heatmaps(self, batch: Any, probs: np.ndarray) -> None:
        """Grad-CAM of each input's most probable label."""
        t0 = time.perf_counter()
        top = probs.argmax(axis=1)
        cams = compute_cam(self.p.model, normalise(batch.to(self.p.device)), top).maps
        assert self.heatmaps_dir is not None
        for k, (i, _) in enumerate(self.pending):
            image = batch[k].cpu().numpy()
            label = self.p.label_names[int(top[k])]
            name = _safe_name(i, self.rows[i]["id"])
            path = _write_heatmap(self.heatmaps_dir, name, image, cams[k], label)
            self.rows[i]["heatmap"] = str(path)
        self.timings["heatmaps"] += time.perf_counter() - t0

    def frame(self) -> pd.DataFrame:
        columns = [*META_COLUMNS, *self.p.label_names]
        if self.heatmaps_dir is not None:
            columns.append("heatmap")
        frame = pd.DataFrame(self.rows, columns=columns)
        for name in self.p.label_names:
            frame[name] = frame[name].astype(float)
        return frame


def predict(
    run_dir: str | Path,
    inputs: Sequence[str | Path],
    *,
    batch_size: int = 16,
    heatmaps_dir: str | Path | None = None,
    device: str = "cpu",
    workers: int = 1,
    fitness: FitnessRules | None = DEFAULT_FITNESS,
    predictor: Predictor | None = None,
) -> pd.DataFrame:
    """Score `inputs` (image files, DICOM series folders, NIfTI files or CSV listings of them,
    `radlens.deploy.inputs`) with the run in `run_dir`, prepared as its plan says. One row per
    input, in order (see the module docstring for the columns); inputs that cannot be read or
    fail a check are listed with their reason and never scored. `heatmaps_dir`: write a Grad-CAM
    of each input's most probable label there. `workers`: threads reading a DICOM series.
    `fitness`: the chest-CT fitness rules 3D inputs must pass (`radlens.data.FitnessRules`; a
    failing input is "not_scorable" with every reason; None: no checks)."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    p = predictor or Predictor(run_dir, device=device, workers=workers, fitness=fitness)
    for name in p.label_names:
        if name in (*META_COLUMNS, "heatmap"):
            raise ConfigError(f"run {p.run_dir}: a label is named {name!r}, an output column")
    run = _Run(p, Path(heatmaps_dir) if heatmaps_dir is not None else None)
    for item in collect_inputs(inputs, p.spatial_dims):
        run.add(item)
        if len(run.pending) >= batch_size:
            run.flush(batch_size)
    run.flush(batch_size)
    frame = run.frame()
    frame.attrs = {
        "run": str(p.run_dir),
        "labels": list(p.label_names),
        "timings_s": {k: round(v, 4) for k, v in run.timings.items()},
    }
    return frame
