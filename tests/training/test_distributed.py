"""Distributed data parallel through Lightning Fabric: 2 CPU processes (gloo, launched by
torchrun) end with the same metrics as 1 process, and the sharding helpers are exact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.training.distributed import (
    cluster_geometry,
    eval_shard,
    gather_rows,
    global_batches,
    loss_scale,
    rank_share,
)

TESTS = Path(__file__).resolve().parents[1] / "_support"
REPO = TESTS.parent


def test_global_batches_split_over_ranks_cover_each_image_once() -> None:
    perm = torch.randperm(37, generator=torch.Generator().manual_seed(0))
    for world in (1, 2, 3):
        batches = global_batches(perm, 8, world)
        for batch in batches:
            shares = [rank_share(batch, r, world) for r in range(world)]
            assert sorted(torch.cat(shares).tolist()) == sorted(batch.tolist())
            # scaled per-rank means, averaged over ranks, give the global-batch mean
            values = batch.float()
            avg = sum(s.float().mean() * loss_scale(len(s), len(batch), world) for s in shares)
            assert float(avg / world) == pytest.approx(float(values.mean()))
        kept = sum(len(b) for b in batches)
        assert kept == 37 if world <= 5 else kept <= 37


def test_eval_shards_partition_the_images() -> None:
    for n, world in ((37, 2), (5, 3), (2, 4), (0, 2)):
        covered = [i for r in range(world) for i in range(n)[eval_shard(n, r, world)]]
        assert covered == list(range(n))


def test_cluster_geometry_from_torchrun_and_slurm() -> None:
    assert cluster_geometry(1, {}) == (1, 1)
    assert cluster_geometry(2, {}) == (2, 1)
    assert cluster_geometry(1, {"LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "8"}) == (4, 2)
    slurm = {"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_PROCID": "3"}
    assert cluster_geometry(1, slurm) == (4, 2)
    assert cluster_geometry(3, {"SLURM_NTASKS": "1", "SLURM_NNODES": "1"}) == (3, 1)


class _OneProcess:
    world_size = 1


def test_gather_rows_single_process_is_identity() -> None:
    x = torch.arange(6.0).reshape(3, 2)
    assert gather_rows(_OneProcess(), x, 3) is x


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    sys.path.insert(0, str(TESTS))
    from _support.ddp_worker import run

    run(str(tmp_path / "one"), 1)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(TESTS)]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", str(TESTS / "ddp_worker.py"),
         str(tmp_path / "two"), "2"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "two" / "done-0").exists() and (tmp_path / "two" / "done-1").exists()
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    loss1 = [h["train_loss"] for h in one["history"]]
    loss2 = [h["train_loss"] for h in two["history"]]
    np.testing.assert_allclose(loss2, loss1, rtol=1e-4, atol=1e-5)
    for split in ("val", "test"):
        assert two["splits"][split]["n_images"] == one["splits"][split]["n_images"] == 37
        assert two["splits"][split]["auc"] == pytest.approx(one["splits"][split]["auc"], abs=1e-4)
        assert two["splits"][split]["acc"] == pytest.approx(one["splits"][split]["acc"], abs=1e-4)
    assert [h["val_auc"] for h in two["history"]] == pytest.approx(
        [h["val_auc"] for h in one["history"]], abs=1e-4
    )
    assert one["history"][-1]["train_loss"] < one["history"][0]["train_loss"]
