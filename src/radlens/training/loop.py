"""Lightning Fabric training loop with device-resident data.

Images are converted once into one tensor (N, C, H, W) or (N, C, D, H, W) that lives on the
training device (kept uint8 when the source is uint8, a quarter of float32's memory; each batch is
scaled and normalised to [-1, 1] on the device, as MedMNIST's Normalize(0.5, 0.5) does). Batches
are slices of a seeded index permutation: no DataLoader, no per-image PIL. Augmentation (random
flips, small shifts) is tensor ops on the device. bf16 autocast where the hardware has bf16 (CUDA,
CPUs with AVX512-BF16/AMX) and channels-last; fused Adam; optional torch.compile. Every
epoch writes ``last.pt`` (model, optimiser, scheduler, RNG and permutation-generator states), so
``resume=True`` continues bit-for-bit (`radlens.training.checkpoints`). Validation AUC after every epoch
selects the best model; its final float32 predictions make metrics.json and predictions.parquet
(`radlens.training.validation`). Data parallel (torchrun / SLURM through Fabric): every rank walks the
same global batches and takes its share (`radlens.training.distributed`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric import Fabric
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError
from radlens.models.factory import SlicesAsChannels, build_model
from radlens.models.tasks import Task
from radlens.training.checkpoints import (
    RunProgress,
    checkpoint_meta,
    load_best_weights,
    restore_training_state,
    save_checkpoints,
)
from radlens.training.config import TrainConfig
from radlens.training.device import (
    augment_batch,
    images_to_tensor,
    memory_format,
    normalise,
    subset_indices,
)
from radlens.training.distributed import cluster_geometry, global_batches, loss_scale, rank_share
from radlens.training.run import write_outputs
from radlens.training.validation import validation_auc

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "bf16_native", "dataset_geometry", "make_model", "train"]


# ---- set-up ---------------------------------------------------------------------------------
def _fabric(config: TrainConfig) -> Fabric:
    device = config.device.lower()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {config.device}: no CUDA GPU is visible; use cpu or auto")
    if device == "auto":
        accelerator, devices = "auto", config.devices
    elif device.startswith("cuda:"):
        accelerator, devices = "cuda", [int(device.split(":", 1)[1])]
    elif device in ("cpu", "cuda", "mps"):
        accelerator, devices = device, config.devices
    else:
        raise ConfigError(f"--device {config.device!r}: expected auto, cpu, cuda, cuda:N or mps")
    use_cuda = accelerator == "cuda" or (accelerator == "auto" and torch.cuda.is_available())
    precision = config.precision
    if precision == "auto":
        precision = "bf16-mixed" if bf16_native(use_cuda) else "32-true"
    num_nodes = 1
    if isinstance(devices, int):  # torchrun / SLURM decide processes per node and nodes
        devices, num_nodes = cluster_geometry(devices)
    return Fabric(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision
    )


def bf16_native(cuda: bool) -> bool:
    """bf16 autocast pays on CUDA GPUs with bf16 and on CPUs with native bf16 (AVX512-BF16/AMX);
    elsewhere it is emulated and slower, so "auto" precision falls back to float32."""
    if cuda:
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def dataset_geometry(ds: ArrayDataset) -> dict[str, Any]:
    """What build_model needs from the data: channels, dims, depth, small-input stem."""
    shape = images_to_tensor(
        ds.images["train"][:1], n_channels=ds.n_channels, spatial_dims=ds.spatial_dims
    ).shape
    return {
        "in_channels": ds.n_channels,
        "spatial_dims": ds.spatial_dims,
        "depth": int(shape[2]) if ds.spatial_dims == 3 else 1,
        "min_side": int(min(shape[-2:])),
    }


def make_model(config: TrainConfig, task: Task, geometry: dict[str, Any]) -> nn.Module:
    small = config.small_input
    if small is None:
        small = geometry["min_side"] <= 64
    return build_model(
        config.model,
        spatial_dims=geometry["spatial_dims"],
        in_channels=geometry["in_channels"],
        num_outputs=task.num_outputs,
        small_input=small,
        depth=max(1, geometry["depth"]),
    )


def _subset(ds: ArrayDataset, split: str, limit: int | None, seed: int):
    idx = subset_indices(ds.size(split), limit, seed)
    return ds.images[split][idx], ds.labels[split][idx]


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


# ---- the loop ---------------------------------------------------------------------------------
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
        resume: continue from ``out/last.pt`` (same config; ends as an uninterrupted run would).
        stop_after: stop after this many epochs in this call (time-sliced jobs); resume later.
        progress: show a rich progress bar.
    """
    from radlens.training.run import load_dataset, prepare_run_dir

    run_dir = Path(config.out)
    config, state = prepare_run_dir(config, resume=resume)
    if config.threads:
        torch.set_num_threads(config.threads)
    ds = dataset if dataset is not None else load_dataset(config)
    task = Task(ds.task, ds.label_names, ordinal_loss=config.ordinal_loss)
    geometry = dataset_geometry(ds)

    fabric = _fabric(config)
    fabric.launch()
    fabric.seed_everything(config.seed, verbose=False)
    device = fabric.device
    channels_last = (
        config.channels_last
        if config.channels_last is not None
        else (device.type in ("cuda", "cpu"))
    )

    def to_device(split: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        imgs, labels = _subset(ds, split, limit, config.seed)
        x = images_to_tensor(imgs, n_channels=ds.n_channels, spatial_dims=ds.spatial_dims)
        return x.to(device), torch.from_numpy(np.asarray(labels, np.float32)).to(device)

    x_train, y_train = to_device("train", config.max_train_images)
    x_val, y_val = to_device("val", config.max_eval_images)
    y_val_np = y_val.cpu().numpy()

    # on the device before the optimiser exists, so resumed optimiser state lands there too
    raw_model = make_model(config, task, geometry).to(device)
    if fabric.world_size > 1 and device.type == "cuda":
        raw_model = nn.SyncBatchNorm.convert_sync_batchnorm(raw_model)
    from radlens.models.ctnet import CTNet  # 2D nets fed 5D volumes: no channels-last 3D format

    channels_last = channels_last and not isinstance(raw_model, (SlicesAsChannels, CTNet))
    if channels_last:
        raw_model = raw_model.to(memory_format=memory_format(x_train))
    fused = device.type in ("cuda", "cpu")  # fused Adam: one kernel for all parameters
    optimizer = torch.optim.Adam(
        raw_model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused
    )
    milestones = sorted({max(1, round(m * config.epochs)) for m in config.milestones})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=config.gamma)
    weight = None
    if config.class_weights == "balanced":
        weight = task.class_weights(y_train.cpu().numpy()).to(device)
        logger.info("class weights (balanced): %s", [round(float(w), 3) for w in weight])

    perm_gen = torch.Generator().manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    run = RunProgress()
    best_weights: dict[str, torch.Tensor] | None = None  # best model not yet written to disk
    if state is not None:
        run = restore_training_state(state, raw_model, optimizer, scheduler, perm_gen, aug_gen)
        logger.info("resuming %s at epoch %d of %d", run_dir, run.epoch + 1, config.epochs)
    start_epoch = run.epoch
    meta = checkpoint_meta(task, config, geometry)

    net = torch.compile(raw_model) if config.compile else raw_model
    model, optimizer = fabric.setup(net, optimizer)

    n_train = len(x_train)
    world, rank = fabric.world_size, fabric.global_rank
    end_epoch = (
        config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
    )
    batches = max(1, len(global_batches(torch.arange(n_train), config.batch_size, world)))
    t0, seen, train_time = time.perf_counter(), 0, 0.0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress or not fabric.is_global_zero) as bar:
        job = bar.add_task("train", total=(end_epoch - start_epoch) * batches, info="")
        for epoch in range(start_epoch, end_epoch):
            t_epoch = time.perf_counter()
            model.train()
            # every rank draws the same permutation and takes its share of each global batch
            perm = torch.randperm(n_train, generator=perm_gen).to(device)
            total, count = torch.zeros((), device=device), 0
            for batch in global_batches(perm, config.batch_size, world):
                idx = rank_share(batch, rank, world)
                x = augment_batch(
                    normalise(x_train[idx]), config.augment, config.shift_pixels, aug_gen
                )
                if channels_last:
                    x = x.contiguous(memory_format=memory_format(x))
                loss = task.loss(model(x), y_train[idx], weight)
                optimizer.zero_grad(set_to_none=True)
                fabric.backward(loss * loss_scale(len(idx), len(batch), world))
                optimizer.step()
                total += loss.detach() * len(idx)
                count += len(idx)
                bar.advance(job)
            scheduler.step()
            sums = torch.stack([total, torch.tensor(float(count), device=device)])
            if world > 1:
                sums = fabric.all_reduce(sums, reduce_op="sum")
            train_loss = float(sums[0]) / max(float(sums[1]), 1.0)  # waits for the device
            train_time += time.perf_counter() - t_epoch
            seen += int(sums[1])
            val_auc = validation_auc(
                fabric,
                model,
                x_val,
                y_val_np,
                task,
                batch_size=config.eval_batch_size,
                channels_last=channels_last,
            )
            entry = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_auc": val_auc,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if run.record(entry):
                best_weights = {
                    k: v.detach().cpu().clone() for k, v in raw_model.state_dict().items()
                }
            done = epoch + 1
            if fabric.is_global_zero and (done % config.checkpoint_every == 0 or done == end_epoch):
                save_checkpoints(
                    run_dir,
                    meta=meta,
                    model=raw_model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    progress=run,
                    perm_gen=perm_gen,
                    aug_gen=aug_gen,
                    best_weights=best_weights,
                )
                best_weights = None  # written
            bar.update(
                job,
                description=f"epoch {epoch + 1}/{config.epochs}",
                info=f"loss {train_loss:.4f}  val AUC {val_auc:.4f} (best {run.best_val_auc:.4f})",
            )
            logger.debug("epoch %d loss %.4f val auc %.4f", epoch + 1, train_loss, val_auc)
    wall = time.perf_counter() - t0
    ips = seen / train_time if train_time > 0 else 0.0
    metrics: dict[str, Any] = {}
    if end_epoch >= config.epochs and fabric.is_global_zero:
        # the best model in float32, as `radlens evaluate` predicts; channels-last only changes
        # the order of the float32 sums (~1e-7) and is about a fifth faster on CPU
        load_best_weights(run_dir, raw_model)
        metrics = write_outputs(
            run_dir,
            raw_model,
            ds,
            task,
            config,
            device=device,
            channels_last=channels_last,
            extra={
                "best_epoch": run.best_epoch,
                "epochs": config.epochs,
                "loop_wall_time_s": round(wall, 2),
                "train_step_time_s": round(train_time, 2),
                "train_images_per_s": round(ips, 1),
                "device": str(device),
                "history": run.history,
            },
        )
    return TrainResult(run_dir, end_epoch, run.best_epoch, run.best_val_auc, metrics, wall, ips)
