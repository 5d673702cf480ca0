"""Guided backprop, guided CAMs and layer fusion on hand-made networks with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radlens.errors import ConfigError, ModelError
from radlens.explain import CamExplainer, guided_backprop


def _two_layer() -> nn.Sequential:
    """x (2 values) -> W1 -> ReLU -> W2 -> one logit, with W2 = [2, -3]."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU(inplace=True))
    net.append(nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        net[3].weight.copy_(torch.tensor([[2.0, -3.0]]))
    return net


def test_guided_backprop_passes_only_positive_gradients() -> None:
    """Hand-computed: at x = (1, 0.5) both hidden units are on; the plain input gradient is
    W1^T W2^T = (-1, -3) (no positive part), guided backprop drops the ReLU's negative incoming
    gradient -3 and gives W1^T (2, 0) = (2, 0)."""
    net = _two_layer()
    x = torch.tensor([[[1.0, 0.5]]])  # (N=1, C=1, 2 positions)
    xg = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(net(xg).sum(), xg)
    assert plain[0, 0].tolist() == pytest.approx([-1.0, -3.0])
    guided = guided_backprop(net, x, 0)
    assert guided.shape == (1, 2)
    assert guided[0].tolist() == pytest.approx([2.0, 0.0])
    # the hooks are gone and the ReLU is in place again: plain gradients afterwards
    (again,) = torch.autograd.grad(net(xg).sum(), xg)
    assert again[0, 0].tolist() == pytest.approx([-1.0, -3.0])
    assert net[2].inplace is True


def test_guided_backprop_gradient_into_every_relu_is_non_negative() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
    )  # fmt: skip
    seen: list[torch.Tensor] = []
    for m in net:
        if isinstance(m, nn.ReLU):
            m.register_full_backward_hook(lambda _m, g_in, _g_out: seen.append(g_in[0]))
    x = torch.randn(2, 1, 8, 8)
    out = guided_backprop(net, x, [0, 2])
    assert out.shape == (2, 8, 8) and (out >= 0).all()
    assert len(seen) == 2 and all((g >= 0).all() for g in seen)


def test_guided_backprop_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="class_idx has 3 entries for 1 images"):
        guided_backprop(_two_layer(), torch.zeros(1, 1, 2), [0, 0, 0])
    with pytest.raises(ModelError, match=r"no nn\.ReLU"):
        guided_backprop(nn.Sequential(nn.Flatten(), nn.Linear(2, 1)), torch.zeros(1, 1, 2), 0)


def _spot_net() -> nn.Sequential:
    """Identity 1x1x1 convolutions + ReLU, global mean, one logit: the evidence is the input."""
    conv1, conv2 = nn.Conv3d(1, 1, 1, bias=False), nn.Conv3d(1, 1, 1, bias=False)
    head = nn.Linear(1, 1)
    with torch.no_grad():
        for p in (conv1.weight, conv2.weight, head.weight):
            p.fill_(1.0)
        head.bias.fill_(0.0)
    return nn.Sequential(
        conv1, nn.ReLU(), conv2, nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), head
    )


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "guided-gradcam", "guided-hirescam"])
@pytest.mark.parametrize("layer", ["1", "3", "1+3"])
def test_map_peaks_at_the_only_bright_voxel(method: str, layer: str) -> None:
    net = _spot_net()
    x = torch.zeros(1, 1, 5, 6, 7)
    x[0, 0, 2, 3, 4] = 1.0
    x[0, 0, 0, 0, 0] = -1.0  # negative evidence: never the peak
    with CamExplainer(net, method=method, layer=layer) as cam:
        result = cam(x, class_idx=0)
    peak = np.unravel_index(int(np.argmax(result.maps[0])), result.maps[0].shape)
    assert tuple(int(i) for i in peak) == (2, 3, 4)
    assert result.maps.max() == pytest.approx(1.0)
    assert result.layer == layer and result.method == method
    # HiResCAM at a 1x1 map of a mean-pooled linear head: raw evidence = w * x / voxels
    if method == "hirescam":
        assert result.raw_max[0] == pytest.approx(1.0 / x[0, 0].numel(), rel=1e-5)


def test_input_x_gradient_peaks_at_the_bright_voxel_and_takes_no_layer() -> None:
    net = _spot_net()
    x = torch.zeros(2, 1, 5, 6, 7)
    x[0, 0, 2, 3, 4] = 1.0
    x[1, 0, 4, 0, 6] = 3.0
    x[:, 0, 0, 0, 0] = -1.0
    with CamExplainer(net, method="Input_x_Gradient") as cam:
        result = cam(x, class_idx=0)
    peaks = [np.unravel_index(int(np.argmax(m)), m.shape) for m in result.maps]
    assert [tuple(int(i) for i in p) for p in peaks] == [(2, 3, 4), (4, 0, 6)]
    assert result.layer == "input" and result.method == "input-x-gradient"
    # raw evidence in logit units: gradient 1/voxels x input, spread by the Gaussian (< 1 share)
    assert 0 < result.raw_max[1] < 3.0 / x[0, 0].numel()
    assert result.raw_max[1] > 2 * result.raw_max[0]
    with pytest.raises(ConfigError, match="explains the input"):
        CamExplainer(net, method="input-x-gradient", layer="1")


def test_fused_layers_keep_evidence_in_logit_units_and_detail_where_both_agree() -> None:
    net = _spot_net()
    x = torch.zeros(1, 1, 4, 4, 4)
    x[0, 0, 1, 2, 3] = 2.0
    x[0, 0, 3, 0, 0] = 1.0
    with CamExplainer(net, method="hirescam", layer="1") as cam:
        one = cam(x, class_idx=0)
    with CamExplainer(net, method="hirescam", layer="1+3") as cam:
        both = cam(x, class_idx=0)
    # both layers see the same map here: fusion changes nothing
    np.testing.assert_allclose(both.maps, one.maps, atol=1e-6)
    np.testing.assert_allclose(both.raw_max, one.raw_max, rtol=1e-5)


def test_layer_spec_errors() -> None:
    net = _spot_net()
    with pytest.raises(ConfigError, match="distinct names joined by"):
        CamExplainer(net, layer="1+1")
    with pytest.raises(ModelError, match="not found"):
        CamExplainer(net, layer="1+9")
