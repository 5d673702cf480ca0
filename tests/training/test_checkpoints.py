"""Checkpoint I/O (radlens.training.checkpoints) and the validation pass
(radlens.training.validation) on their own: best-epoch bookkeeping, a save/restore round trip of
the full training state, and validation AUC through a real Lightning Fabric equal to scoring the
images directly."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning_fabric import Fabric
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError, ModelError
from radlens.models.tasks import Task
from radlens.training.checkpoints import (
    RunProgress,
    checkpoint_meta,
    lighten_last,
    restore_training_state,
    save_checkpoints,
)
from radlens.training.config import make_config
from radlens.training.device import predict_scores
from radlens.training.loop import train
from radlens.training.run import load_run
from radlens.training.validation import validation_auc

TASK = Task("binary", ("normal", "abnormal"))


def small_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))


def optimiser_and_schedule(net: nn.Module):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, [1], gamma=0.1)


def entry(epoch: int, auc: float) -> dict:
    return {"epoch": epoch, "train_loss": 0.5, "val_auc": auc, "lr": 1e-3}


def test_progress_keeps_the_best_epoch() -> None:
    run = RunProgress()
    assert run.record(entry(1, 0.6)) is True
    assert run.record(entry(2, 0.7)) is True
    assert run.record(entry(3, 0.65)) is False
    assert (run.epoch, run.best_epoch, run.best_val_auc, len(run.history)) == (3, 2, 0.7, 3)


def test_progress_with_nan_auc_keeps_the_first_epoch() -> None:
    run = RunProgress()
    assert run.record(entry(1, math.nan)) is True
    assert run.record(entry(2, math.nan)) is False
    assert run.best_epoch == 1 and run.epoch == 2


def test_state_round_trip_continues_identically(tmp_path: Path) -> None:
    net = small_net(0)
    opt, sched = optimiser_and_schedule(net)
    x, y = torch.randn(8, 1, 4, 4), torch.tensor([0, 1] * 4)
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    sched.step()
    perm_gen, aug_gen = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    run = RunProgress()
    run.record(entry(1, 0.8))
    best = {k: v.clone() for k, v in net.state_dict().items()}
    config = make_config({"dataset": "toy", "out": str(tmp_path)})
    meta = checkpoint_meta(TASK, config, {"in_channels": 1, "spatial_dims": 2})
    np.random.seed(5)
    random.seed(5)
    save_checkpoints(
        tmp_path,
        meta=meta,
        model=net,
        optimizer=opt,
        scheduler=sched,
        progress=run,
        perm_gen=perm_gen,
        aug_gen=aug_gen,
        best_weights=best,
    )
    expected = (
        torch.randperm(10, generator=perm_gen),
        torch.rand(3, generator=aug_gen),
        torch.rand(2),
        np.random.rand(),
        random.random(),
    )

    saved_best = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved_best["task"] == "binary" and saved_best["label_names"] == ["normal", "abnormal"]
    assert saved_best["epoch"] == 1 and saved_best["val_auc"] == 0.8
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    other = small_net(1)
    opt2, sched2 = optimiser_and_schedule(other)
    gens = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    restored = restore_training_state(state, other, opt2, sched2, *gens)

    assert restored == run
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    assert sched2.get_last_lr() == sched.get_last_lr()
    again = (
        torch.randperm(10, generator=gens[0]),
        torch.rand(3, generator=gens[1]),
        torch.rand(2),
        np.random.rand(),
        random.random(),
    )
    assert all(torch.equal(a, b) for a, b in zip(expected[:3], again[:3], strict=True))
    assert expected[3:] == again[3:]
    # the restored optimiser takes the same next step
    for model, optimiser in ((net, opt), (other, opt2)):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    for k, v in net.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)


def test_without_new_best_only_last_is_written(tmp_path: Path) -> None:
    net = small_net(0)
    opt, sched = optimiser_and_schedule(net)
    save_checkpoints(
        tmp_path,
        meta={},
        model=net,
        optimizer=opt,
        scheduler=sched,
        progress=RunProgress(),
        perm_gen=torch.Generator(),
        aug_gen=torch.Generator(),
        best_weights=None,
    )
    assert (tmp_path / "last.pt").is_file() and not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_validation_auc_equals_scoring_directly(precision: str) -> None:
    fabric = Fabric(accelerator="cpu", devices=1, precision=precision)
    net = small_net(0)
    model = fabric.setup_module(net)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(40, 1, 4, 4), dtype=np.uint8))
    y = (images.float().mean(dim=(1, 2, 3)) > 127).float().numpy()[:, None]
    auc = validation_auc(fabric, model, images, y, TASK, batch_size=16, channels_last=False)
    scores = predict_scores(model, images, TASK, batch_size=16)
    assert auc == pytest.approx(TASK.auc(y, scores), abs=1e-12)
    assert 0.0 <= auc <= 1.0


def toy_dataset(n: int = 16) -> ArrayDataset:
    rng = np.random.default_rng(0)
    images = {
        s: rng.integers(0, 255, size=(n, 8, 8)).astype(np.uint8) for s in ("train", "val", "test")
    }
    labels = {s: (np.arange(n) % 2).astype(np.float32)[:, None] for s in images}
    ids = {s: np.array([f"{s}-{i}" for i in range(n)]) for s in images}
    return ArrayDataset(
        "toy", "binary", ("normal", "abnormal"), images, labels, ids,
        {s: v.copy() for s, v in ids.items()}, spatial_dims=2, official=False,
    )  # fmt: skip


def toy_config(out: Path, **over: object):
    values = {"dataset": "toy", "out": str(out), "epochs": 1, "batch_size": 8, "device": "cpu",
              "precision": "32-true", "seed": 0, **over}  # fmt: skip
    return make_config(values)


def _sizes(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in run_dir.iterdir() if p.suffix == ".pt"}


def test_a_finished_run_keeps_its_weights_once(tmp_path: Path) -> None:
    """Without --keep-optimizer last.pt loses the optimiser state (and its weights when the last
    epoch was the best); the run still loads, and a resume says what to do instead."""
    ds = toy_dataset()
    runs = {}
    for keep in (False, True):
        out = tmp_path / f"keep{keep}"
        train(toy_config(out, keep_optimizer=keep), dataset=ds, progress=False)
        runs[keep] = out
    light = torch.load(runs[False] / "last.pt", weights_only=True)
    full = torch.load(runs[True] / "last.pt", weights_only=True)
    assert light["light"] is True and "optimizer" not in light and "rng" not in light
    assert light["model_file"] == "checkpoint.pt" and "model" not in light  # 1 epoch: best = last
    assert {"optimizer", "scheduler", "rng", "model"} <= set(full) and "light" not in full
    assert light["history"] == full["history"] and light["epoch"] == full["epoch"] == 1
    small, big = _sizes(runs[False]), _sizes(runs[True])
    assert small["checkpoint.pt"] == big["checkpoint.pt"]
    assert small["last.pt"] < big["last.pt"] / 50  # weights + 2x Adam moments -> metadata only
    assert load_run(runs[False]).label_names == ("normal", "abnormal")
    with pytest.raises(ConfigError, match=r"no optimiser state.*--init .*--keep-optimizer"):
        train(make_config({"out": str(runs[False]), "epochs": 2}), dataset=ds, resume=True)


def test_light_last_keeps_last_weights_that_differ_from_the_best(tmp_path: Path) -> None:
    net = small_net(0)
    opt, sched = optimiser_and_schedule(net)
    run = RunProgress()
    run.record(entry(1, 0.9))
    run.record(entry(2, 0.5))  # epoch 2 is not the best: last.pt's weights are other weights
    kwargs = {"meta": {}, "model": net, "optimizer": opt, "scheduler": sched, "progress": run}
    gens = {"perm_gen": torch.Generator(), "aug_gen": torch.Generator()}
    save_checkpoints(tmp_path, **kwargs, **gens, best_weights=small_net(1).state_dict())
    assert lighten_last(tmp_path, keep_optimizer=True) is None  # --keep-optimizer: unchanged
    assert "optimizer" in torch.load(tmp_path / "last.pt", weights_only=True)
    light = lighten_last(tmp_path)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert light is not None and saved.keys() == light.keys()
    assert "optimizer" not in saved and "model_file" not in saved
    for k, v in net.state_dict().items():
        assert torch.equal(saved["model"][k], v)


def test_validation_auc_refuses_non_finite_scores() -> None:
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    net = small_net(0)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))  # a diverged model
    model = fabric.setup_module(net)
    images = torch.zeros((6, 1, 4, 4), dtype=torch.uint8)
    y = np.array([[0.0], [1.0]] * 3)
    with pytest.raises(ModelError, match=r"validation scores are not finite \(.* of .*diverged"):
        validation_auc(fabric, model, images, y, TASK, batch_size=4, channels_last=False)


def test_early_stopping_waits_for_the_lr_drop_then_counts_from_the_later_of_best_and_drop():
    run = RunProgress()
    lrs = [1e-3] * 6 + [1e-4] * 6  # an entry's LR is the next epoch's: epochs 8.. train at 1e-4
    aucs = [0.6, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    stalled = []
    for n, (lr, auc) in enumerate(zip(lrs, aucs, strict=True), start=1):
        run.record({"epoch": n, "train_loss": 0.5, "val_auc": auc, "lr": lr})
        stalled.append(run.stalled(3, 1e-3))
    # best at 2, no improvement after: the stale epochs before the lower LR do not count, the
    # 3 after the first epoch at the lower LR (9, 10, 11) do
    assert stalled.index(True) == 11 - 1
    assert not RunProgress().stalled(1, 1e-3)
    run.record({"epoch": 13, "train_loss": 0.5, "val_auc": 0.9, "lr": 1e-4})  # a new best
    assert not run.stalled(3, 1e-3)
