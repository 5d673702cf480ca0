"""Checkpoint I/O of a training run: ``checkpoint.pt`` (best weights) and ``last.pt`` (full state).

``last.pt`` holds everything a resumed run needs to continue bit for bit: model, optimiser and
scheduler states, the epoch reached, the best-so-far bookkeeping, the history and every random
state (torch, CUDA, NumPy, Python, and the batch-permutation and augmentation generators).
Both files also carry what `radlens.training.run.load_run` needs to rebuild the model (task, label
names, geometry, config) and the run's plan.

While a run trains, ``last.pt`` is complete, so an interrupted run resumes. When it ends,
`lighten_last` makes the run directory keep its weights once: ``last.pt`` loses the optimiser,
scheduler and random states (Adam's moments are twice the weights) and, when the last epoch was
the best, its weights too (``checkpoint.pt`` holds them: ``"model_file"`` says so). Such a
"light" run cannot be extended with ``--resume --epochs N`` (`check_resumable` says so and how
to go on: ``--init``); train with ``--keep-optimizer`` to keep ``last.pt`` complete.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radlens.core import CHECKPOINT, LAST, RunPlan, atomic_save
from radlens.errors import ConfigError
from radlens.models import Task
from radlens.training.config import TrainConfig

__all__ = [
    "RunProgress",
    "check_resumable",
    "checkpoint_meta",
    "lighten_last",
    "load_best_weights",
    "restore_training_state",
    "rng_state",
    "save_checkpoints",
]


@dataclass
class RunProgress:
    """Where a run stands: epochs done, best validation AUC and its epoch, per-epoch history,
    and whether early stopping ended it."""

    epoch: int = 0
    best_val_auc: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    def record(self, entry: dict[str, Any]) -> bool:
        """Add one epoch's history entry; True when its validation AUC is the best so far (a NaN
        AUC, from a split with one class only, keeps the first epoch)."""
        self.history.append(entry)
        self.epoch = entry["epoch"]
        if entry["val_auc"] > self.best_val_auc or self.best_epoch == 0:
            self.best_val_auc, self.best_epoch = entry["val_auc"], entry["epoch"]
            return True
        return False

    def stalled(self, patience: int, start_lr: float) -> bool:
        """Early stopping: the LR has dropped below `start_lr` at least once (the schedule has
        had its say) and the validation AUC has not improved for `patience` epochs, counted from
        the best epoch or the first epoch trained at the lower LR, whichever came later. (An
        entry's "lr" is the LR after its epoch's scheduler step, i.e. that of the next epoch.)"""
        lowered = [h["epoch"] for h in self.history if h["lr"] < start_lr * (1 - 1e-9)]
        if not lowered:
            return False
        return self.epoch - max(self.best_epoch, lowered[0] + 1) >= patience


def rng_state(perm_gen: torch.Generator, aug_gen: torch.Generator) -> dict[str, Any]:
    """Every random state the loop draws from, as tensors and plain values (weights_only-safe)."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "python": random.getstate(),
        "perm": perm_gen.get_state(),
        "aug": aug_gen.get_state(),
    }


def _set_rng_state(state: dict[str, Any], perm_gen: torch.Generator, aug_gen: torch.Generator):
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    random.setstate(state["python"])
    perm_gen.set_state(state["perm"])
    aug_gen.set_state(state["aug"])


def restore_training_state(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    perm_gen: torch.Generator,
    aug_gen: torch.Generator,
) -> RunProgress:
    """Load a ``last.pt`` state into the model, optimiser, scheduler and generators. The
    scheduler keeps the milestones it was built with (a run extended with a larger --epochs gets
    those of the new total; milestones already passed do not apply again)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    milestones = getattr(scheduler, "milestones", None)
    scheduler.load_state_dict(state["scheduler"])
    if milestones is not None:
        scheduler.milestones = milestones
    _set_rng_state(state["rng"], perm_gen, aug_gen)
    return RunProgress(
        state["epoch"],
        state["best_val_auc"],
        state["best_epoch"],
        list(state["history"]),
        bool(state.get("stopped_early", False)),
    )


def checkpoint_meta(
    task: Task, config: TrainConfig, geometry: dict[str, Any], plan: RunPlan | None = None
) -> dict[str, Any]:
    """What both checkpoint files carry besides weights: enough to rebuild the model, and the
    run's plan (how its inputs were prepared) when given."""
    meta = {
        "task": task.kind,
        "label_names": list(task.label_names),
        "ordinal_loss": task.ordinal_loss,
        "geometry": geometry,
        "config": config.model_dump(mode="json"),
    }
    if plan is not None:
        meta["plan"] = plan.model_dump(mode="json")
    return meta


def load_best_weights(run_dir: Path, model: nn.Module) -> None:
    """Put the best weights of the run (``checkpoint.pt``) into `model`."""
    best = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(best["model"])


def save_checkpoints(
    run_dir: Path,
    *,
    meta: dict[str, Any],
    model: nn.Module,
    optimizer: Any,
    scheduler: Any,
    progress: RunProgress,
    perm_gen: torch.Generator,
    aug_gen: torch.Generator,
    best_weights: dict[str, torch.Tensor] | None,
) -> None:
    """checkpoint.pt (best so far, when it changed since the last save), then last.pt (full
    state): an interruption between the two only makes a resume redo a few epochs."""
    if best_weights is not None:
        atomic_save(
            run_dir / CHECKPOINT,
            {
                **meta,
                "model": best_weights,
                "epoch": progress.best_epoch,
                "val_auc": progress.best_val_auc,
            },
        )
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    opt = optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer  # Fabric wrapper
    atomic_save(
        run_dir / LAST,
        {
            **meta,
            "model": weights,
            "optimizer": opt.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": progress.epoch,
            "best_val_auc": progress.best_val_auc,
            "best_epoch": progress.best_epoch,
            "history": progress.history,
            "stopped_early": progress.stopped_early,
            "rng": rng_state(perm_gen, aug_gen),
        },
    )


#: what a light ``last.pt`` drops: the state that only continuing the optimisation needs
RESUME_ONLY = ("optimizer", "scheduler", "rng")


def lighten_last(run_dir: Path, *, keep_optimizer: bool = False) -> dict[str, Any] | None:
    """Rewrite a finished run's ``last.pt`` without `RESUME_ONLY` state, and without weights when
    the last epoch was the best (``checkpoint.pt`` holds them; ``"model_file"`` names it).
    Returns the state written (a light one is left as it is); `keep_optimizer`: do nothing."""
    if keep_optimizer:
        return None
    path = run_dir / LAST
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("light"):
        return state
    light = {k: v for k, v in state.items() if k not in RESUME_ONLY}
    light["light"] = True
    if state["best_epoch"] == state["epoch"] and (run_dir / CHECKPOINT).is_file():
        del light["model"]
        light["model_file"] = CHECKPOINT
    atomic_save(path, light)
    return light


def check_resumable(state: dict[str, Any], run_dir: Path) -> None:
    """ConfigError when ``last.pt`` is light (`lighten_last`): the optimiser state a resume
    continues from is gone."""
    if not state.get("light"):
        return
    raise ConfigError(
        f"--resume: {run_dir / LAST} holds no optimiser state: run {run_dir} finished without "
        "--keep-optimizer, so it kept its weights only. Fine-tune from its weights with "
        f"--init {run_dir} --out NEW_RUN, or train with --keep-optimizer to keep a run "
        "extendable with --resume --epochs N"
    )
