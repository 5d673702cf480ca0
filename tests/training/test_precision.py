"""CPU bf16 autocast is used only where every convolution of the model computes it right
(radlens.training.precision); a dataset without validation studies gets a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError, DataError
from radlens.models.factory import build_model
from radlens.training.config import make_config
from radlens.training.loop import train
from radlens.training.precision import (
    bf16_conv_faults,
    bf16_native,
    checked_precision,
    resolve_precision,
)


class WrongUnderBf16(nn.Conv3d):
    """A convolution that returns garbage under CPU autocast, as oneDNN's buggy kernels do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if torch.is_autocast_enabled("cpu"):
            return y + 100.0 * y.detach().abs().max()
        return y


def _net(conv: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), conv)


def test_probe_names_the_convolution_bf16_gets_wrong() -> None:
    net = _net(WrongUnderBf16(4, 4, 3, padding=1))
    faults = bf16_conv_faults(net, torch.zeros(1, 2, 6, 5, 4))
    assert faults == ["2 (WrongUnderBf16 on 6x5x4)"]
    assert net.training  # the mode is restored after the shape pass


def test_probe_passes_correct_convolutions() -> None:
    net = nn.Sequential(nn.Conv3d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 8, 3, padding=1))
    assert bf16_conv_faults(net, torch.zeros(1, 2, 8, 8, 8)) == []
    net2d = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    assert bf16_conv_faults(net2d, torch.zeros(1, 1, 28, 28)) == []


def test_auto_falls_back_to_float32_and_explicit_bf16_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net, x = _net(WrongUnderBf16(4, 4, 3, padding=1)), torch.zeros(1, 2, 6, 5, 4)
    with caplog.at_level(logging.WARNING, logger="radlens.training.precision"):
        assert checked_precision("auto", "bf16-mixed", net, x, cuda=False) == "32-true"
    assert "2 (WrongUnderBf16 on 6x5x4)" in caplog.text and "float32" in caplog.text
    with pytest.raises(ConfigError, match=r"--precision bf16-mixed: .*WrongUnderBf16.*32-true"):
        checked_precision("bf16-mixed", "bf16-mixed", net, x, cuda=False)
    # float32 runs and GPUs are not probed
    assert checked_precision("32-true", "32-true", net, x, cuda=False) == "32-true"
    assert checked_precision("auto", "bf16-mixed", net, x, cuda=True) == "bf16-mixed"
    assert resolve_precision("32-true", cuda=False) == "32-true"


@pytest.mark.skipif(not bf16_native(False), reason="this CPU has no native bf16")
def test_the_tiny_demo_model_trains_in_float32_where_its_last_block_is_two_slices_deep() -> None:
    """torch 2.13 (oneDNN 3.12): the bf16 weight gradient of a 3x3x3 Conv3d on a 2-slice input
    reads uninitialised memory; the tiny demo's 16-slice volumes reach small_cnn_3d's last block
    2 slices deep. 32 slices (the default demo's shape gives 4) are computed right."""
    model = build_model("ctnet_3d", spatial_dims=3, in_channels=4, num_outputs=12)
    assert bf16_conv_faults(model, torch.zeros(1, 4, 16, 24, 32)) == [
        "features.15 (Conv3d on 2x1x2)"
    ]
    assert bf16_conv_faults(model, torch.zeros(1, 4, 32, 24, 32)) == []


def test_training_without_validation_studies_says_which_split_is_empty(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    splits = {"train": 16, "test": 4}  # no "val": nothing to choose the best epoch on
    ids = {s: np.array([f"{s}{i}" for i in range(n)]) for s, n in splits.items()}
    ds = ArrayDataset(
        "toy", "binary", ("normal", "abnormal"),
        {s: rng.integers(0, 255, (n, 8, 8)).astype(np.uint8) for s, n in splits.items()},
        {s: (np.arange(n) % 2)[:, None].astype(np.float32) for s, n in splits.items()},
        ids, {s: v.copy() for s, v in ids.items()}, official=False,
    )  # fmt: skip
    config = make_config({"dataset": "toy", "out": str(tmp_path / "run"), "device": "cpu"})
    with pytest.raises(DataError, match=r"the 'val' split has no studies .*'train': 16"):
        train(config, dataset=ds, progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
