"""Data-parallel pretraining: ranks take their share of each global batch, the contrastive losses
gather embeddings across ranks, and 2 gloo processes (torchrun) give the loss and gradients of 1
process on the same global batch; a 2-rank CLI run writes its checkpoint and resumes."""

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
from _support.pretrain_cohort import make_pair_cohort
from lightning_fabric.strategies import DDPStrategy

from radlens.core import CHECKPOINT, LAST
from radlens.errors import ConfigError
from radlens.pretrain import info_nce
from radlens.pretrain.loop import make_fabric, rank_batches
from radlens.pretrain.losses import KeyedPositives, contrast, gather_batch, world_size

SUPPORT = Path(__file__).resolve().parents[1] / "_support"
TESTS = SUPPORT.parent
REPO = TESTS.parent


class _Fabric:
    def __init__(self, world: int, rank: int) -> None:
        self.world_size, self.global_rank = world, rank


def test_rank_batches_deal_each_global_batch_out() -> None:
    order = torch.arange(11)
    # global batches 0-4, 5-9, [10]: the last has fewer rows than ranks and is left out
    shares = [rank_batches(_Fabric(2, r), order, 5) for r in (0, 1)]
    assert [s for s, _ in shares[0]] == [5, 5]
    assert [i.tolist() for _, i in shares[0]] == [[0, 2, 4], [5, 7, 9]]
    assert [i.tolist() for _, i in shares[1]] == [[1, 3], [6, 8]]
    # one process: a last batch of one row has no negative and is left out too
    assert [s for s, _ in rank_batches(_Fabric(1, 0), order, 5)] == [5, 5]
    assert [s for s, _ in rank_batches(_Fabric(1, 0), torch.arange(12), 5)] == [5, 5, 2]


def test_outside_a_process_group_gather_is_the_identity() -> None:
    assert world_size() == 1
    x = torch.randn(3, 4)
    assert gather_batch(x) is x


def test_contrast_is_info_nce_of_the_scaled_similarities() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(3, 8, generator=gen), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(4, 8, generator=gen), dim=-1)
    holds = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.bool)
    pos = KeyedPositives(holds, torch.tensor([0, 1, 1, 2]))
    assert pos.dense().int().tolist() == [[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    scale = torch.tensor(10.0)
    got = contrast(img, txt, scale, pos)
    assert got.item() == pytest.approx(info_nce(img @ txt.t() * 10, pos.dense()).item(), abs=1e-6)
    square = contrast(img, txt[:3], scale)
    assert square.item() == pytest.approx(info_nce(img @ txt[:3].t() * 10).item(), abs=1e-6)


def test_make_fabric_devices() -> None:
    fabric = make_fabric("cpu", "32-true", 2)  # not launched: no process starts here
    assert fabric.world_size == 2 and isinstance(fabric.strategy, DDPStrategy)
    assert make_fabric("cpu", "32-true").world_size == 1
    with pytest.raises(ConfigError, match="--devices 0"):
        make_fabric("cpu", "32-true", 0)
    with pytest.raises(ConfigError, match="names one GPU"):
        make_fabric("cuda:0", "32-true", 2)


def _torchrun(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(TESTS)]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_two_gloo_processes_give_the_losses_and_gradients_of_one(tmp_path: Path) -> None:
    """Image-text (local + sentence-level global + negation hard negatives; whole-report
    global; positives by meaning with the SigLIP and sentence-level local losses), SimCLR and
    the momentum
    queue: one step on a global batch of 7 (ranks hold 4 and 3 rows)."""
    from _support.pretrain_ddp_worker import run

    run(str(tmp_path / "one"), 1)
    _torchrun([str(SUPPORT / "pretrain_ddp_worker.py"), str(tmp_path / "two"), "2"])
    one = torch.load(tmp_path / "one" / "steps-1.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "steps-2.pt", weights_only=True)
    assert set(one) == set(two) == {"local", "global", "semantic", "simclr", "moco"}
    for name, a in one.items():
        b = two[name]
        assert a["losses"].keys() == b["losses"].keys()
        for k, v in a["losses"].items():
            assert b["losses"][k] == pytest.approx(v, rel=1e-5), (name, k)
        assert a["grads"].keys() == b["grads"].keys() and len(a["grads"]) > 10
        top = max(float(g.abs().max()) for g in a["grads"].values())
        for k, g in a["grads"].items():
            np.testing.assert_allclose(b["grads"][k], g, rtol=1e-4, atol=1e-6 * top,
                                       err_msg=f"{name} {k}")  # fmt: skip
        for k, q in a["buffers"].items():  # the queue holds the same keys in the same order
            np.testing.assert_allclose(b["buffers"][k], q, rtol=1e-5, atol=1e-6, err_msg=k)
    assert {"local", "global", "hard"} <= one["local"]["losses"].keys()
    ssl = json.loads((tmp_path / "two" / "ssl" / "pretrain.json").read_text())
    assert [h["epoch"] for h in ssl["history"]] == [1, 2]
    assert (tmp_path / "two" / "ssl" / CHECKPOINT).is_file()


@pytest.mark.slow
def test_two_rank_cli_pretrain_writes_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    cohort = make_pair_cohort(tmp_path / "cohort", n=16, size=16)
    run = tmp_path / "run"
    args = ["-m", "radlens", "pretrain", "image-text", "--cohort", str(cohort), "--image-column",
            "image", "--out", str(run), "--model", "resnet_mini", "--size", "16", "--text-width",
            "16", "--text-layers", "1", "--embed-dim", "16", "--max-len", "32", "--top-k", "3",
            "--vocab-size", "120", "--batch-size", "6", "--device", "cpu", "--precision",
            "32-true", "--threads", "1", "--devices", "2"]  # fmt: skip
    first = _torchrun([*args, "--epochs", "2"])
    assert first.stdout.count(" epochs, ") == 1  # rank 0 alone reports
    assert (run / CHECKPOINT).is_file() and (run / LAST).is_file()
    before = json.loads((run / "pretrain.json").read_text())["history"]
    assert [h["epoch"] for h in before] == [1, 2]
    _torchrun([*args, "--epochs", "3", "--resume"])
    after = json.loads((run / "pretrain.json").read_text())["history"]
    assert [h["epoch"] for h in after] == [1, 2, 3] and after[:2] == before
    assert np.isfinite(after[-1]["train_loss"])
