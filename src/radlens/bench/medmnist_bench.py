"""`radlens bench medmnist`: train and test every dataset x size x model x seed, resumably.

Each combination trains in its own run directory ``OUT/runs/<dataset>-<size>[r]-<model>-seed<k>-
<setting id>`` through `radlens.training.loop.train` (an interrupted run continues from its
``last.pt``). A finished combination appends one JSON line to ``OUT/results.jsonl``; combinations
whose line exists are skipped, so calling the same command again resumes the grid. After every
combination the tables (``bench.csv``, ``bench.md``, ``bench.html``) are rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radlens.bench.data import check_model_fits, load_bench_dataset
from radlens.bench.paper import comparable_method
from radlens.bench.scoring import ensemble_scores, predict_images, row_metrics
from radlens.bench.spec import BenchSpec, protocol_label
from radlens.bench.tables import write_tables
from radlens.core import CHECKPOINT, LAST, METRICS
from radlens.data import ArrayDataset
from radlens.models import Task
from radlens.training import inference_device, load_run, make_config, subset_indices, train

logger = logging.getLogger(__name__)

__all__ = ["BenchResult", "read_results", "row_key", "run_bench"]


@dataclass
class BenchResult:
    out: Path
    rows: list[dict[str, Any]]
    trained: int
    skipped: int
    tables: dict[str, Path]


def row_key(row: dict[str, Any]) -> tuple:
    """Identity of a result row: what was trained, on what, how (the resume key)."""
    return (row["dataset"], int(row["size"]), row["protocol"], row["model"], str(row["seed"]),
            row["setting_id"])  # fmt: skip


def read_results(out: str | Path) -> list[dict[str, Any]]:
    path = Path(out) / "results.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(out: Path, row: dict[str, Any]) -> None:
    with (out / "results.jsonl").open("a") as fh:
        fh.write(json.dumps(row, default=float) + "\n")


def _run_dir(spec: BenchSpec, dataset: str, size: int, model: str, seed: int) -> Path:
    tag = "r" if spec.protocol == "resize" and size != 28 else ""
    name = f"{dataset}-{size}{tag}-{model}-seed{seed}-{spec.setting_id(dataset)}"
    return Path(spec.out) / "runs" / name


def _base_row(spec: BenchSpec, ds: ArrayDataset, source: Path, size: int, model: str) -> dict:
    setting = spec.setting(ds.name)
    return {
        "dataset": ds.name,
        "size": size,
        "protocol": protocol_label(size, spec.protocol),
        "model": model,
        "setting_id": spec.setting_id(ds.name),
        **setting,
        "official_data": bool(ds.official),
        "data_note": "official data" if ds.official else "UNOFFICIAL data",
        "data_file": source.name,
        "n_train": int(min(ds.size("train"), spec.max_train_images or ds.size("train"))),
        "paper_method": comparable_method(ds.name, model, size),
    }


def _train_one(
    spec: BenchSpec, ds: ArrayDataset, size: int, model: str, seed: int, progress: bool
) -> tuple[Path, dict[str, Any]]:
    """Train (or resume, or reuse) one run directory; return it and its timing figures."""
    run_dir = _run_dir(spec, ds.name, size, model, seed)
    plan = spec.plan(ds.name)
    config = make_config(
        {
            "dataset": ds.name,
            "size": 28 if spec.protocol == "resize" else size,  # the file actually read
            "data_dir": spec.data_dir,
            "verify": spec.verify,
            "model": model,
            "epochs": spec.epochs,
            "seed": seed,
            "augment": plan["augment"],
            "class_weights": spec.class_weights,
            "batch_size": spec.batch_size,
            "lr": spec.effective_lr,
            "max_train_images": spec.max_train_images,
            "max_eval_images": spec.max_eval_images,
            "device": spec.device,
            "precision": spec.precision,
            "compile": spec.compile,
            "threads": spec.threads,
            "checkpoint_every": spec.checkpoint_every,
            "out": str(run_dir),
        },
        source=f"bench {run_dir.name}",
    )
    metrics_path = run_dir / METRICS
    if metrics_path.is_file() and (run_dir / CHECKPOINT).is_file():
        metrics = json.loads(metrics_path.read_text())
        return run_dir, metrics
    resume = (run_dir / LAST).is_file()
    result = train(config, dataset=ds, resume=resume, progress=progress)
    return run_dir, result.metrics


def _score_run(spec: BenchSpec, ds: ArrayDataset, run_dir: Path) -> dict[str, np.ndarray]:
    """Val/test scores of the best checkpoint (with TTA when the plan says so), saved beside it."""
    path = run_dir / "bench_scores.npz"
    tta = spec.plan(ds.name)["tta"]
    if path.is_file():
        saved = dict(np.load(path))
        if bool(saved.get("tta", False)) == tta:
            return saved
    run = load_run(run_dir)
    device = inference_device(spec.device or "auto")
    out: dict[str, np.ndarray] = {"tta": np.array(tta)}
    for split in ("val", "test"):
        idx = subset_indices(ds.size(split), spec.max_eval_images, 0)  # same for every seed
        out[f"{split}_idx"] = idx
        out[split] = predict_images(
            run.model, ds.images[split][idx], run.task, n_channels=ds.n_channels,
            spatial_dims=ds.spatial_dims, tta=tta, device=device,
        )  # fmt: skip
    np.savez(path, **out)
    return out


def _labels(ds: ArrayDataset, split: str, idx: np.ndarray) -> np.ndarray:
    return ds.labels[split][idx]


@dataclass
class _Grid:
    """One `run_bench` call: the rows so far (read back and new), their keys, the counts."""

    spec: BenchSpec
    out: Path
    rows: list[dict[str, Any]]
    command: str
    progress: bool
    machine: str = field(
        default_factory=lambda: (
            f"{platform.node()} ({platform.machine()}, torch {torch.__version__})"
        )
    )
    done: set[tuple] = field(default_factory=set)
    trained: int = 0
    skipped: int = 0

    def add(self, row: dict[str, Any]) -> None:
        """Append a finished row to results.jsonl and to the rows."""
        _append(self.out, row)
        self.rows.append(row)
        self.done.add(row_key(row))


@dataclass
class _Data:
    """The data of one (dataset, size), loaded the first time a row needs it."""

    spec: BenchSpec
    dataset: str
    size: int
    ds: ArrayDataset | None = None
    source: Path | None = None

    def load(self) -> tuple[ArrayDataset, Path]:
        if self.ds is None or self.source is None:
            self.ds, self.source = load_bench_dataset(
                self.dataset, self.size, self.spec.protocol, data_dir=self.spec.data_dir,
                data_files=self.spec.data_files, verify=self.spec.verify,
            )  # fmt: skip
        return self.ds, self.source


def run_bench(spec: BenchSpec, *, progress: bool = True, command: str = "") -> BenchResult:
    """Run (or resume) the grid of `spec`; write results.jsonl and the tables; return them."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_results(out)
    grid = _Grid(spec, out, rows, command, progress, done={row_key(r) for r in rows})
    for dataset in spec.datasets:
        for size in spec.sizes:
            data = _Data(spec, dataset, size)
            for model in spec.models:
                _run_model(grid, data, model)
    tables = write_tables(out, rows)
    return BenchResult(out, rows, grid.trained, grid.skipped, tables)


def _run_model(grid: _Grid, data: _Data, model: str) -> None:
    """Every seed of one (dataset, size, model) not yet done, then their ensemble row."""
    spec, dataset, size = grid.spec, data.dataset, data.size
    why = check_model_fits(model, dataset)
    if why:
        logger.warning("skipping %s: %s", model, why)
        return
    group: list[tuple[int, dict[str, np.ndarray]]] = []
    protocol, setting_id = protocol_label(size, spec.protocol), spec.setting_id(dataset)
    keys = [(dataset, size, protocol, model, str(seed), setting_id)
            for seed in [*range(spec.seeds), "ensemble"]]  # fmt: skip
    wants_ens = spec.plan(dataset)["ensemble"] and spec.seeds > 1
    complete = all(k in grid.done for k in keys[: spec.seeds + wants_ens])
    for seed in range(spec.seeds):
        key = keys[seed]
        if key in grid.done and (complete or not wants_ens):
            grid.skipped += 1
            continue
        ds, source = data.load()
        if key in grid.done:  # finished; its scores are needed for the ensemble
            run_dir = _run_dir(spec, dataset, size, model, seed)
            group.append((seed, _score_run(spec, ds, run_dir)))
            grid.skipped += 1
            continue
        scores = _train_row(grid, ds, source, size, model, seed)
        if scores is not None:
            group.append((seed, scores))
    ens_row = _ensemble_row(spec, data.ds, data.source, size, model, group, grid.rows, grid.command)
    if ens_row is not None and row_key(ens_row) not in grid.done:
        grid.add(ens_row)


def _train_row(
    grid: _Grid, ds: ArrayDataset, source: Path, size: int, model: str, seed: int
) -> dict[str, np.ndarray] | None:
    """Train one seed, score it, add its row; its scores (None: stopped before the end)."""
    spec = grid.spec
    t0 = time.perf_counter()
    run_dir, metrics = _train_one(spec, ds, size, model, seed, grid.progress)
    if not metrics:  # stopped before its last epoch: no row, resumes next time
        logger.warning("%s stopped early; run the command again", run_dir)
        return None
    scores = _score_run(spec, ds, run_dir)
    task = Task(ds.task, ds.label_names)
    test = row_metrics(task, _labels(ds, "test", scores["test_idx"]), scores["test"])
    val = row_metrics(task, _labels(ds, "val", scores["val_idx"]), scores["val"])
    row = {
        **_base_row(spec, ds, source, size, model),
        "seed": str(seed),
        **{f"test_{k}": v for k, v in test.items()},
        "val_auc": val["auc"],
        "val_acc": val["acc"],
        "best_epoch": metrics.get("best_epoch"),
        "wall_time_s": metrics.get("loop_wall_time_s", time.perf_counter() - t0),
        "train_images_per_s": metrics.get("train_images_per_s"),
        "device": metrics.get("device", str(inference_device(spec.device or "auto"))),
        "machine": grid.machine,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_dir": str(run_dir),
        "command": grid.command,
    }
    grid.add(row)
    grid.trained += 1
    write_tables(grid.out, grid.rows)
    return scores


def _ensemble_row(
    spec: BenchSpec,
    ds: ArrayDataset | None,
    source: Path | None,
    size: int,
    model: str,
    group: list[tuple[int, dict[str, np.ndarray]]],
    rows: list[dict[str, Any]],
    command: str,
) -> dict[str, Any] | None:
    """Mean-probability ensemble over the seeds of one (dataset, size, model), when planned."""
    if ds is None or source is None or len(group) < 2 or not spec.plan(ds.name)["ensemble"]:
        return None
    idx = group[0][1]["test_idx"]
    if any(not np.array_equal(s["test_idx"], idx) for _, s in group):
        logger.warning("%s %s: seeds scored different test subsets; no ensemble row", ds.name,
                       model)  # fmt: skip
        return None
    task = Task(ds.task, ds.label_names)
    mean = ensemble_scores([s["test"] for _, s in group])
    test = row_metrics(task, _labels(ds, "test", idx), mean)
    base = _base_row(spec, ds, source, size, model)
    members = [r for r in rows if row_key(r)[:4] == (ds.name, size, base["protocol"], model)
               and r["setting_id"] == base["setting_id"] and r["seed"] != "ensemble"]  # fmt: skip
    return {
        **base,
        "seed": "ensemble",
        "ensemble_of": len(group),
        **{f"test_{k}": v for k, v in test.items()},
        "wall_time_s": float(sum(r.get("wall_time_s") or 0 for r in members)),
        "train_images_per_s": float(np.mean([r.get("train_images_per_s") or 0 for r in members]))
        if members
        else None,
        "device": members[0].get("device") if members else "",
        "machine": members[0].get("machine") if members else "",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_dir": "",
        "command": command,
    }
