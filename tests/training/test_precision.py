"""CPU bf16 autocast is used only where every convolution of the model computes it right
(radlens.training.precision); a dataset without validation studies gets a clear error."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radlens.data.arrays import ArrayDataset
from radlens.errors import DataError
from radlens.models.factory import build_model
from radlens.training.config import make_config
from radlens.training.loop import train
from radlens.training.precision import (
    bf16_conv_faults,
    bf16_native,
    guard_bf16_convs,
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


def test_guard_makes_the_wrong_layer_compute_in_float32(caplog: pytest.LogCaptureFixture) -> None:
    net, x = _net(WrongUnderBf16(4, 4, 3, padding=1)), torch.randn(3, 2, 6, 5, 4)
    keys = list(net.state_dict())
    with caplog.at_level(logging.WARNING, logger="radlens.training.precision"):
        assert guard_bf16_convs(net, x[:1]) == ["2 (WrongUnderBf16 on 6x5x4)"]
    assert "2 (WrongUnderBf16 on 6x5x4)" in caplog.text and "float32" in caplog.text
    assert isinstance(net[2], WrongUnderBf16) and type(net[2]).__name__ == "Float32WrongUnderBf16"
    assert list(net.state_dict()) == keys  # checkpoints load into an unguarded model
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = net(x).float()
    np.testing.assert_allclose(got.detach(), net(x).detach(), rtol=0.05, atol=0.05)
    assert bf16_conv_faults(net, x[:1]) == [] and bf16_conv_faults(copy.deepcopy(net), x[:1]) == []
    assert guard_bf16_convs(net, x[:1]) == []  # guarding twice changes nothing
    again = pickle.loads(pickle.dumps(net))  # torch.save of a whole model, spawned workers
    assert type(again[2]) is type(net[2]) and bf16_conv_faults(again, x[:1]) == []


class _Twice(nn.Module):
    """One convolution used at two input shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = WrongUnderBf16(2, 2, 3, padding=1)
        self.fine = nn.Conv3d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean() + self.conv(x[:, :, :4]).mean() + self.fine(x).mean()


def test_every_input_shape_of_a_convolution_is_probed_and_named() -> None:
    assert bf16_conv_faults(_Twice(), torch.zeros(1, 2, 6, 5, 4)) == [
        "conv (WrongUnderBf16 on 4x5x4, 6x5x4)"
    ]
    assert resolve_precision("32-true", cuda=False) == "32-true"


@pytest.mark.skipif(not bf16_native(False), reason="this CPU has no native bf16")
def test_the_tiny_demo_models_two_slice_deep_block_is_found_and_guarded() -> None:
    """torch 2.13 (oneDNN 3.12): the bf16 weight gradient of a 3x3x3 Conv3d on a 2-slice input
    reads uninitialised memory; the tiny demo's 16-slice volumes reach small_cnn_3d's last block
    2 slices deep. 32 slices (the default demo's shape gives 4) are computed right."""
    model = build_model("ctnet_3d", spatial_dims=3, in_channels=4, num_outputs=12)
    assert bf16_conv_faults(model, torch.zeros(1, 4, 16, 24, 32)) == [
        "features.15 (Conv3d on 2x1x2)"
    ]
    assert bf16_conv_faults(model, torch.zeros(1, 4, 32, 24, 32)) == []
    # guarded, the weight gradients under bf16 are the same every time and near float32's
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn((4, 4, 16, 24, 32), generator=gen), torch.rand((4, 12), generator=gen)
    guard_bf16_convs(model, x[:1])

    def grad(bf16: bool) -> torch.Tensor:
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        nn.functional.binary_cross_entropy_with_logits(out.float(), y).backward()
        return model.features[15].weight.grad.clone()

    ref, first, second = grad(False), grad(True), grad(True)
    assert torch.equal(first, second)
    # bf16 rounding through the 14 layers below moves it by 10-40%; the unguarded kernel gave
    # NaN or values of 1e35
    assert torch.isfinite(first).all()
    assert float((first - ref).abs().max() / ref.abs().max()) < 1.0
    assert 0.5 < float(first.norm() / ref.norm()) < 2.0


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
