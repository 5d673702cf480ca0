"""Lightning Fabric training loop with device-resident data.

Images are converted once into one tensor (N, C, H, W) or (N, C, D, H, W) that lives on the
training device (kept uint8 when the source is uint8, a quarter of float32's memory; each batch is
scaled and normalised to [-1, 1] on the device, as MedMNIST's Normalize(0.5, 0.5) does). Batches
are slices of a seeded index permutation: no DataLoader, no per-image PIL. Augmentation (random
flips, small shifts) is tensor ops on the device. bf16 autocast where the hardware has bf16 (CUDA,
CPUs with AVX512-BF16/AMX) and channels-last; fused Adam; optional torch.compile.

`train` is `setup_training` (run directory, plan.json, data, model, optimiser; ``last.pt`` on
resume), `run_epoch` per epoch and `finish_training`. Every epoch writes ``last.pt`` (model,
optimiser, scheduler, RNG and permutation-generator states), so ``resume=True`` continues
bit-for-bit (`radlens.training.checkpoints`). Validation AUC after every epoch selects the best
model; its final float32 predictions make metrics.json and predictions.parquet
(`radlens.training.run.write_outputs`). Data parallel (torchrun / SLURM through Fabric): every
rank walks the same global batches and takes its share (`radlens.training.distributed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric import Fabric
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from radlens.core import PLAN, write_plan
from radlens.data import ArrayDataset
from radlens.errors import ConfigError, DataError
from radlens.models import Task, supports_channels_last
from radlens.training.checkpoints import (
    RunProgress,
    checkpoint_meta,
    lighten_last,
    load_best_weights,
    restore_training_state,
    save_checkpoints,
)
from radlens.training.config import TrainConfig
from radlens.training.device import (
    augment_batch,
    fabric_accelerator,
    images_to_tensor,
    memory_format,
    normalise,
    subset_indices,
)
from radlens.training.distributed import cluster_geometry, global_batches, loss_scale, rank_share
from radlens.training.init import freeze_backbone, init_weights
from radlens.training.model_setup import dataset_geometry, make_model, optimiser_and_schedule
from radlens.training.precision import guard_fabric_run, resolve_precision
from radlens.training.run import prepare_run_dir, write_outputs
from radlens.training.sources import load_dataset, run_plan
from radlens.training.validation import validation_auc

logger = logging.getLogger(__name__)

__all__ = [
    "TrainResult",
    "Training",
    "finish_training",
    "run_epoch",
    "setup_training",
    "train",
]


# ---- set-up ---------------------------------------------------------------------------------
def _fabric(config: TrainConfig) -> Fabric:
    """Fabric for the run's device and precision ("auto": bf16 where the hardware has it)."""
    accelerator, devices, use_cuda = fabric_accelerator(config.device, config.devices)
    precision = resolve_precision(config.precision, use_cuda)
    num_nodes = 1
    if isinstance(devices, int):  # torchrun / SLURM decide processes per node and nodes
        devices, num_nodes = cluster_geometry(devices)
    return Fabric(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision
    )


def _to_device(
    ds: ArrayDataset, split: str, limit: int | None, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's images (channel-first, dtype kept) and labels, resident on `device`."""
    idx = subset_indices(ds.size(split), limit, seed)
    x = images_to_tensor(
        ds.images[split][idx], n_channels=ds.n_channels, spatial_dims=ds.spatial_dims
    )
    y = torch.from_numpy(np.asarray(ds.labels[split][idx], np.float32))
    return x.to(device), y.to(device)


@dataclass
class TrainResult:
    """What a finished (or paused) training call produced."""

    run_dir: Path
    epochs_done: int
    best_epoch: int
    best_val_auc: float
    metrics: dict[str, Any]
    wall_time_s: float  # the epoch loop, validation and checkpoints included
    train_images_per_s: float  # training steps only


@dataclass
class Training:
    """One training call's state, from `setup_training` through `run_epoch` to `finish_training`."""

    config: TrainConfig  # resolved (on resume: the saved experiment + this call's hardware)
    run_dir: Path
    ds: ArrayDataset
    task: Task
    fabric: Fabric
    raw_model: nn.Module  # the network itself (checkpoints, final predictions)
    model: nn.Module  # the Fabric-wrapped (and compiled, if asked) network that trains
    optimizer: Any
    scheduler: Any
    weight: torch.Tensor | None  # class weights of the loss
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: np.ndarray
    channels_last: bool
    perm_gen: torch.Generator  # batch permutations
    aug_gen: torch.Generator  # augmentation draws, on the device
    progress: RunProgress
    meta: dict[str, Any]  # what both checkpoint files carry besides weights
    start_epoch: int
    end_epoch: int  # this call stops here (stop_after), at most config.epochs
    best_weights: dict[str, torch.Tensor] | None = None  # best model not yet written to disk
    seen: int = 0  # training images stepped through
    train_time: float = 0.0  # seconds in training steps


# ---- set-up -----------------------------------------------------------------------------------
def _network(
    config: TrainConfig, task: Task, geometry: dict[str, Any], fabric: Fabric, x: torch.Tensor
) -> tuple[nn.Module, bool]:
    """The model on the training device (before the optimiser exists, so resumed optimiser state
    lands there too), synchronised batch norm across GPUs, and whether it runs channels-last."""
    device = fabric.device
    channels_last = (
        config.channels_last
        if config.channels_last is not None
        else (device.type in ("cuda", "cpu"))
    )
    raw_model = make_model(config, task, geometry).to(device)
    if fabric.world_size > 1 and device.type == "cuda":
        raw_model = nn.SyncBatchNorm.convert_sync_batchnorm(raw_model)
    channels_last = channels_last and supports_channels_last(raw_model)
    if channels_last:
        raw_model = raw_model.to(memory_format=memory_format(x))
    one = x[:1].float()  # as training batches are laid out; oneDNN's wrong bf16 layers
    one = one.contiguous(memory_format=memory_format(one)) if channels_last else one
    guard_fabric_run(fabric, raw_model, one)  # compute in float32
    return raw_model, channels_last


def _check_splits(ds: ArrayDataset) -> None:
    """Training needs studies in the train and val splits (val picks the best epoch)."""
    sizes = {split: len(images) for split, images in ds.images.items()}
    for split in ("train", "val"):
        if not sizes.get(split):
            raise DataError(
                f"the {split!r} split has no studies (splits: {sizes or 'none'}); training needs"
                " train and val studies: add patients or assign them in the split column"
            )


def setup_training(
    config: TrainConfig,
    *,
    dataset: ArrayDataset | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> Training:
    """Start or resume the run directory (config.yaml, plan.json), load the data onto the
    training device, build the model, optimiser and schedule, and restore ``last.pt`` on resume."""
    if config.freeze_encoder and not config.init:
        raise ConfigError("--freeze-encoder (linear probing) needs --init RUN or CHECKPOINT")
    run_dir = Path(config.out)
    config, state = prepare_run_dir(config, resume=resume)
    if config.threads:
        torch.set_num_threads(config.threads)
    ds = dataset if dataset is not None else load_dataset(config)
    _check_splits(ds)
    task = Task(ds.task, ds.label_names, ordinal_loss=config.ordinal_loss)
    geometry = dataset_geometry(ds)
    plan = run_plan(config, ds, given=dataset is not None)

    fabric = _fabric(config)
    fabric.launch()
    fabric.seed_everything(config.seed, verbose=False)
    if fabric.is_global_zero and (not resume or not (run_dir / PLAN).is_file()):
        write_plan(run_dir, plan)
    device = fabric.device
    x_train, y_train = _to_device(ds, "train", config.max_train_images, config.seed, device)
    x_val, y_val = _to_device(ds, "val", config.max_eval_images, config.seed, device)
    raw_model, channels_last = _network(config, task, geometry, fabric, x_train)
    optimizer, scheduler = optimiser_and_schedule(config, raw_model, device)
    weight = None
    if config.class_weights == "balanced":
        weight = task.class_weights(y_train.cpu().numpy()).to(device)
        logger.info("class weights (balanced): %s", [round(float(w), 3) for w in weight])

    perm_gen = torch.Generator().manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    progress, meta = RunProgress(), checkpoint_meta(task, config, geometry, plan)
    if config.init and state is None:  # on resume the saved state replaces these weights
        meta["init"] = init_weights(config.init, raw_model, task, config.model)
    elif state is not None and "init" in state:
        meta["init"] = state["init"]
    if state is not None:
        progress = restore_training_state(state, raw_model, optimizer, scheduler, perm_gen, aug_gen)
        logger.info("resuming %s at epoch %d of %d", run_dir, progress.epoch + 1, config.epochs)
    if config.freeze_encoder:
        meta["trained_parameters"] = freeze_backbone(raw_model, task)
    start = progress.epoch
    end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
    end = start if progress.stopped_early else end  # a run that stopped early stays stopped
    net = torch.compile(raw_model) if config.compile else raw_model
    model, optimizer = fabric.setup(net, optimizer)
    return Training(
        config, run_dir, ds, task, fabric, raw_model, model, optimizer, scheduler, weight,
        x_train, y_train, x_val, y_val.cpu().numpy(), channels_last, perm_gen, aug_gen,
        progress, meta, start, end,
    )  # fmt: skip


# ---- one epoch --------------------------------------------------------------------------------
def _train_steps(t: Training, advance: Callable[[], None]) -> tuple[float, int]:
    """One pass over the training images; the mean loss and the images seen over all ranks."""
    config, fabric, device = t.config, t.fabric, t.fabric.device
    world, rank = fabric.world_size, fabric.global_rank
    t.model.train()
    # every rank draws the same permutation and takes its share of each global batch
    perm = torch.randperm(len(t.x_train), generator=t.perm_gen).to(device)
    total, count = torch.zeros((), device=device), 0
    for batch in global_batches(perm, config.batch_size, world):
        idx = rank_share(batch, rank, world)
        x = augment_batch(normalise(t.x_train[idx]), config.augment, config.shift_pixels, t.aug_gen)
        if t.channels_last:
            x = x.contiguous(memory_format=memory_format(x))
        loss = t.task.loss(t.model(x), t.y_train[idx], t.weight)
        t.optimizer.zero_grad(set_to_none=True)
        fabric.backward(loss * loss_scale(len(idx), len(batch), world))
        t.optimizer.step()
        total += loss.detach() * len(idx)
        count += len(idx)
        advance()
    t.scheduler.step()
    sums = torch.stack([total, torch.tensor(float(count), device=device)])
    if world > 1:
        sums = fabric.all_reduce(sums, reduce_op="sum")
    return float(sums[0]) / max(float(sums[1]), 1.0), int(sums[1])  # waits for the device


def run_epoch(t: Training, epoch: int, advance: Callable[[], None] = lambda: None) -> dict:
    """Train one epoch (0-based `epoch`), validate, keep the best weights, write checkpoints when
    due; return the epoch's history entry (epoch, train_loss, val_auc, lr). `advance` is called
    after every batch (a progress bar)."""
    t_epoch = time.perf_counter()
    train_loss, images = _train_steps(t, advance)
    t.train_time += time.perf_counter() - t_epoch
    t.seen += images
    val_auc = validation_auc(
        t.fabric,
        t.model,
        t.x_val,
        t.y_val,
        t.task,
        batch_size=t.config.eval_batch_size,
        channels_last=t.channels_last,
    )
    entry = {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "val_auc": val_auc,
        "lr": t.optimizer.param_groups[0]["lr"],
    }
    if t.progress.record(entry):
        t.best_weights = {k: v.detach().cpu().clone() for k, v in t.raw_model.state_dict().items()}
    done = epoch + 1
    if t.config.patience and t.progress.stalled(t.config.patience, t.config.lr):
        t.progress.stopped_early, t.end_epoch = True, done  # every rank: the same val AUC
    if t.fabric.is_global_zero and (done % t.config.checkpoint_every == 0 or done == t.end_epoch):
        save_checkpoints(
            t.run_dir,
            meta=t.meta,
            model=t.raw_model,
            optimizer=t.optimizer,
            scheduler=t.scheduler,
            progress=t.progress,
            perm_gen=t.perm_gen,
            aug_gen=t.aug_gen,
            best_weights=t.best_weights,
        )
        t.best_weights = None  # written
    return entry


# ---- the end ------------------------------------------------------------------------------------
def finish_training(t: Training, wall: float) -> TrainResult:
    """After the last epoch of the run (not of a paused call): the best model's float32
    predictions make predictions.parquet and metrics.json; `wall` is the epoch loop's time."""
    ips = t.seen / t.train_time if t.train_time > 0 else 0.0
    metrics: dict[str, Any] = {}
    finished = t.end_epoch >= t.config.epochs or t.progress.stopped_early
    if finished and t.fabric.is_global_zero:
        # the best model in float32, as `radlens evaluate` predicts; channels-last only changes
        # the order of the float32 sums (~1e-7) and is about a fifth faster on CPU
        load_best_weights(t.run_dir, t.raw_model)
        metrics = write_outputs(
            t.run_dir,
            t.raw_model,
            t.ds,
            t.task,
            t.config,
            device=t.fabric.device,
            channels_last=t.channels_last,
            extra={
                "best_epoch": t.progress.best_epoch,
                "epochs": t.config.epochs,
                "epochs_trained": t.progress.epoch,
                "stopped_early": t.progress.stopped_early,
                "loop_wall_time_s": round(wall, 2),
                "train_step_time_s": round(t.train_time, 2),
                "train_images_per_s": round(ips, 1),
                "device": str(t.fabric.device),
                "history": t.progress.history,
                **{k: t.meta[k] for k in ("init", "trained_parameters") if k in t.meta},
            },
        )
        lighten_last(t.run_dir, keep_optimizer=t.config.keep_optimizer)
    return TrainResult(
        t.run_dir, t.end_epoch, t.progress.best_epoch, t.progress.best_val_auc, metrics, wall, ips
    )


_COLUMNS = (
    TextColumn("[bold]{task.description}"),
    BarColumn(),
    TextColumn("{task.fields[info]}"),
    TimeElapsedColumn(),
    TimeRemainingColumn(),
)


def train(
    config: TrainConfig,
    *,
    dataset: ArrayDataset | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `config.model` on the configured data and write the run directory `config.out`.

    Args:
        dataset: use this dataset instead of loading the one the config names.
        resume: continue from ``out/last.pt`` (same config; ends as an uninterrupted run would;
            a larger ``config.epochs`` extends the run, see `prepare_run_dir`).
        stop_after: stop after this many epochs in this call (time-sliced jobs); resume later.
        progress: show a rich progress bar.
    """
    t = setup_training(config, dataset=dataset, resume=resume, stop_after=stop_after)
    world = t.fabric.world_size
    batches = max(1, len(global_batches(torch.arange(len(t.x_train)), t.config.batch_size, world)))
    t0 = time.perf_counter()
    with Progress(*_COLUMNS, disable=not progress or not t.fabric.is_global_zero) as bar:
        job = bar.add_task("train", total=(t.end_epoch - t.start_epoch) * batches, info="")
        for epoch in range(t.start_epoch, t.end_epoch):
            entry = run_epoch(t, epoch, lambda: bar.advance(job))
            best = t.progress.best_val_auc
            bar.update(
                job,
                description=f"epoch {epoch + 1}/{t.config.epochs}",
                info=f"loss {entry['train_loss']:.4f}  val AUC {entry['val_auc']:.4f}"
                f" (best {best:.4f})",
            )
            logger.debug(
                "epoch %d loss %.4f val auc %.4f", epoch + 1, entry["train_loss"], entry["val_auc"]
            )
            if t.progress.stopped_early:
                logger.info(
                    "early stopping after epoch %d (best %d)", epoch + 1, t.progress.best_epoch
                )
                break
    return finish_training(t, time.perf_counter() - t0)
