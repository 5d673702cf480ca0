"""`radlens train --task segmentation`: a MONAI UNet / SegResNet on per-finding masks.

Recipe: class-balanced patches (`radlens.training.seg_data.patch_loader`), one sigmoid channel per
finding (findings may overlap), loss = batch Dice + a binary cross-entropy with lesion voxels
weighted `POS_WEIGHT` (`--seg-loss balanced`: each finding's lesion and background voxels weigh
alike; `radlens.training.seg_loss` says what each gains and costs). AdamW with the run's `lr` on a
one-cycle schedule, bf16 autocast where the CPU/GPU has it natively. At `VAL_POINTS` evenly spaced
epochs (always the last) each finding's mask threshold is chosen on the val split
(`best_thresholds`) and the val mean Dice at those thresholds (per finding over its studies, then
over findings) selects the model (the last epoch, thresholds 0.5, when there is no val split); a
loaded run's model (`OffsetLogits`) is cut at 0.5 like any other. Inference (`predict_volume`) is
MONAI `sliding_window_inference` with the training patch as window, `OVERLAP` and constant
blending, on volumes at the run's `spacing`.

Run directory: config.yaml, plan.json (task "segmentation", spacing, windows, patch),
checkpoint.pt (best weights, findings, channels, mask thresholds), metrics.json (loss, val
Dice and thresholds per epoch).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from monai.inferers import sliding_window_inference
from torch import nn

from radlens.core import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    RunPlan,
    atomic_save,
    atomic_write_text,
    write_plan,
)
from radlens.data import DEMO_WINDOWS
from radlens.errors import ConfigError, ModelError
from radlens.models import SliceWise, build_model, is_segmentation_model
from radlens.training.config import TrainConfig, make_config
from radlens.training.device import inference_device
from radlens.training.precision import guard_bf16_convs, resolve_precision
from radlens.training.seg_data import SegCase, load_seg_cases, patch_loader, read_seg_table
from radlens.training.seg_loss import (
    POS_WEIGHT,
    OffsetLogits,
    best_thresholds,
    seg_loss,
    study_dice,
    threshold_counts,
)

__all__ = [
    "OVERLAP",
    "POS_WEIGHT",
    "VAL_POINTS",
    "SegRun",
    "SegTrainResult",
    "load_segmentation_run",
    "predict_volume",
    "seg_loss",
    "segmentation_model",
    "train_segmentation",
]

logger = logging.getLogger(__name__)
OVERLAP = 0.25
VAL_POINTS = 4  # validation passes per run (sliding-window inference costs more than an epoch)
SEG_TASK = "segmentation"
DEFAULT_MODEL = "unet"


@dataclass
class SegTrainResult:
    """What `train_segmentation` returns (metrics.json's content and the best epoch)."""

    run_dir: Path
    best_epoch: int
    metrics: dict[str, Any]


@dataclass
class SegRun:
    """A trained segmentation model rebuilt from its run directory (eval mode, CPU)."""

    model: nn.Module
    config: TrainConfig
    findings: tuple[str, ...]
    windows: tuple[tuple[float, float], ...]
    run_dir: Path
    thresholds: tuple[float, ...]  # per finding: the network probability `model` cuts at 0.5


def _spatial_dims(patch: Sequence[int]) -> int:
    return 2 if int(patch[0]) == 1 else 3


def _check_patch(patch: Sequence[int]) -> None:
    dims = list(patch[1:]) if _spatial_dims(patch) == 2 else list(patch)
    if any(int(p) < 8 or int(p) % 8 for p in dims):
        raise ConfigError(
            f"--patch {','.join(map(str, patch))}: each size must be a multiple of 8 (three "
            "2x down-samplings), e.g. 32,64,64; a depth of 1 trains a 2D network on slices"
        )


def segmentation_model(config: TrainConfig, in_channels: int, n_findings: int) -> nn.Module:
    """The run's network: 2D (wrapped slice-wise) when the patch is one slice deep, else 3D."""
    return build_model(
        config.model, spatial_dims=_spatial_dims(config.patch), in_channels=in_channels,
        num_outputs=n_findings,
    )  # fmt: skip


def resolve_segmentation_config(config: TrainConfig) -> TrainConfig:
    """The model defaults to unet; a classifier name is refused; the patch is checked."""
    if config.task != SEG_TASK:
        raise ConfigError(f"task {config.task!r} is not {SEG_TASK!r}")
    config.check_source()
    if not is_segmentation_model(config.model):
        if "model" in config.model_fields_set:
            raise ConfigError(
                f"--model {config.model} is a classifier; --task segmentation takes unet, "
                "unet_lite, segresnet or segresnet_lite"
            )
        config = make_config({**config.model_dump(), "model": DEFAULT_MODEL})
    _check_patch(config.patch)
    return config


def predict_volume(
    model: nn.Module,
    image: np.ndarray,
    patch: Sequence[int],
    *,
    overlap: float = OVERLAP,
    device: torch.device | str = "cpu",
    sw_batch_size: int = 4,
) -> np.ndarray:
    """(F, D, H, W) float32 probabilities of a (C, D, H, W) image: sliding windows of `patch`
    (constant blending, windows past the border zero-padded), sigmoid per finding. A 2D model
    (`SliceWise`) sees slices independently, so its windows span the whole depth at once."""
    roi = tuple(int(p) for p in patch)
    if isinstance(model.net if isinstance(model, OffsetLogits) else model, SliceWise):
        roi = (int(image.shape[1]), *roi[1:])
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(device)
    model.eval()
    with torch.no_grad():
        logits = sliding_window_inference(
            x, roi_size=roi, sw_batch_size=sw_batch_size,
            predictor=model, overlap=overlap, mode="constant", padding_mode="constant",
        )  # fmt: skip
    return torch.sigmoid(torch.as_tensor(logits))[0].float().cpu().numpy()


def _val_dice(
    model: nn.Module, cases: Sequence[SegCase], patch, device
) -> tuple[list[float], list[float]]:
    """Per finding: the mask threshold with the best pooled val Dice (`best_thresholds`) and the
    mean Dice of `cases` at it (studies with both masks empty and the findings never present are
    left out: NaN)."""
    counts = [
        threshold_counts(predict_volume(model, c.image, patch, device=device), c.label)
        for c in cases
    ]
    thresholds = best_thresholds(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a finding absent from every study: NaN
        return [float(v) for v in np.nanmean(study_dice(counts, thresholds), axis=0)], thresholds


def _plan(config: TrainConfig, findings, windows) -> RunPlan:
    return RunPlan(
        data_source="ct_cohort", dataset=str(config.cohort), task=SEG_TASK,
        labels=tuple(findings), spatial_dims=_spatial_dims(config.patch),
        channels=len(windows), shape=tuple(config.patch), spacing_mm=tuple(config.spacing),
        windows_hu=tuple(tuple(w) for w in windows), orientation="SPL", crop="none",
        intensity="HU window (lo, hi) -> [0, 1] float, clipped; one channel per window",
    )  # fmt: skip


def _epoch(model, loader, loss_fn, optimiser, schedule, device, bf16: bool) -> float:
    model.train()
    total, n = 0.0, 0
    for batch in loader:
        x = batch["image"].as_tensor().float().to(device)
        y = batch["label"].as_tensor().float().to(device)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = loss_fn(logits, y)
        if not torch.isfinite(loss):
            raise ModelError(
                f"segmentation loss became {float(loss.detach())} (bf16 autocast"
                f" {'on' if bf16 else 'off'}); train with --precision 32-true or a lower --lr"
            )
        loss.backward()
        optimiser.step()
        schedule.step()
        total, n = total + float(loss.detach()) * len(x), n + len(x)
    return total / max(n, 1)


def _use_bf16(config: TrainConfig, device: torch.device, model: nn.Module, channels: int) -> bool:
    """bf16 autocast: asked for, or "auto" where the hardware has native bf16. On CPU the
    convolutions oneDNN computes wrongly in bf16 at the patch's shapes run in float32
    (`guard_bf16_convs`: the demo UNet's deepest Conv3d sees 2 slices of a 16-slice patch, whose
    garbage weight gradients once made the loss non-finite)."""
    cuda = device.type == "cuda"
    if resolve_precision(config.precision, cuda) != "bf16-mixed":
        return False
    if not cuda:
        guard_bf16_convs(model, torch.zeros((1, channels, *config.patch), device=device))
    return True


def _val_epochs(epochs: int) -> set[int]:
    """The `VAL_POINTS` evenly spaced epochs (always the last) that run validation."""
    return {max(1, round(epochs * k / VAL_POINTS)) for k in range(1, VAL_POINTS + 1)}


def _split_counts(cases: Sequence[SegCase]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for split in sorted({c.split for c in cases}):
        sel = [c for c in cases if c.split == split]
        out[split] = {"n_studies": len(sel), "n_patients": len({c.patient_id for c in sel})}
    return out


def train_segmentation(config: TrainConfig, *, resume: bool = False) -> SegTrainResult:
    """Train a segmentation run (module's recipe) into `config.out`; see the module's files."""
    if resume:
        raise ConfigError("--resume is not supported for --task segmentation; train a new --out")
    if config.freeze_encoder:
        raise ConfigError("--freeze-encoder is for classification and survival runs, not"
                          " --task segmentation")  # fmt: skip
    config = resolve_segmentation_config(config)
    run_dir = Path(config.out)
    if (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"--out {run_dir} already holds a run; choose another --out")
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    windows = [tuple(map(float, w)) for w in (config.cohort_windows or DEMO_WINDOWS)]
    seg = read_seg_table(config.cohort, config.findings, seed=config.seed)  # type: ignore[arg-type]
    cases = load_seg_cases(seg, config.spacing, windows)
    train_cases = [c for c in cases if c.split == "train"]
    val_cases = [c for c in cases if c.split == "val"]
    if not val_cases and config.seg_loss == "balanced":
        logger.warning(
            "%s has no val studies: the mask thresholds stay at 0.5, where a model trained with"
            " --seg-loss balanced over-segments rare findings; give the table a val split",
            config.cohort,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config.to_yaml(run_dir / CONFIG)
    write_plan(run_dir, _plan(config, seg.findings, windows))
    device = inference_device(config.device)  # one device: no DDP for segmentation
    model = segmentation_model(config, len(windows), len(seg.findings)).to(device)
    loader = patch_loader(train_cases, config.patch, batch_size=config.batch_size, seed=config.seed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * len(loader), pct_start=0.1
    )
    bf16 = _use_bf16(config, device, model, len(windows))
    val_at = _val_epochs(config.epochs)
    history, best, best_epoch, start = [], -np.inf, 0, time.perf_counter()
    loss_fn, thresholds = seg_loss(config.seg_loss), [0.5] * len(seg.findings)
    for epoch in range(1, config.epochs + 1):
        loss = _epoch(model, loader, loss_fn, optimiser, schedule, device, bf16)
        validate = val_cases and epoch in val_at
        dice, cuts = _val_dice(model, val_cases, config.patch, device) if validate else ([], [])
        score = float(np.nanmean(dice)) if dice and not np.isnan(dice).all() else -np.inf
        entry: dict[str, Any] = {"epoch": epoch, "loss": loss, "val_dice": {}}
        if dice:
            entry["val_dice"] = dict(zip(seg.findings, dice, strict=True))
            entry["thresholds"] = dict(zip(seg.findings, cuts, strict=True))
        history.append(entry)
        logger.info("epoch %d: loss %.4f, val mean Dice %.4f", epoch, loss, score)
        if score >= best:  # ties (no val lesions yet: -inf): the later epoch
            best, best_epoch, thresholds = score, epoch, cuts or thresholds
            state = {"model": model.state_dict(), "task": SEG_TASK, "epoch": epoch,
                     "findings": list(seg.findings), "in_channels": len(windows),
                     "thresholds": list(thresholds)}  # fmt: skip
            atomic_save(run_dir / CHECKPOINT, state)
    metrics = {
        "task": SEG_TASK, "dataset": str(config.cohort), "model": config.model,
        "findings": list(seg.findings), "spacing_mm": list(config.spacing),
        "patch": list(config.patch), "windows_hu": [list(w) for w in windows],
        "best_epoch": best_epoch, "seg_loss": config.seg_loss,
        "mask_thresholds": dict(zip(seg.findings, thresholds, strict=True)),
        "selection": "val mean Dice (ties: later epoch)" if val_cases else "last epoch (no val)",
        "seconds": round(time.perf_counter() - start, 2), "device": str(device),
        "splits": _split_counts(cases), "history": history,
    }  # fmt: skip
    atomic_write_text(run_dir / METRICS, json.dumps(metrics, indent=2, default=float))
    return SegTrainResult(run_dir, best_epoch, metrics)


def load_segmentation_run(run_dir: str | Path) -> SegRun:
    """Rebuild a segmentation run's best model from config.yaml and checkpoint.pt."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise ModelError(f"{run_dir} is not a run directory: no {CONFIG}")
    config = make_config(yaml.safe_load((run_dir / CONFIG).read_text()) or {}, str(run_dir))
    if config.task != SEG_TASK:
        raise ModelError(f"{run_dir} is a {config.task} run, not a segmentation run")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ModelError(f"run directory {run_dir}: {CHECKPOINT} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = segmentation_model(config, int(ckpt["in_channels"]), len(ckpt["findings"]))
    model.load_state_dict(ckpt["model"])
    thresholds = ckpt.get("thresholds") or [0.5] * len(ckpt["findings"])  # older runs: 0.5
    if any(t != 0.5 for t in thresholds):
        model = OffsetLogits(model, thresholds)
    model.eval()
    windows = tuple(tuple(map(float, w)) for w in (config.cohort_windows or DEMO_WINDOWS))
    findings = tuple(ckpt["findings"])
    return SegRun(model, config, findings, windows, run_dir, tuple(thresholds))  # type: ignore[arg-type]
