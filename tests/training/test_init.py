"""``--init`` (start from another run's weights, label rows re-mapped by name) and ``--resume``
with a larger ``--epochs`` (extend a finished run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError
from radlens.models.tasks import Task
from radlens.training.config import make_config
from radlens.training.init import freeze_backbone, head_layer, init_weights
from radlens.training.loop import train
from radlens.training.run import load_run


def toy(names: tuple[str, ...], n: int = 16, side: int = 8, seed: int = 0) -> ArrayDataset:
    """A tiny multi-label 2D dataset (uint8 images, 0/1 labels) with these label names."""
    rng = np.random.default_rng(seed)
    images, labels, ids = {}, {}, {}
    for split, m in (("train", n), ("val", n // 2), ("test", n // 2)):
        images[split] = rng.integers(0, 255, size=(m, side, side)).astype(np.uint8)
        labels[split] = rng.integers(0, 2, size=(m, len(names))).astype(np.float32)
        ids[split] = np.array([f"{split}-{i}" for i in range(m)])
    return ArrayDataset(
        "toy", "multi-label", names, images, labels, ids, {s: v.copy() for s, v in ids.items()},
        spatial_dims=2, official=False, source="synthetic",
    )  # fmt: skip


def config(out: Path, **over: object):
    values = {
        "dataset": "toy", "out": str(out), "epochs": 1, "batch_size": 8, "device": "cpu",
        "precision": "32-true", "seed": 1,
    }  # fmt: skip
    return make_config({**values, **over})


@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("init") / "source"
    train(config(out), dataset=toy(("l0", "l1", "l2")), progress=False)
    return out


def test_init_remaps_label_rows_by_name(source_run: Path, tmp_path: Path) -> None:
    source = load_run(source_run).model.state_dict()
    # l1 renamed to "renamed", "added" is new, and the order changes
    names = ("l2", "renamed", "l0", "added")
    out = tmp_path / "tuned"
    result = train(
        config(out, init=str(source_run), lr=1e-12), dataset=toy(names, seed=5), progress=False
    )
    report = result.metrics["init"]
    assert report["source"] == str(source_run / "checkpoint.pt")
    assert report["remapped_labels"] == ["l2", "l0"]
    assert report["new_labels"] == ["renamed", "added"]
    assert report["dropped_labels"] == ["l1"]
    assert report["skipped"] == [] and report["loaded_tensors"] > 50
    assert yaml.safe_load((out / "config.yaml").read_text())["init"] == str(source_run)
    assert json.loads((out / "metrics.json").read_text())["init"] == report
    tuned = load_run(out).model.state_dict()
    # lr 1e-12: the weights stay (to float precision) what --init loaded
    for key in ("fc.weight", "fc.bias"):
        np.testing.assert_allclose(tuned[key][0], source[key][2], atol=1e-6)
        np.testing.assert_allclose(tuned[key][2], source[key][0], atol=1e-6)
        for new in (1, 3):
            assert not any(torch.allclose(tuned[key][new], source[key][i]) for i in range(3))
    np.testing.assert_allclose(tuned["conv1.weight"], source["conv1.weight"], atol=1e-6)


def test_freeze_encoder_trains_the_final_layer_alone(source_run: Path, tmp_path: Path) -> None:
    """Linear probing: after 2 epochs at a real learning rate only fc has moved; every other
    weight and every batch-norm running statistic is what --init loaded."""
    source = load_run(source_run).model.state_dict()
    out = tmp_path / "probe"
    result = train(config(out, init=str(source_run), freeze_encoder=True, epochs=2, lr=0.05),
                   dataset=toy(("l0", "l1", "l2"), seed=3), progress=False)  # fmt: skip
    assert result.metrics["trained_parameters"] == ["fc.weight", "fc.bias"]
    probe = load_run(out).model.state_dict()
    assert not torch.allclose(probe["fc.weight"], source["fc.weight"])
    frozen = [k for k in source if not k.startswith("fc.") and source[k].is_floating_point()]
    assert any("running_mean" in k for k in frozen)
    for key in frozen:
        np.testing.assert_array_equal(probe[key], source[key], err_msg=key)
    with pytest.raises(ConfigError, match=r"--freeze-encoder .* needs --init"):
        train(config(tmp_path / "x", freeze_encoder=True), dataset=toy(("l0",)), progress=False)
    with pytest.raises(ConfigError, match="no final Linear layer with 5 outputs"):
        freeze_backbone(nn.Sequential(nn.Conv2d(1, 2, 3)), Task("multi-label", tuple("abcde")))


def test_init_errors_name_the_problem(source_run: Path, tmp_path: Path) -> None:
    task = Task("multi-label", ("l0",))
    with pytest.raises(ConfigError, match="no such run directory or checkpoint file"):
        init_weights(str(tmp_path / "nowhere"), nn.Linear(2, 1), task, "resnet18")
    with pytest.raises(ConfigError, match=r"not a run directory \(no checkpoint\.pt\)"):
        init_weights(str(tmp_path), nn.Linear(2, 1), task, "resnet18")
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(ConfigError, match=r"junk\.pt: not a radlens checkpoint"):
        init_weights(str(tmp_path / "junk.pt"), nn.Linear(2, 1), task, "resnet18")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=r"other\.pt: not a radlens checkpoint \(expected"):
        init_weights(str(tmp_path / "other.pt"), nn.Linear(2, 1), task, "resnet18")
    with pytest.raises(
        ConfigError, match="the source model is 'resnet18' but this run trains 'densenet121'"
    ):
        init_weights(str(source_run), nn.Linear(2, 1), task, "densenet121")
    with pytest.raises(ConfigError, match=r"--init .*nowhere: no such run directory"):
        train(
            config(tmp_path / "run", init=str(tmp_path / "nowhere")),
            dataset=toy(("l0",)),
            progress=False,
        )


def test_head_layer_is_the_last_linear_with_the_outputs() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3))
    assert head_layer(net, 3) == "2"
    assert head_layer(net, 7) is None


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path: Path) -> None:
    ds, out = toy(("l0", "l1")), tmp_path / "run"
    # --keep-optimizer: a finished run's last.pt keeps what extending it needs
    first = train(config(out, epochs=2, keep_optimizer=True), dataset=ds, progress=False)
    assert len(first.metrics["history"]) == 2
    with pytest.raises(
        ConfigError, match=r"already trained 2 epochs; --epochs 1 is fewer \(give --epochs 2"
    ):
        train(make_config({"out": str(out), "epochs": 1}), dataset=ds, resume=True)
    more = train(make_config({"out": str(out), "epochs": 3}), dataset=ds, resume=True)
    history = more.metrics["history"]
    assert more.epochs_done == 3 and more.metrics["epochs"] == 3
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[:2] == first.metrics["history"]
    assert history[2]["lr"] == pytest.approx(history[1]["lr"])  # continues, not raised
    assert yaml.safe_load((out / "config.yaml").read_text())["epochs"] == 3
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3
    run = load_run(out)
    assert run.config.epochs == 3 and 1 <= run.checkpoint["epoch"] <= 3
    # extended to 6 epochs the milestones are round(0.5 * 6) = 3 and round(0.75 * 6) = 4 (those
    # of 3 epochs: 2): the step ending epoch 4 drops the LR tenfold
    train(make_config({"out": str(out), "epochs": 6}), dataset=ds, resume=True, stop_after=1)
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["history"][3]["lr"] == pytest.approx(history[2]["lr"] * 0.1)
