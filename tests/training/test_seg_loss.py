"""Segmentation losses and mask thresholds: hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from monai.metrics import DiceMetric

from radlens.errors import ConfigError
from radlens.models import SliceWise
from radlens.training import load_segmentation_run, make_config, predict_volume
from radlens.training.seg_loss import (
    OffsetLogits,
    balanced_bce,
    best_thresholds,
    seg_loss,
    study_dice,
    threshold_counts,
)
from radlens.training.segmentation import segmentation_model


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_balanced_bce_weighs_lesion_and_background_voxels_alike_per_finding():
    # finding 0: one lesion voxel (logit 2) among 4; finding 1: no lesion voxel
    logits = torch.tensor([[[2.0, -1.0, 0.0, 3.0], [1.0, -2.0, 0.5, 0.0]]])  # (B=1, F=2, 4)
    target = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    f0 = _softplus(-2.0) + (_softplus(-1.0) + _softplus(0.0) + _softplus(3.0)) / 3
    f1 = (_softplus(1.0) + _softplus(-2.0) + _softplus(0.5) + _softplus(0.0)) / 4
    assert float(balanced_bce(logits, target)) == pytest.approx((f0 + f1) / 2, rel=1e-6)
    # one lesion voxel weighs as much as the three background voxels together, however few
    big = torch.zeros(1, 1, 1000)
    big_target = torch.zeros(1, 1, 1000)
    big_target[0, 0, 0] = 1.0
    assert float(balanced_bce(big, big_target)) == pytest.approx(2 * math.log(2), rel=1e-6)
    with pytest.raises(ConfigError, match="differ"):
        balanced_bce(logits, target[:, :1])


def test_seg_loss_names_its_choices():
    with pytest.raises(ConfigError, match=r"--seg-loss 'focal'.*balanced"):
        seg_loss("focal")


def test_best_thresholds_counts_voxels_predicted_in_studies_without_the_finding():
    truth = np.zeros((1, 10), dtype=np.uint8)
    truth[0, :2] = 1
    lesion_study = np.array([[0.9, 0.7, 0.6, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])
    # at 0.5: 2 found, 3 predicted -> Dice 0.8; at 0.7: 2 found, 2 predicted -> 1.0
    assert best_thresholds([threshold_counts(lesion_study, truth)]) == [0.7]
    # a lesion-free study with voxels at 0.75: at 0.7 they are false positives, at 0.8 the
    # lesion loses a voxel: 0.7 -> 2*2/(2+3+2) = 0.57, 0.8 -> 2*1/(1+0+2) = 0.67
    empty = np.array([[0.75, 0.75, 0.75, 0, 0, 0, 0, 0, 0, 0]])
    counts = [threshold_counts(lesion_study, truth), threshold_counts(empty, np.zeros_like(truth))]
    cut = best_thresholds(counts)
    assert cut == [0.8]
    # never present and never predicted: 0.5; ties: nearest 0.5
    assert best_thresholds([threshold_counts(np.zeros((1, 4)), np.zeros((1, 4)))]) == [0.5]
    assert best_thresholds([]) == []


def test_study_dice_from_counts_equals_monai_dice_metric():
    rng = np.random.default_rng(0)
    probs = [rng.random((2, 4, 6, 6)) for _ in range(3)]
    truths = [rng.random((2, 4, 6, 6)) > 0.8 for _ in range(3)]
    truths[1][1] = False  # a study without finding 1: NaN, as DiceMetric(ignore_empty=True)
    cuts = [0.7, 0.3]
    got = study_dice([threshold_counts(p, y) for p, y in zip(probs, truths, strict=True)], cuts)
    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=True)
    for p, y in zip(probs, truths, strict=True):
        cut = np.array(cuts).reshape(2, 1, 1, 1)
        metric(torch.from_numpy(p >= cut)[None], torch.from_numpy(y)[None])
    np.testing.assert_allclose(got, metric.aggregate().numpy(), rtol=1e-6)
    assert np.isnan(got[1, 1]) and np.isnan(got).sum() == 1


def test_offset_logits_moves_the_threshold_to_0_5():
    net = torch.nn.Identity()
    shifted = OffsetLogits(net, [0.9, 0.5])
    x = torch.logit(torch.tensor([[0.9, 0.5]])).view(1, 2, 1, 1, 1)
    np.testing.assert_allclose(torch.sigmoid(shifted(x)).flatten().numpy(), [0.5, 0.5], atol=1e-6)
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        OffsetLogits(net, [1.0])


@pytest.mark.parametrize("thresholds", [None, [0.9, 0.5]])
def test_a_run_loads_with_its_thresholds_and_older_runs_without(tmp_path: Path, thresholds):
    torch.manual_seed(0)
    config = make_config(
        {"task": "segmentation", "cohort": str(tmp_path), "model": "unet_lite",
         "patch": "1,16,16", "out": str(tmp_path / "run")}
    )  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    net = segmentation_model(config, 1, 2)
    assert isinstance(net, SliceWise)  # predict_volume sees through the offset to it
    state = {"model": net.state_dict(), "findings": ["nodule", "mass"], "in_channels": 1}
    if thresholds:
        state["thresholds"] = thresholds
    torch.save(state, run_dir / "checkpoint.pt")
    run = load_segmentation_run(run_dir)
    image = np.random.default_rng(0).random((1, 4, 16, 16), dtype=np.float32)
    plain = predict_volume(net.eval(), image, (1, 16, 16))
    prob = predict_volume(run.model, image, (1, 16, 16))
    if thresholds is None:
        np.testing.assert_allclose(prob, plain, atol=1e-6)
        return
    assert isinstance(run.model, OffsetLogits)
    logit = np.log(plain / (1 - plain))
    expected = 1 / (
        1 + np.exp(-(logit - np.log(9.0)[None] * np.array([1, 0])[:, None, None, None]))
    )
    np.testing.assert_allclose(prob, expected, atol=1e-5)
