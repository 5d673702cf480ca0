"""Data-parallel helpers: how a global batch is split over ranks, and how sharded predictions are
gathered back, so that an N-process run makes the same updates as a 1-process run.

- Every rank draws the same permutation (same seed) and walks the same global batches of
  ``batch_size`` images; rank r takes images r, r+N, r+2N, ... of each global batch.
- Each rank's mean loss is scaled by ``n_local * N / n_global``; DDP averages gradients over the N
  ranks, so the update equals that of the mean loss over the whole global batch (also when the last
  global batch does not divide evenly).
- Evaluation splits the images into N contiguous shards, pads them to equal length for
  ``all_gather`` and drops the padding: every image is scored exactly once.

BatchNorm statistics are per rank (SyncBatchNorm is converted on CUDA only; gloo/CPU has none), and
random augmentation is drawn per rank: with either, N-process runs match 1-process runs
statistically rather than bit for bit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "cluster_geometry",
    "end_process_group",
    "eval_shard",
    "gather_rows",
    "global_batches",
    "loss_scale",
    "rank_share",
]


def end_process_group() -> None:
    """Wait for every rank, then destroy the default process group, if one is up.

    Call it once a torchrun process is done: a gloo group left to the interpreter's exit can abort
    the process (SIGABRT, "terminate called without an active exception") while its worker threads
    still hold tensors, and torchrun then reports the run as failed."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def global_batches(perm: torch.Tensor, batch_size: int, world: int) -> list[torch.Tensor]:
    """The global batches of one epoch; a last batch smaller than `world` is dropped (some rank
    would have no image)."""
    batches = [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
    return [b for b in batches if len(b) >= world]


def rank_share(batch: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's images of a global batch (interleaved)."""
    return batch[rank::world]


def loss_scale(n_local: int, n_global: int, world: int) -> float:
    """Factor on a rank's mean loss so that the DDP gradient average is the global-batch mean."""
    return n_local * world / n_global


def eval_shard(n: int, rank: int, world: int) -> slice:
    """Contiguous shard of `n` evaluation images for `rank` (the last ones may be shorter)."""
    size = math.ceil(n / world)
    return slice(min(rank * size, n), min((rank + 1) * size, n))


def gather_rows(fabric: Any, local: torch.Tensor, n: int) -> torch.Tensor:
    """All ranks' shards (from `eval_shard`) concatenated in order: (n, ...) on every rank."""
    world = fabric.world_size
    if world == 1:
        return local
    size = math.ceil(n / world)
    padded = torch.zeros((size, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: len(local)] = local
    gathered = fabric.all_gather(padded)  # (world, size, ...)
    return gathered.reshape(world * size, *local.shape[1:])[:n]


def cluster_geometry(devices: int, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(processes per node, nodes) of this job: from torchrun's LOCAL_WORLD_SIZE / WORLD_SIZE, else
    from SLURM (SLURM_NTASKS over SLURM_NNODES, one task per device), else (`devices`, 1)."""
    env = os.environ if env is None else env
    if "LOCAL_WORLD_SIZE" in env and "WORLD_SIZE" in env:
        local = max(1, int(env["LOCAL_WORLD_SIZE"]))
        return local, max(1, int(env["WORLD_SIZE"]) // local)
    tasks = int(env.get("SLURM_NTASKS", "1") or 1)
    if tasks > 1 and "SLURM_NNODES" in env and "SLURM_PROCID" in env:
        nodes = max(1, int(env["SLURM_NNODES"]))
        return tasks // nodes, nodes
    return devices, 1
