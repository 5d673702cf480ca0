"""`radlens predict` on one real-size chest CT: end to end and by stage, beside a SimpleITK read.

Writes a 512 x 512 x 300 chest-like CT series (0.7 x 0.7 mm pixels, 1 mm slices; air, body,
lungs, spine, noise) with `radlens.data.write_dicom_series`, makes the smallest real run of the
CT demo's model and input (`ctnet_3d`, 32 x 48 x 64, the demo's four HU windows; one epoch on a
few random volumes: the weights do not change the time), then times, median of `--repeats`:

- end to end: `radlens.deploy.predict(run, [series])` with the run loaded once (its load is
  timed on its own, `load_run_s`), no heatmaps;
- by stage: read (`load_volume`, `--workers` threads), checks (fitness), preprocess (reorient,
  resample, crop, window: `prepare_ct_volume` as the plan says), model, scores (the table);
- a SimpleITK `ImageSeriesReader` read of the same series (`--threads` threads).

torch and SimpleITK run on `--threads` threads (default 2). The machine is shared: the 1-minute
load average is recorded beside the figures.

    .venv/bin/python benchmarks/predict_speed.py [--slices 300] [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from radlens.data import DEMO_WINDOWS, ArrayDataset
from radlens.data.volumes import Volume, load_volume, write_dicom_series
from radlens.deploy import Predictor, predict
from radlens.training import make_config, train

RESULTS = Path(__file__).resolve().parent / "results" / "predict_speed.json"
MODEL_SHAPE = (32, 48, 64)  # the CT demo's model input (radlens.demos.ct: 32 x 64 x 64, crop)


def chest_ct(n_slices: int, size: int, seed: int = 0) -> Volume:
    """Air, a body ellipse (soft tissue), two lungs (-850 HU), a spine (700 HU), noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    plane = np.full((size, size), -1000.0, dtype=np.float32)
    plane[(x / 0.45) ** 2 + (y / 0.32) ** 2 < 1] = 40.0
    for cx in (-0.2, 0.2):
        plane[((x - cx) / 0.16) ** 2 + ((y + 0.02) / 0.22) ** 2 < 1] = -850.0
    plane[(x / 0.05) ** 2 + ((y - 0.22) / 0.05) ** 2 < 1] = 700.0
    noise = rng.normal(0, 15, size=(n_slices, size, size)).astype(np.float32)
    return Volume(plane[None] + noise, spacing=(1.0, 0.7, 0.7), origin=(-179.0, -179.0, -300.0))


def smallest_run(out: Path, spacing: tuple[float, float, float]) -> Path:
    """One epoch of the demo's CT model on 8 random volumes of its input shape: a real run
    directory (config.yaml, checkpoint.pt, plan.json with spacing and windows)."""
    rng = np.random.default_rng(0)
    images, labels, ids = {}, {}, {}
    for split in ("train", "val", "test"):
        images[split] = rng.integers(0, 255, size=(8, len(DEMO_WINDOWS), *MODEL_SHAPE)).astype(
            np.uint8
        )
        labels[split] = rng.integers(0, 2, size=(8, 3)).astype(np.float32)
        ids[split] = np.array([f"{split}-{i}" for i in range(8)])
    ds = ArrayDataset(
        "bench", "multi-label", ("nodule", "effusion", "emphysema"), images, labels, ids,
        {s: v.copy() for s, v in ids.items()}, n_channels=len(DEMO_WINDOWS), spatial_dims=3,
        official=False,
        extra={"spacing": spacing, "windows": [tuple(w) for w in DEMO_WINDOWS]},
    )  # fmt: skip
    config = make_config({
        "cohort": "bench", "model": "ctnet_3d", "cohort_shape": MODEL_SHAPE, "epochs": 1,
        "batch_size": 8, "device": "cpu", "precision": "32-true", "out": str(out),
    })  # fmt: skip
    train(config, dataset=ds, progress=False)
    return out


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def stages(p: Predictor, series: Path) -> dict[str, float]:
    """One pass through the predictor's stages, each timed."""
    out = {}
    volume, out["read"] = timed(p.read, series)
    _, out["checks"] = timed(p.check, volume, series)
    prepared, out["preprocess"] = timed(p.prepare, volume)
    probs, out["model"] = timed(lambda: p.score(p.tensor([prepared]), 1))
    _, out["scores"] = timed(lambda: dict(zip(p.label_names, map(float, probs[0]), strict=True)))
    return out


def sitk_read(series: Path) -> np.ndarray:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series)))
    return sitk.GetArrayFromImage(reader.Execute())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="threads reading the series")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    with tempfile.TemporaryDirectory(prefix="radlens-predict-speed-") as tmp:
        root = Path(tmp)
        volume = chest_ct(args.slices, args.size)
        _, write_s = timed(write_dicom_series, volume, root / "series", patient_id="BENCH")
        extent = (args.slices * 1.0, args.size * 0.7, args.size * 0.7)
        spacing = tuple(e / n for e, n in zip(extent, (32, 64, 64), strict=True))  # demo grid
        run = smallest_run(root / "run", spacing)  # type: ignore[arg-type]
        p, load_s = timed(Predictor, run, workers=args.workers)
        series = root / "series"
        ends, by_stage, sitk_s, rows = [], [], [], None
        for _ in range(args.repeats):
            frame, t = timed(predict, run, [series], predictor=p)
            ends.append(t)
            rows = frame
            by_stage.append(stages(p, series))
            sitk_s.append(timed(sitk_read, series)[1])
        assert rows is not None and rows["status"][0] == "scored", rows
        same_shape = bool(np.array_equal(load_volume(series).array.shape, sitk_read(series).shape))
    median = {k: round(statistics.median(s[k] for s in by_stage), 3) for k in by_stage[0]}
    result = {
        "benchmark": "predict_speed",
        "series": {
            "slices": args.slices,
            "rows": args.size,
            "columns": args.size,
            "spacing_mm": [1.0, 0.7, 0.7],
            "megabytes": round(args.slices * args.size**2 * 2 / 1e6, 1),
        },
        "model": {
            "name": "ctnet_3d",
            "input": list(MODEL_SHAPE),
            "channels": len(DEMO_WINDOWS),
            "spacing_mm": [round(s, 3) for s in spacing],
        },
        "repeats": args.repeats,
        "threads": args.threads,
        "read_workers": args.workers,
        "end_to_end_median_s": round(statistics.median(ends), 3),
        "end_to_end_s": [round(t, 3) for t in ends],
        "stages_median_s": median,
        "simpleitk_read_median_s": round(statistics.median(sitk_s), 3),
        "same_shape_as_simpleitk": same_shape,
        "load_run_s": round(load_s, 3),
        "write_series_s": round(write_s, 2),
        "goal_s": 3.0,
        "heatmaps": False,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "note": "shared machine: other processes ran beside it (see load_average_1min)",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "command": "python benchmarks/predict_speed.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
