"""Segmentation training: sliding-window inference, the config checks, a short run's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.networks.nets import UNet
from torch import nn

from radlens.core import read_plan
from radlens.errors import ConfigError, ModelError
from radlens.training import (
    load_segmentation_run,
    make_config,
    predict_volume,
    train_segmentation,
)
from radlens.training.seg_loss import THRESHOLDS, OffsetLogits
from radlens.training.segmentation import seg_loss
from tests._support.seg_cohort import write_sphere_cohort


def _unet() -> nn.Module:
    torch.manual_seed(0)
    net = UNet(3, 1, 2, channels=(4, 8, 16, 32), strides=(2, 2, 2), num_res_units=1)
    return net.eval()


def test_sliding_window_with_a_window_covering_the_volume_equals_the_full_forward():
    net, image = _unet(), np.random.default_rng(0).random((1, 16, 32, 32), dtype=np.float32)
    full = torch.sigmoid(net(torch.from_numpy(image)[None]))[0].detach().numpy()
    np.testing.assert_allclose(predict_volume(net, image, (16, 32, 32)), full, atol=1e-6)
    # a window larger than the volume: padded, then cropped back; a UNet is not exactly
    # translation-equivariant at its borders, so only a window that sees the whole volume agrees
    padded = predict_volume(net, image, (16, 32, 32), overlap=0.5)
    np.testing.assert_allclose(padded, full, atol=1e-6)


def test_sliding_window_with_overlapping_windows_equals_the_full_forward_of_a_local_network():
    # a network without spatial context (1x1x1 convolutions): every window computes the same
    # voxels as the whole volume, so overlapping windows with constant blending must agree
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(2, 4, 1), nn.ReLU(), nn.Conv3d(4, 3, 1)).eval()
    image = np.random.default_rng(1).random((2, 13, 37, 29), dtype=np.float32)
    full = torch.sigmoid(net(torch.from_numpy(image)[None]))[0].detach().numpy()
    windows = predict_volume(net, image, (8, 16, 16), overlap=0.25)
    assert windows.shape == (3, 13, 37, 29)
    np.testing.assert_allclose(windows, full, atol=1e-6)


def test_segmentation_needs_a_cohort_and_a_segmentation_model(tmp_path: Path):
    with pytest.raises(ConfigError, match="--task segmentation needs --cohort"):
        train_segmentation(make_config({"task": "segmentation", "dataset": "pneumoniamnist"}))
    config = make_config({"task": "segmentation", "cohort": str(tmp_path), "model": "resnet18"})
    with pytest.raises(ConfigError, match="resnet18 is a classifier"):
        train_segmentation(config)
    config = make_config({"task": "segmentation", "cohort": str(tmp_path), "patch": "12,32,32"})
    with pytest.raises(ConfigError, match="multiple of 8"):
        train_segmentation(config)
    with pytest.raises(ConfigError, match="--resume is not supported"):
        train_segmentation(config, resume=True)


@pytest.mark.slow
@pytest.mark.parametrize("patch", ["8,16,16", "1,16,16"], ids=["3d", "2d"])
def test_a_short_run_writes_its_plan_checkpoint_and_metrics(tmp_path: Path, patch: str):
    write_sphere_cohort(tmp_path / "cohort", n_studies=5)
    out = tmp_path / "run"
    config = make_config(
        {
            "task": "segmentation",
            "cohort": str(tmp_path / "cohort"),
            "model": "unet_lite",
            "spacing": "4,2,2",
            "patch": patch,
            "epochs": 2,
            "batch_size": 8,
            "lr": 0.01,
            "out": str(out),
            "cohort_windows": "-1000:400",
        }
    )
    result = train_segmentation(config)
    plan = read_plan(out)
    assert plan.task == "segmentation" and plan.labels == ("nodule", "mass")
    assert plan.spacing_mm == (4.0, 2.0, 2.0) and plan.spatial_dims == (2 if patch[0] == "1" else 3)
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and set(metrics["history"][0]["val_dice"]) == {
        "nodule",
        "mass",
    }
    assert metrics["splits"]["train"]["n_studies"] == 2 and result.best_epoch in (1, 2)
    # each finding's mask threshold is chosen on val, kept with the weights and applied on load
    cuts = metrics["mask_thresholds"]
    assert set(cuts) == {"nodule", "mass"} and all(t in THRESHOLDS for t in cuts.values())
    assert metrics["history"][-1]["thresholds"] == cuts or result.best_epoch == 1
    run = load_segmentation_run(out)
    assert run.findings == ("nodule", "mass") and run.windows == ((-1000.0, 400.0),)
    assert isinstance(run.model, OffsetLogits) == any(t != 0.5 for t in cuts.values())


def test_seg_loss_penalises_lesions_predicted_on_background_in_every_channel():
    # MONAI DiceCELoss(sigmoid=True) on several channels takes a softmax cross-entropy, which is
    # 0 on voxels whose targets are all 0: "lesion everywhere" cost nothing there. seg_loss's BCE
    # term costs log(1 + e^5) per voxel and channel (no lesion voxel: pos_weight not used).
    logits = torch.full((2, 3, 4, 4, 4), 5.0)
    target = torch.zeros_like(logits)
    bce = float(np.log1p(np.exp(5.0)))
    dice_empty = 1.0 - 1e-5 / (2 * 64 * float(torch.sigmoid(torch.tensor(5.0))) + 1e-5)
    for kind in ("balanced", "pos-weight"):  # no lesion voxel: both BCEs are the plain mean
        assert float(seg_loss(kind)(logits, target)) == pytest.approx(bce + dice_empty, rel=1e-5)
    # a lesion voxel predicted as such: its BCE is weighted by pos_weight
    target[0, 0, 0, 0, 0] = 1.0
    one = seg_loss("pos-weight", pos_weight=1.0)(logits, target)
    ten = seg_loss("pos-weight", pos_weight=10.0)(logits, target)
    n = logits.numel()
    assert float(ten - one) == pytest.approx(9 * float(np.log1p(np.exp(-5.0))) / n, rel=1e-3)


def test_a_tiny_run_lowers_the_loss_and_segments_bright_spheres(tmp_path: Path):
    write_sphere_cohort(tmp_path / "cohort", n_studies=8)
    config = make_config(
        {
            "task": "segmentation",
            "cohort": str(tmp_path / "cohort"),
            "model": "unet_lite",
            "spacing": "4,2,2",
            "patch": "8,16,16",
            "epochs": 16,
            "batch_size": 4,
            "lr": 0.01,
            "out": str(tmp_path / "run"),
            "cohort_windows": "-1000:400",
            "threads": 1,
            "precision": "32-true",
        }
    )
    history = train_segmentation(config).metrics["history"]
    losses = [h["loss"] for h in history]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    # chance: predicting every voxel gives Dice 2p / (1 + p), p the lesion share (< 0.03 here)
    assert history[-1]["val_dice"]["mass"] > 0.5


def test_a_non_finite_loss_stops_training_with_the_remedy(tmp_path: Path, monkeypatch):
    write_sphere_cohort(tmp_path / "cohort", n_studies=4)
    config = make_config(
        {"task": "segmentation", "cohort": str(tmp_path / "cohort"), "model": "unet_lite",
         "spacing": "4,2,2", "patch": "8,16,16", "epochs": 1, "batch_size": 8,
         "out": str(tmp_path / "run"), "cohort_windows": "-1000:400", "threads": 1}
    )  # fmt: skip
    real = seg_loss()
    monkeypatch.setattr(
        "radlens.training.segmentation.seg_loss",
        lambda kind: lambda logits, target: real(logits, target) * float("nan"),
    )
    with pytest.raises(ModelError, match=r"loss became nan .*--precision 32-true"):
        train_segmentation(config)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # nothing half-trained kept
