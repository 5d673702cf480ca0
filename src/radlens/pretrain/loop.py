"""The pretraining loop: Lightning Fabric (device, bf16 autocast, DDP launch), device-resident
data, seeded batch permutations, and the checkpoint / resume machinery of `radlens train`
(`radlens.training.save_checkpoints`, `restore_training_state`, `RunProgress`).

Data parallel (``--devices N`` or torchrun, as `radlens train`): every rank draws the same
permutation, walks the same global batches of ``batch_size`` and takes its interleaved share
(`radlens.training.global_batches` / `rank_share`); the losses gather the embeddings of all ranks
(`radlens.pretrain.losses.gather_batch`), so every rank computes the loss of the whole global
batch and the update equals one process's (batch norm statistics and augmentation draws are per
rank, as in `radlens train`). Only rank 0 writes files. Augmentation is seeded per rank (rank 0
as a one-process run); on resume the other ranks reseed theirs from the epoch.

An `Objective` owns the data and turns a batch of row indices into losses. Every epoch writes
``last.pt`` (model, optimiser, schedule, RNG states) so ``resume`` continues where a run stopped;
``checkpoint.pt`` holds the weights of the epoch with the lowest validation loss (the training
loss when the cohort has no validation rows). RunProgress ranks epochs by its ``val_auc`` field
(higher is better); pretraining stores the negated loss there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from lightning_fabric import Fabric
from torch import nn

from radlens.core import LAST, atomic_write_json
from radlens.errors import ConfigError
from radlens.training import (
    RunProgress,
    cluster_geometry,
    global_batches,
    guard_fabric_run,
    rank_share,
    resolve_precision,
    restore_training_state,
    save_checkpoints,
)

__all__ = [
    "HISTORY",
    "Objective",
    "PretrainOptions",
    "PretrainResult",
    "fit",
    "make_fabric",
    "rank_batches",
]

logger = logging.getLogger(__name__)
HISTORY = "pretrain.json"
PRECISIONS = ("auto", "32-true", "bf16-mixed")


@dataclass
class PretrainOptions:
    """Optimisation and hardware options shared by image-text and SSL pretraining."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    resume: bool = False
    threads: int | None = None
    #: processes (DDP through Fabric; torchrun / SLURM set them per node and nodes)
    devices: int = 1


class Objective(Protocol):
    def to(self, device: torch.device) -> None: ...

    def losses(
        self, model: nn.Module, idx: torch.Tensor, gen: torch.Generator | None, part: str = ...
    ) -> dict[str, torch.Tensor]: ...

    def n_rows(self, part: str) -> int: ...

    def example(self) -> torch.Tensor: ...


@dataclass
class PretrainResult:
    run_dir: Path
    epochs_done: int
    history: list[dict[str, Any]] = field(default_factory=list)
    pairs_per_s: float = 0.0
    rank: int = 0  # this process's global rank (data parallel)


def make_fabric(device: str, precision: str, devices: int = 1) -> Fabric:
    """Fabric for `device` (auto, cpu, cuda, cuda:N), `precision` (auto: bf16-mixed where the
    hardware has native bf16, as `radlens train` decides; 32-true; bf16-mixed) and `devices`
    processes (DDP; under torchrun / SLURM their geometry decides, as for `radlens train`)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: expected one of {list(PRECISIONS)}")
    if devices < 1:
        raise ConfigError(f"--devices {devices}: expected 1 or more")
    device = device.lower()
    if device.startswith("cuda:") and devices > 1:
        raise ConfigError(f"--device {device} names one GPU; use --device cuda --devices N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible; use cpu or auto")
    num_nodes = 1
    if device.startswith("cuda:"):
        accelerator, where = "cuda", [int(device.split(":", 1)[1])]
    elif device in ("auto", "cpu", "cuda"):
        accelerator, (where, num_nodes) = device, cluster_geometry(devices)
    else:
        raise ConfigError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    cuda = accelerator == "cuda" or (accelerator == "auto" and torch.cuda.is_available())
    precision = resolve_precision(precision, cuda)
    several = isinstance(where, int) and where * num_nodes > 1
    # the backbone's classification layer takes no part in pretraining: DDP must allow that
    strategy = "ddp_find_unused_parameters_true" if several else "auto"
    return Fabric(accelerator=accelerator, devices=where, num_nodes=num_nodes,
                  precision=precision, strategy=strategy)  # fmt: skip


def rank_batches(fabric, order: torch.Tensor, batch_size: int) -> list[tuple[int, torch.Tensor]]:
    """(global batch size, this rank's rows) of each global batch of `order`; batches with fewer
    than 2 rows (a contrastive batch needs a negative) or than one per rank are left out."""
    world, rank = fabric.world_size, fabric.global_rank
    batches = global_batches(order, batch_size, world)
    return [(len(b), rank_share(b, rank, world)) for b in batches if len(b) >= 2]


def _epoch(fabric, model, optimizer, objective, perm_gen, aug_gen, batch_size) -> tuple[dict, int]:
    model.train()
    n = objective.n_rows("train")
    perm = torch.randperm(n, generator=perm_gen).to(fabric.device)
    sums: dict[str, float] = {}
    steps = seen = 0
    for size, idx in rank_batches(fabric, perm, batch_size):
        out = objective.losses(model, idx, aug_gen)  # the global batch's, on every rank
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(out["loss"])
        optimizer.step()
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        steps += 1
        seen += size
    return {f"train_{k}": v / max(steps, 1) for k, v in sums.items()}, seen


@torch.no_grad()
def _validate(fabric, model, objective, batch_size) -> float | None:
    n = objective.n_rows("val")
    if n < 2:
        return None
    model.eval()
    total = count = 0.0
    for size, idx in rank_batches(fabric, torch.arange(n, device=fabric.device), batch_size):
        total += float(objective.losses(model, idx, None, part="val")["loss"]) * size
        count += size
    return total / count if count else None


def fit(
    run_dir: Path, raw_model: nn.Module, objective: Any, meta: dict[str, Any],
    options: PretrainOptions,
) -> PretrainResult:  # fmt: skip
    """Train `raw_model` on `objective` for options.epochs (continuing ``last.pt`` when
    options.resume); write checkpoint.pt, last.pt and pretrain.json into `run_dir`."""
    if options.epochs < 1 or options.batch_size < 2:
        raise ConfigError("--epochs must be >= 1 and --batch-size >= 2 (contrastive batches)")
    threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        return _fit(run_dir, raw_model, objective, meta, options)
    finally:
        torch.set_num_threads(threads)


def _fit(run_dir, raw_model, objective, meta, options: PretrainOptions) -> PretrainResult:
    fabric = make_fabric(options.device, options.precision, options.devices)
    fabric.launch()
    fabric.seed_everything(options.seed, verbose=False)
    device, rank = fabric.device, fabric.global_rank
    raw_model.to(device)
    objective.to(device)
    guard_fabric_run(fabric, raw_model.image, objective.example())  # oneDNN's wrong bf16 layers
    optimizer = torch.optim.AdamW(
        raw_model.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs)
    perm_gen = torch.Generator().manual_seed(options.seed)
    aug_gen = torch.Generator(device=device).manual_seed(options.seed + 1 + rank)
    progress = RunProgress()
    last = run_dir / LAST
    if options.resume:
        if not last.is_file():
            raise ConfigError(f"--resume: {last} not found (nothing to resume)")
        state = torch.load(last, map_location="cpu", weights_only=True)
        progress = restore_training_state(state, raw_model, optimizer, scheduler, perm_gen, aug_gen)
        if rank > 0:  # last.pt holds rank 0's augmentation state
            aug_gen.manual_seed(options.seed + 1 + rank + 1000 * progress.epoch)
        logger.info("resuming %s at epoch %d of %d", run_dir, progress.epoch + 1, options.epochs)
    if fabric.world_size > 1 and hasattr(objective, "reseed"):
        objective.reseed(options.seed + rank + 1000 * progress.epoch)
    model, optimizer = fabric.setup(raw_model, optimizer)
    seen, busy = 0, 0.0
    for epoch in range(progress.epoch, options.epochs):
        t0 = time.perf_counter()
        entry, n = _epoch(fabric, model, optimizer, objective, perm_gen, aug_gen,
                          options.batch_size)  # fmt: skip
        busy += time.perf_counter() - t0
        seen += n
        scheduler.step()
        val = _validate(fabric, model, objective, options.batch_size)
        entry = {"epoch": epoch + 1, **entry, "val_loss": val, "lr": scheduler.get_last_lr()[0]}
        score = val if val is not None else entry["train_loss"]
        entry["val_auc"] = -score  # RunProgress keeps the highest: the lowest loss
        best = None
        if progress.record(entry):
            best = {k: v.detach().cpu().clone() for k, v in raw_model.state_dict().items()}
        if fabric.is_global_zero:
            shown = {k: round(v, 4) for k, v in entry.items()
                     if isinstance(v, float) and k != "val_auc"}  # fmt: skip
            logger.info("epoch %d/%d %s", epoch + 1, options.epochs, shown)
            save_checkpoints(
                run_dir, meta=meta, model=raw_model, optimizer=optimizer, scheduler=scheduler,
                progress=progress, perm_gen=perm_gen, aug_gen=aug_gen, best_weights=best,
            )  # fmt: skip
    rate = seen / busy if busy > 0 else 0.0
    history = [{k: v for k, v in h.items() if k != "val_auc"} for h in progress.history]
    if fabric.is_global_zero:
        precision = type(fabric.strategy.precision).__name__
        atomic_write_json(
            run_dir / HISTORY,
            {"history": history, "best_epoch": progress.best_epoch, "pairs_per_s": rate,
             "precision": precision, "threads": torch.get_num_threads()},
        )  # fmt: skip
    return PretrainResult(run_dir, progress.epoch, history, rate, rank)
