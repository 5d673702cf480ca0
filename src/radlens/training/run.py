"""Run directories: config.yaml, checkpoint.pt / last.pt, metrics.json, predictions.parquet.

`prepare_run_dir` starts or resumes one, `write_outputs` writes its predictions and metrics,
`load_run` rebuilds the trained model from it and `repredict_split` re-predicts one split from
``checkpoint.pt`` and updates metrics.json and predictions.parquet.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn

from radlens.core import (
    CHECKPOINT,
    CONFIG,
    LAST,
    METRICS,
    PREDICTIONS,
    atomic_write_text,
    read_predictions,
    write_predictions,
)
from radlens.data import ArrayDataset
from radlens.errors import ConfigError, EvaluationError, ModelError
from radlens.models import Task, predictions_to_frame, prevalence
from radlens.training.checkpoints import check_resumable
from radlens.training.config import TrainConfig, make_config
from radlens.training.device import (
    images_to_tensor,
    inference_device,
    predict_scores,
    subset_indices,
)
from radlens.training.model_setup import make_model
from radlens.training.sources import load_dataset

__all__ = [
    "HARDWARE_FIELDS",
    "LoadedRun",
    "data_note",
    "load_run",
    "prepare_run_dir",
    "repredict_split",
    "split_report",
    "write_outputs",
]

logger = logging.getLogger(__name__)

# options that may change between a run and its resumption (hardware, not the experiment)
HARDWARE_FIELDS = {
    "device",
    "precision",
    "channels_last",
    "compile",
    "devices",
    "threads",
    "out",
    "eval_batch_size",
    "checkpoint_every",
    "keep_optimizer",
}


def _read_config(run_dir: Path) -> TrainConfig:
    path = run_dir / CONFIG
    if not path.is_file():
        raise ModelError(
            f"{run_dir} is not a run directory: no config.yaml (train one with"
            f" `radlens train ... --out {run_dir}`)"
        )
    return make_config(yaml.safe_load(path.read_text()) or {}, source=str(path))


def _torch_load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"run directory {path.parent}: {path.name} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ModelError(f"{path}: not a readable radlens checkpoint ({exc})") from None


def prepare_run_dir(
    config: TrainConfig, *, resume: bool
) -> tuple[TrainConfig, dict[str, Any] | None]:
    """Create ``out`` (fresh run) or reload config and ``last.pt`` (resume). A resume may give a
    new total of epochs no smaller than those done: the run continues from its last state (the LR
    is not raised), the schedule's milestones are recomputed for the new total (those already
    passed do not apply again) and config.yaml is updated."""
    run_dir = Path(config.out)
    if not resume:
        if (run_dir / LAST).exists() or (run_dir / CHECKPOINT).exists():
            raise ConfigError(
                f"--out {run_dir} already holds a run; add --resume to continue it or choose"
                " another --out"
            )
        config.check_source()
        run_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(run_dir / CONFIG)
        return config, None
    saved = _read_config(run_dir)
    state = _torch_load(run_dir / LAST)
    check_resumable(state, run_dir)
    extend = _extended_epochs(config, saved, state, run_dir)
    for name in config.model_fields_set - HARDWARE_FIELDS - extend.keys():
        if getattr(config, name) != getattr(saved, name):
            raise ConfigError(
                f"--resume: run {run_dir} was trained with {name}={getattr(saved, name)!r};"
                f" cannot continue it with {name}={getattr(config, name)!r}"
            )
    hardware = {k: getattr(config, k) for k in config.model_fields_set & HARDWARE_FIELDS}
    values = {**saved.model_dump(), **hardware, **extend}
    resolved = make_config(values, source=str(run_dir / CONFIG))
    if extend:
        resolved.to_yaml(run_dir / CONFIG)
        logger.info("--resume: run %s now trains for %d epochs", run_dir, resolved.epochs)
    return resolved, state


def _extended_epochs(
    config: TrainConfig, saved: TrainConfig, state: dict[str, Any], run_dir: Path
) -> dict[str, int]:
    """``{"epochs": N}`` when a resume asks for another total N of epochs (none: {}). N may be
    larger than the run's (extend it) but not smaller than the epochs already done."""
    if "epochs" not in config.model_fields_set or config.epochs == saved.epochs:
        return {}
    done = int(state.get("epoch", 0))
    if config.epochs < done:
        raise ConfigError(
            f"--resume: run {run_dir} has already trained {done} epochs;"
            f" --epochs {config.epochs} is fewer (give --epochs {done} or more)"
        )
    return {"epochs": config.epochs}


# ---- predictions and metrics ---------------------------------------------------------------
def data_note(ds: ArrayDataset) -> str:
    """What metrics.json says the data was: "official data" only where an official checksum
    matched (MedMNIST, MD5 verified); "user data: <folder> (N files, fingerprint ...)" for a
    user's folder; else "unofficial data"."""
    note = ds.extra.get("data_note")
    if isinstance(note, str) and note:
        return note
    return "official data" if ds.official else "unofficial data"


def split_report(
    ds: ArrayDataset,
    split: str,
    task: Task,
    config: TrainConfig,
    idx: np.ndarray,
    y_true: np.ndarray,
    scores: np.ndarray,
) -> dict[str, Any]:
    """Metrics of one split plus what they were measured on."""
    n = len(scores)
    out = task.metrics(y_true, scores)
    out["n_images"] = n
    out["n_patients"] = len(set(ds.patient_ids[split][idx]))
    out["prevalence"] = prevalence(task, y_true)
    out["official_data"] = bool(ds.official)
    out["data_note"] = data_note(ds)
    where = f"{ds.name}" + (f" {config.size}px" if config.dataset else "")
    text = f"{where}, {split} split, {n} of {ds.size(split)} images"
    if "data_note" in ds.extra:
        text += f", {ds.extra['data_note']}"
    elif not ds.official:
        text += f", unofficial data ({ds.source or 'file not verified against official MD5'})"
    out["measured_on"] = text
    return out


def _predict_split(
    model: nn.Module,
    ds: ArrayDataset,
    split: str,
    task: Task,
    config: TrainConfig,
    device: torch.device,
    channels_last: bool,
):
    idx = subset_indices(ds.size(split), config.max_eval_images, config.seed)
    x = images_to_tensor(
        ds.images[split][idx], n_channels=ds.n_channels, spatial_dims=ds.spatial_dims
    )
    scores = predict_scores(
        model,
        x,
        task,
        batch_size=config.eval_batch_size,
        device=device,
        channels_last=channels_last,
    )
    return idx, ds.labels[split][idx], scores


def _frame(
    ds: ArrayDataset, split: str, task: Task, idx: np.ndarray, y: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    sites = ds.extra.get("site", ds.extra.get("sites"))
    site = np.asarray(sites[split])[idx] if isinstance(sites, dict) and split in sites else None
    return predictions_to_frame(
        task=task,
        split=split,
        ids=ds.ids[split][idx],
        patient_ids=ds.patient_ids[split][idx],
        y_true=y,
        y_score=scores,
        sites=site,
        dataset=ds.name,
        official=ds.official,
    )


def write_outputs(
    run_dir: Path,
    model: nn.Module,
    ds: ArrayDataset,
    task: Task,
    config: TrainConfig,
    *,
    device: torch.device,
    channels_last: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Predict val and test with `model`; write predictions.parquet and metrics.json."""
    model.to(device)
    splits, frames = {}, []
    for split in [s for s in ("val", "test") if s in ds.images]:
        idx, y, scores = _predict_split(model, ds, split, task, config, device, channels_last)
        splits[split] = split_report(ds, split, task, config, idx, y, scores)
        frames.append(_frame(ds, split, task, idx, y, scores))
    df = pd.concat(frames, ignore_index=True)
    df.attrs = frames[0].attrs
    write_predictions(df, run_dir / PREDICTIONS)
    metrics = {
        **_metrics_head(ds, task, config),
        **(extra or {}),
        "splits": splits,
    }
    _write_metrics(run_dir, metrics)
    return metrics


def _metrics_head(ds: ArrayDataset, task: Task, config: TrainConfig) -> dict[str, Any]:
    """What metrics.json says before the per-split figures: the data, the task, the model."""
    return {
        "dataset": ds.name,
        "task": task.kind,
        "official_data": bool(ds.official),
        "data_note": data_note(ds),
        **(
            {"data_fingerprint": ds.extra["data_fingerprint"]}
            if "data_fingerprint" in ds.extra
            else {}
        ),
        "label_names": list(task.label_names),
        "model": config.model,
        **({"label_subset": ds.extra["label_subset"]} if "label_subset" in ds.extra else {}),
    }


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    atomic_write_text(run_dir / METRICS, json.dumps(metrics, indent=2, default=float))


# ---- reading runs back -------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A trained model rebuilt from its run directory (eval mode, on CPU)."""

    model: nn.Module
    config: TrainConfig
    task: Task
    label_names: tuple[str, ...]
    run_dir: Path
    checkpoint: dict[str, Any]


def load_run(run_dir: str | Path) -> LoadedRun:
    """Rebuild the best model of a run from ``config.yaml`` and ``checkpoint.pt``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ModelError(f"run directory {run_dir} does not exist")
    config = _read_config(run_dir)
    ckpt = _torch_load(run_dir / CHECKPOINT)
    try:
        task = Task(ckpt["task"], tuple(ckpt["label_names"]), ordinal_loss=ckpt["ordinal_loss"])
        model = make_model(config, task, ckpt["geometry"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as exc:
        raise ModelError(f"{run_dir / CHECKPOINT}: does not match {CONFIG} ({exc})") from None
    model.eval()
    return LoadedRun(model, config, task, task.label_names, run_dir, ckpt)


def repredict_split(
    run_dir: str | Path,
    split: str = "test",
    *,
    dataset: ArrayDataset | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Re-predict `split` from checkpoint.pt; update metrics.json and predictions.parquet.

    Returns the split's metrics (auc, acc, extras, n_images, n_patients, prevalence, ...).
    """
    run = load_run(run_dir)
    ds = dataset if dataset is not None else load_dataset(run.config)
    if split not in ds.images:
        raise EvaluationError(f"dataset {ds.name!r} has no split {split!r}; has {ds.splits}")
    dev = inference_device(device or "auto")
    run.model.to(dev)
    idx, y, scores = _predict_split(run.model, ds, split, run.task, run.config, dev, False)
    report = split_report(ds, split, run.task, run.config, idx, y, scores)
    metrics_path = run.run_dir / METRICS
    metrics = (
        json.loads(metrics_path.read_text())
        if metrics_path.is_file()
        else {**_metrics_head(ds, run.task, run.config), "splits": {}}
    )
    metrics["splits"][split] = report
    _write_metrics(run.run_dir, metrics)
    frame = _frame(ds, split, run.task, idx, y, scores)
    pred_path = run.run_dir / PREDICTIONS
    if pred_path.is_file():
        old = read_predictions(pred_path)
        frame_attrs = frame.attrs
        frame = pd.concat([old[old["split"] != split], frame], ignore_index=True)
        frame.attrs = frame_attrs
    write_predictions(frame, pred_path)
    return {
        "dataset": ds.name,
        "split": split,
        "task": run.task.kind,
        "label_names": list(run.label_names),
        **report,
    }
