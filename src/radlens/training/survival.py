"""`radlens train --task survival`: time to event from the image and tabular covariates.

Recipe: the chest-CT cohort is loaded as for classification (`load_dataset`: same splits by
patient, same volumes and cache); the follow-up and covariates come from
`radlens.training.survival_data`. The network (`radlens.models.SurvivalNet`) is the run's
`--model` classifier used as an image encoder whose outputs are image features (16, or with
``--init RUN`` that run's label logits, its weights loaded by `init_weights`), concatenated with
the coded covariates into one linear head: ``--head cox`` (Cox partial likelihood, Breslow ties,
`cox_ph_loss`; the risk score is the log relative hazard) or ``--head discrete`` (logistic hazards
on ``--intervals`` intervals cut at quantiles of the training event times,
`discrete_time_loss`; the risk score is minus the restricted mean survival over the intervals, and
the survival curve is written too). Lightning Fabric runs it on one device (a Cox risk set spans
the batch: no data parallel) with bf16 autocast where native, Adam and the run's LR steps; the
epoch with the lowest validation loss (the whole validation split's partial likelihood / NLL;
the last epoch without validation events) is kept.

The covariates-only baseline: a linear Cox model of the same coded covariates fitted on the
training split (L-BFGS on `cox_ph_loss`, ridge `BASELINE_L2`), so evaluation can put the image's
contribution beside what the covariates alone give.

Run directory: config.yaml, plan.json (task "survival", label "risk"), checkpoint.pt (best
weights, head, features, covariate coding, cuts), metrics.json (history, splits, follow-up
source), predictions.parquet (per study of train/val/test: split, study_id, patient_id, site,
time, event, risk, risk_covariates, true_log_hazard where known, survival@<cut> per interval end
for the discrete head).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
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
    METRICS,
    PREDICTIONS,
    atomic_save,
    atomic_write_text,
    write_plan,
    write_predictions,
)
from radlens.errors import ConfigError, ModelError
from radlens.models import (
    SurvivalNet,
    cox_ph_loss,
    discrete_risk,
    discrete_survival,
    discrete_time_loss,
    discretise_times,
)
from radlens.training.config import TrainConfig, make_config
from radlens.training.device import augment_batch, images_to_tensor, normalise
from radlens.training.init import init_weights
from radlens.training.model_setup import dataset_geometry, step_schedule
from radlens.training.precision import guard_fabric_run
from radlens.training.sources import run_plan
from radlens.training.survival_data import CovariateEncoder
from radlens.training.survival_model import (
    SurvivalData,
    build_survival_net,
    covariate_cox,
    encoder_features,
    interval_cuts,
    load_survival_data,
    split_counts,
    survival_fabric,
)

__all__ = [
    "SURVIVAL_TASK",
    "SurvivalRun",
    "SurvivalTrainResult",
    "load_survival_run",
    "train_survival",
]

logger = logging.getLogger(__name__)
SURVIVAL_TASK = "survival"


@dataclass
class SurvivalTrainResult:
    """What `train_survival` returns (metrics.json's content and the best epoch)."""

    run_dir: Path
    best_epoch: int
    metrics: dict[str, Any]


@dataclass
class SurvivalRun:
    """A trained survival model rebuilt from its run directory (eval mode, CPU)."""

    model: SurvivalNet
    config: TrainConfig
    checkpoint: dict[str, Any]
    covariates: CovariateEncoder
    run_dir: Path


def _loss(head: str, out: torch.Tensor, t: torch.Tensor, e: torch.Tensor, k: torch.Tensor):
    out = out.float()
    return cox_ph_loss(out[:, 0], t, e) if head == "cox" else discrete_time_loss(out, k, e)


@dataclass
class _Tensors:
    """One split on the training device: images (stored dtype), covariates, time, event, and
    the interval of each time (discrete head)."""

    x: torch.Tensor
    cov: torch.Tensor
    time: torch.Tensor
    event: torch.Tensor
    interval: torch.Tensor
    images: bool = True  # x holds stored images (normalised per batch), else float features

    def batch(self, idx, config: TrainConfig | None = None, gen=None) -> torch.Tensor:
        """Model input of rows `idx`: normalised (and, given a config, augmented) images."""
        if not self.images:
            return self.x[idx]
        x = normalise(self.x[idx])
        return x if config is None else augment_batch(x, config.augment, config.shift_pixels, gen)


def _tensors(data: SurvivalData, split: str, cuts, device) -> _Tensors:
    ds, frame = data.ds, data.frames[split]
    x = images_to_tensor(ds.images[split], n_channels=ds.n_channels, spatial_dims=3)
    t = np.array(frame["time"], dtype=np.float64)
    interval = discretise_times(t, cuts) if cuts else torch.zeros(len(t), dtype=torch.long)
    return _Tensors(
        x.to(device),
        torch.tensor(data.covariates[split]).to(device),
        torch.tensor(t).to(device),
        torch.tensor(np.array(frame["event"], dtype=bool)).to(device),
        interval.to(device),
    )


def _outputs(model, s: _Tensors, batch_size: int) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        parts = [
            model(s.batch(slice(i, i + batch_size)), s.cov[i : i + batch_size]).float()
            for i in range(0, len(s.x), batch_size)
        ]
    return torch.cat(parts)


def _epoch(model, fabric, optimiser, s: _Tensors, config, gens) -> float:
    model.train()
    perm = torch.randperm(len(s.x), generator=gens[0]).to(s.x.device)
    total, n = 0.0, 0
    for start in range(0, len(perm), config.batch_size):
        idx = perm[start : start + config.batch_size]
        if len(idx) < 2:  # a batch of one has no pair to rank (and breaks batch norm)
            continue
        loss = _loss(
            config.head,
            model(s.batch(idx, config, gens[1]), s.cov[idx]),
            s.time[idx],
            s.event[idx],
            s.interval[idx],
        )
        optimiser.zero_grad(set_to_none=True)
        fabric.backward(loss)
        optimiser.step()
        total, n = total + float(loss.detach()) * len(idx), n + len(idx)
    return total / max(n, 1)


def _predictions(data: SurvivalData, outs: dict[str, torch.Tensor], head: str, cuts, baseline):
    frames = []
    for split, out in outs.items():
        frame = data.frames[split].copy()
        frame.insert(0, "split", split)
        if head == "cox":
            frame["risk"] = out[:, 0].cpu().numpy().astype(np.float64)
        else:
            surv = discrete_survival(out)
            frame["risk"] = discrete_risk(surv, cuts).cpu().numpy().astype(np.float64)
            for j, cut in enumerate(cuts):
                frame[f"survival@{cut:.6g}"] = surv[:, j].cpu().numpy()
        if baseline is not None:
            frame["risk_covariates"] = data.covariates[split].astype(np.float64) @ baseline
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df.attrs["radlens"] = {
        "task": SURVIVAL_TASK,
        "head": head,
        "cuts": list(cuts),
        "covariates": data.encoder.columns,
    }
    return df


def _prepare(config: TrainConfig, resume: bool) -> Path:
    if resume:
        raise ConfigError("--resume is not supported for --task survival; train a new --out")
    if config.task != SURVIVAL_TASK:
        raise ConfigError(f"task {config.task!r} is not {SURVIVAL_TASK!r}")
    config.check_source()
    if config.freeze_encoder and not config.init:
        raise ConfigError(
            "--freeze-encoder needs --init RUN (the trained encoder whose features the head uses)"
        )
    run_dir = Path(config.out)
    if (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"--out {run_dir} already holds a run; choose another --out")
    if config.threads:
        torch.set_num_threads(config.threads)
    return run_dir


def train_survival(config: TrainConfig, *, resume: bool = False) -> SurvivalTrainResult:
    """Train a survival run (module's recipe) into `config.out`; see the module's files."""
    run_dir = _prepare(config, resume)
    data = load_survival_data(config)
    fabric = survival_fabric(config)
    fabric.seed_everything(config.seed, verbose=False)
    device = fabric.device
    cuts = interval_cuts(data, config.intervals) if config.head == "discrete" else []
    geometry = dataset_geometry(data.ds)
    n_features, init_task = encoder_features(config)
    n_out = 1 if config.head == "cox" else len(cuts)
    raw = build_survival_net(config, geometry, n_features, data.covariates["train"].shape[1], n_out)
    ds = data.ds  # under CPU bf16, oneDNN's wrong layers compute in float32
    one = images_to_tensor(ds.images["train"][:1], n_channels=ds.n_channels,
                           spatial_dims=ds.spatial_dims)  # fmt: skip
    guard_fabric_run(fabric, raw.encoder, one)
    init = encoder_init(config, raw, init_task)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.to_yaml(run_dir / CONFIG)
    plan = run_plan(config, data.ds, given=False)
    write_plan(run_dir, plan.model_copy(update={"task": SURVIVAL_TASK, "labels": ("risk",)}))
    splits = {s: _tensors(data, s, cuts, device) for s in data.frames}
    net = raw
    if config.freeze_encoder:  # the head learns from the encoder's features, computed once
        net, splits = _frozen(raw.to(device), splits, config.eval_batch_size)
    trainable = [q for q in net.parameters() if q.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = step_schedule(config, optimiser)
    model, optimiser = fabric.setup(net, optimiser)
    gens = (
        torch.Generator().manual_seed(config.seed),
        torch.Generator(device=device).manual_seed(config.seed + 1),
    )
    val = splits.get("val")
    use_val = val is not None and bool(val.event.any())
    meta = {
        "task": SURVIVAL_TASK,
        "head": config.head,
        "n_features": n_features,
        "cuts": cuts,
        "covariates": data.encoder.state(),
        "geometry": geometry,
        "config": config.model_dump(mode="json"),
    }
    history, best, best_epoch, start = [], np.inf, 0, time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        loss = _epoch(model, fabric, optimiser, splits["train"], config, gens)
        scheduler.step()
        val_loss = (
            float(
                _loss(
                    config.head,
                    _outputs(model, val, config.eval_batch_size),
                    val.time,
                    val.event,
                    val.interval,
                )
            )
            if use_val
            else float("nan")
        )
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss,
                "val_loss": val_loss,
                "lr": optimiser.param_groups[0]["lr"],
            }
        )
        logger.info("epoch %d: loss %.4f, val loss %.4f", epoch, loss, val_loss)
        if not use_val or val_loss <= best:
            best, best_epoch = (val_loss if use_val else best), epoch
            atomic_save(run_dir / CHECKPOINT, {**meta, "epoch": epoch, "model": raw.state_dict()})
    return _finish(
        run_dir, config, data, (raw, net), splits, cuts, init, history, best_epoch, start
    )


def encoder_init(config: TrainConfig, net: SurvivalNet, task) -> dict[str, Any] | None:
    """``--init``: the source run's weights into the encoder (`init_weights`), else None."""
    if not config.init:
        return None
    return init_weights(config.init, net.encoder, task, config.model)


def _frozen(raw: SurvivalNet, splits: dict[str, _Tensors], batch_size: int):
    """(a head-only net sharing `raw`'s head, the splits as the frozen encoder's features)."""
    raw.encoder.eval()
    for q in raw.encoder.parameters():
        q.requires_grad_(False)
    out = {}
    with torch.no_grad():
        for name, s in splits.items():
            feats = [
                raw.encoder(s.batch(slice(i, i + batch_size))).float()
                for i in range(0, len(s.x), batch_size)
            ]
            out[name] = dataclasses.replace(s, x=torch.cat(feats), images=False)
    head_net = SurvivalNet(
        nn.Identity(),
        raw.head.in_features - raw.n_covariates,
        raw.n_covariates,
        raw.head.out_features,
    )
    head_net.head = raw.head  # shared: training it trains the run's head
    return head_net, out


def _finish(run_dir, config, data, nets, splits, cuts, init, history, best_epoch, start):
    """Best weights in float32 -> predictions.parquet (+ covariates-only baseline), metrics."""
    raw, net = nets  # the run's network and the one the splits feed (head only when frozen)
    ckpt = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    raw.load_state_dict(ckpt["model"])
    outs = {s: _outputs(net, t, config.eval_batch_size) for s, t in splits.items()}
    baseline = None
    if data.covariates["train"].shape[1]:
        train = data.frames["train"]
        baseline = covariate_cox(
            data.covariates["train"], train["time"].to_numpy(), train["event"].to_numpy()
        )
    write_predictions(_predictions(data, outs, config.head, cuts, baseline), run_dir / PREDICTIONS)
    metrics = {
        "task": SURVIVAL_TASK,
        "head": config.head,
        "dataset": str(config.cohort),
        "model": config.model,
        "follow_up": data.source,
        "covariates": data.encoder.columns,
        "covariate_coefficients": None
        if baseline is None
        else dict(zip(data.encoder.columns, map(float, baseline), strict=True)),
        "cuts": cuts,
        "best_epoch": best_epoch,
        "epochs": config.epochs,
        "selection": "lowest val loss"
        if any(np.isfinite(h["val_loss"]) for h in history)
        else "last epoch (no val events)",
        "seconds": round(time.perf_counter() - start, 2),
        "frozen_encoder": config.freeze_encoder,
        "device": str(next(raw.parameters()).device),
        "splits": split_counts(data),
        "history": history,
        **({"init": init} if init else {}),
    }
    atomic_write_text(run_dir / METRICS, json.dumps(metrics, indent=2, default=float))
    return SurvivalTrainResult(run_dir, best_epoch, metrics)


def load_survival_run(run_dir: str | Path) -> SurvivalRun:
    """Rebuild a survival run's best model from config.yaml and checkpoint.pt."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise ModelError(f"{run_dir} is not a run directory: no {CONFIG}")
    config = make_config(yaml.safe_load((run_dir / CONFIG).read_text()) or {}, str(run_dir))
    if config.task != SURVIVAL_TASK:
        raise ModelError(f"{run_dir} is a {config.task} run, not a survival run")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ModelError(f"run directory {run_dir}: {CHECKPOINT} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    enc = CovariateEncoder.from_state(ckpt["covariates"])
    n_out = 1 if ckpt["head"] == "cox" else len(ckpt["cuts"])
    net = build_survival_net(
        config, ckpt["geometry"], int(ckpt["n_features"]), len(enc.columns), n_out
    )
    net.load_state_dict(ckpt["model"])
    net.eval()
    return SurvivalRun(net, config, ckpt, enc, run_dir)
