"""Layer fusion: the mean ('+') and the geometric mean ('*') of per-layer maps, by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radlens.errors import ConfigError, ModelError
from radlens.explain import CamExplainer
from radlens.explain.fusion import FUSIONS, fuse_maps, split_layers


def test_mean_and_geometric_mean_by_hand() -> None:
    """A fine map with its hottest voxel at (0, 0), which the coarse map barely sees: the mean
    follows the fine map's hot spot, the geometric mean the voxel (0, 1) both agree on;
    both are scaled by the layers' mean maximum (logit units)."""
    fine = torch.tensor([[[4.0, 2.0], [0.0, 1.0]]])  # max 4
    coarse = torch.tensor([[[0.1, 1.0], [2.0, 0.0]]])  # max 2
    mean = fuse_maps([fine, coarse], "+")
    geo = fuse_maps([fine, coarse], "*")
    a, b = fine / 4.0, coarse / 2.0
    np.testing.assert_allclose(mean.numpy(), ((a + b) / 2 * 3.0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(geo.numpy(), ((a * b).sqrt() * 3.0).numpy(), rtol=1e-6)
    assert int(mean[0].argmax()) == 0 and int(geo[0].argmax()) == 1
    # where one layer has no evidence the geometric mean has none either
    assert float(geo[0, 1, 1]) == 0.0 and float(mean[0, 1, 1]) > 0
    # one layer: unchanged
    assert torch.equal(fuse_maps([fine], "*"), fine)
    assert FUSIONS == {"+": "mean", "*": "geometric mean"}
    with pytest.raises(ConfigError, match="fusion '-' unknown"):
        fuse_maps([fine, coarse], "-")


def _two_convs() -> nn.Sequential:
    conv1, conv2 = nn.Conv3d(1, 1, 1, bias=False), nn.Conv3d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv1.weight.fill_(1.0)
        conv2.weight.fill_(1.0)
    return nn.Sequential(
        conv1, nn.ReLU(), conv2, nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(1, 1)
    )


def test_geometric_fusion_in_the_explainer_names_its_layers() -> None:
    """Both layers of this net see the input itself: any fusion gives the single-layer map, and
    the explainer reports the spec with the separator it was given."""
    torch.manual_seed(0)
    net = _two_convs()
    with torch.no_grad():
        net[6].weight.fill_(1.0)
    x = torch.zeros(1, 1, 3, 4, 5)
    x[0, 0, 2, 1, 3] = 2.0
    x[0, 0, 0, 3, 0] = 1.0
    with CamExplainer(net, method="hirescam", layer="1") as cam:
        one = cam(x, class_idx=0)
    with CamExplainer(net, method="hirescam", layer="1*3") as cam:
        both = cam(x, class_idx=0)
    np.testing.assert_allclose(both.maps, one.maps, atol=1e-6)
    np.testing.assert_allclose(both.raw_max, one.raw_max, rtol=1e-5)
    assert both.layer == "1*3" and one.layer == "1"


def test_layer_spec_parsing_and_errors() -> None:
    net = _two_convs()
    assert split_layers(net, None) == ([], "+")
    assert split_layers(net, "1 * 3") == (["1", "3"], "*")
    assert split_layers(net, "1+3") == (["1", "3"], "+")
    with pytest.raises(ConfigError, match="not both"):
        split_layers(net, "1+3*0")
    with pytest.raises(ConfigError, match="distinct names"):
        split_layers(net, "1**3")
    with pytest.raises(ModelError, match="not found"):
        split_layers(net, "1*9")
