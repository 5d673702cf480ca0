"""Training loop: a step lowers the loss, resume equals an uninterrupted run, device-data helpers,
every task type end to end on synthetic data, repredict_split / load_run and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.core.rundir import read_predictions
from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError, ModelError
from radlens.models.factory import build_model
from radlens.models.tasks import Task, frame_to_arrays
from radlens.training.config import make_config
from radlens.training.device import (
    augment_batch,
    images_to_tensor,
    inference_device,
    normalise,
    subset_indices,
)
from radlens.training.loop import train
from radlens.training.run import load_run, repredict_split

NAMES = {
    "binary": ("normal", "abnormal"),
    "multi-label": ("l0", "l1", "l2"),
    "ordinal-regression": ("g0", "g1", "g2"),
    "multi-class": ("a", "b", "c"),
}


def synthetic(task: str, n: int = 32, side: int = 8, seed: int = 0, dims: int = 2) -> ArrayDataset:
    """Bright blobs whose position/brightness encodes the label; uint8 like MedMNIST."""
    rng = np.random.default_rng(seed)
    k = len(NAMES[task])
    images, labels, ids = {}, {}, {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        shape = (m, side, side) if dims == 2 else (m, 6, side, side)
        x = rng.integers(0, 60, size=shape).astype(np.uint8)
        if task == "multi-label":
            y = rng.integers(0, 2, size=(m, k)).astype(np.float32)
            y[rng.random((m, k)) < 0.1] = np.nan
            for j in range(k):
                x[y[:, j] == 1, ..., 2 * j : 2 * j + 2, 2:6] = 250
        else:
            cls = np.arange(m) % k
            rng.shuffle(cls)
            y = cls[:, None].astype(np.float32)
            for c in range(1, k):
                x[cls == c, ..., 3 * c : 3 * c + 2, :] = 200
        images[split], labels[split] = x, y
        ids[split] = np.array([f"{split}-{i:04d}" for i in range(m)])
    return ArrayDataset(
        "toy",
        task,
        NAMES[task],
        images,
        labels,
        ids,
        {s: v.copy() for s, v in ids.items()},
        spatial_dims=dims,
        official=False,
        source="synthetic",
    )


def fast_config(out: Path, **over: object):
    values = {
        "dataset": "toy",
        "out": str(out),
        "epochs": 2,
        "batch_size": 16,
        "eval_batch_size": 64,
        "device": "cpu",
        "precision": "32-true",
        "seed": 3,
    }
    values.update(over)
    return make_config(values)


def test_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    ds = synthetic("binary", n=16)
    task = Task("binary", NAMES["binary"])
    model = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    x = normalise(images_to_tensor(ds.images["train"], n_channels=1, spatial_dims=2))
    y = torch.from_numpy(ds.labels["train"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(3):
        loss = task.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_resume_ends_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    ds = synthetic("binary")
    over = {"augment": "flip+shift", "class_weights": "balanced"}
    straight = train(fast_config(tmp_path / "a", **over), dataset=ds, progress=False)
    paused = train(fast_config(tmp_path / "b", **over), dataset=ds, progress=False, stop_after=1)
    assert paused.epochs_done == 1 and paused.metrics == {}
    assert not (tmp_path / "b" / "metrics.json").exists()
    resumed = train(
        make_config({"out": str(tmp_path / "b")}), dataset=ds, resume=True, progress=False
    )
    assert resumed.epochs_done == 2
    a = read_predictions(tmp_path / "a" / "predictions.parquet")
    b = read_predictions(tmp_path / "b" / "predictions.parquet")
    np.testing.assert_array_equal(
        a.filter(like="score:").to_numpy(), b.filter(like="score:").to_numpy()
    )
    assert straight.metrics["splits"] == resumed.metrics["splits"]
    assert [h["train_loss"] for h in straight.metrics["history"]] == [
        h["train_loss"] for h in resumed.metrics["history"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "over"),
    [
        ("multi-label", {}),
        ("ordinal-regression", {"ordinal_loss": "coral"}),
        ("multi-class", {"class_weights": "balanced", "augment": "shift"}),
    ],
)
def test_every_task_trains_and_evaluates(tmp_path: Path, task: str, over: dict) -> None:
    ds = synthetic(task, n=24)
    result = train(fast_config(tmp_path / "run", epochs=1, **over), dataset=ds, progress=False)
    test = result.metrics["splits"]["test"]
    assert 0.0 <= test["auc"] <= 1.0 and 0.0 <= test["acc"] <= 1.0
    assert test["n_images"] == 12 and test["official_data"] is False
    assert "unofficial data" in test["measured_on"]
    if task == "ordinal-regression":
        assert {"mae", "qwk"} <= set(test)
    again = repredict_split(tmp_path / "run", "test", dataset=ds, device="cpu")
    assert again["auc"] == pytest.approx(test["auc"], abs=1e-9)
    _, y_score, kind, names = frame_to_arrays(
        read_predictions(tmp_path / "run" / "predictions.parquet"), split="test"
    )
    assert kind == task and names == NAMES[task] and y_score.shape == (12, len(names))


@pytest.mark.slow
def test_3d_volumes_train_with_25d_model(tmp_path: Path) -> None:
    ds = synthetic("binary", n=16, side=8, dims=3)
    result = train(
        fast_config(tmp_path / "vol", epochs=1, model="resnet18_25d", augment="flip"),
        dataset=ds,
        progress=False,
    )
    assert result.metrics["splits"]["test"]["n_images"] == 8
    loaded = load_run(tmp_path / "vol")
    assert loaded.label_names == NAMES["binary"]
    assert loaded.model.depth == 6


def test_images_to_tensor_layouts() -> None:
    grey = np.zeros((4, 28, 28), np.uint8)
    assert images_to_tensor(grey, n_channels=1, spatial_dims=2).shape == (4, 1, 28, 28)
    rgb = np.zeros((4, 28, 28, 3), np.uint8)
    assert images_to_tensor(rgb, n_channels=3, spatial_dims=2).shape == (4, 3, 28, 28)
    vol = np.zeros((2, 28, 28, 28), np.uint8)
    assert images_to_tensor(vol, n_channels=1, spatial_dims=3).shape == (2, 1, 28, 28, 28)
    x16 = images_to_tensor(np.full((1, 2, 2), 65535, np.uint16), n_channels=1, spatial_dims=2)
    assert x16.dtype == torch.float32 and x16.max().item() == 1.0
    with pytest.raises(ConfigError, match="do not fit 2D data with 3 channel"):
        images_to_tensor(grey, n_channels=3, spatial_dims=2)
    x = normalise(torch.tensor([[0, 255]], dtype=torch.uint8))
    assert x.tolist() == [[-1.0, 1.0]]


def test_augmentation_on_tensors() -> None:
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5)
    gen = torch.Generator().manual_seed(0)
    assert augment_batch(x, "none", 2, gen) is x
    flipped = augment_batch(x, "flip", 0, torch.Generator().manual_seed(1))
    for i in range(2):  # each image is either itself or its mirror
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))
    shifted = augment_batch(x, "shift", 1, torch.Generator().manual_seed(2))
    again = augment_batch(x, "shift", 1, torch.Generator().manual_seed(2))
    assert torch.equal(shifted, again) and shifted.shape == x.shape
    assert set(shifted.unique().tolist()) <= set(x.unique().tolist())  # edge-replicated values
    assert torch.equal(augment_batch(x, "shift", 0, gen), x)


def test_subset_indices_are_seeded_and_sorted() -> None:
    a = subset_indices(100, 10, seed=1)
    assert len(a) == 10 and (np.diff(a) > 0).all()
    assert np.array_equal(a, subset_indices(100, 10, seed=1))
    assert np.array_equal(subset_indices(5, None, seed=0), np.arange(5))


def test_run_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"is not a run directory: no config\.yaml"):
        load_run(tmp_path)
    fast_config(tmp_path).to_yaml(tmp_path / "config.yaml")
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable radlens checkpoint"):
        load_run(tmp_path)
    with pytest.raises(ConfigError, match="already holds a run; add --resume"):
        train(fast_config(tmp_path), dataset=synthetic("binary"), progress=False)
    with pytest.raises(ModelError, match=r"last\.pt not found"):
        train(make_config({"out": str(tmp_path)}), dataset=synthetic("binary"), resume=True)


@pytest.mark.slow
def test_resume_refuses_a_changed_experiment(tmp_path: Path) -> None:
    ds = synthetic("binary", n=8)
    train(fast_config(tmp_path / "r", epochs=2), dataset=ds, progress=False, stop_after=1)
    with pytest.raises(
        ConfigError, match=r"trained with lr=0\.001; cannot continue it with lr=0\.1"
    ):
        train(make_config({"out": str(tmp_path / "r"), "lr": 0.1}), dataset=ds, resume=True)


def test_inference_device(monkeypatch) -> None:
    assert inference_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="expected auto, cpu, cuda, cuda:N or mps"):
        inference_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inference_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device cuda:1: no CUDA GPU is visible"):
        inference_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inference_device("auto") == torch.device("cuda", 0)
    assert inference_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.slow
def test_early_stopping_ends_the_run_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    ds = synthetic("binary")
    over = {"epochs": 12, "milestones": [0.1], "patience": 1, "lr": 1e-2, "keep_optimizer": True}
    result = train(fast_config(tmp_path / "a", **over), dataset=ds, progress=False)
    metrics = result.metrics
    history = metrics["history"]
    assert metrics["stopped_early"] is True and result.epochs_done == len(history) < 12
    assert metrics["epochs_trained"] == len(history) and metrics["epochs"] == 12
    assert history[-1]["epoch"] - max(metrics["best_epoch"], 2) == 1  # epoch 2 has the lower LR
    assert max(h["val_auc"] for h in history) == history[metrics["best_epoch"] - 1]["val_auc"]
    assert (tmp_path / "a" / "predictions.parquet").is_file()
    # a run that stopped early stays stopped: resuming trains no further epoch
    again = train(
        make_config({"out": str(tmp_path / "a")}), dataset=ds, resume=True, progress=False
    )
    assert len(again.metrics["history"]) == len(history) and again.metrics["stopped_early"]
    with pytest.raises(ConfigError, match="--patience"):
        fast_config(
            tmp_path / "s", dataset=None, cohort="c", patience=2, task="segmentation"
        ).check_source()
