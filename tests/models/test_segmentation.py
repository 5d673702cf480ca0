"""Segmentation networks: the factory's rows, 2D networks run slice-wise on volumes."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import UNet

from radlens.errors import ModelError
from radlens.models import SliceWise, build_model, is_segmentation_model
from radlens.models.segmentation import segmentation_network


@pytest.mark.parametrize("name", ["unet", "unet_lite", "segresnet", "segresnet_lite"])
@pytest.mark.parametrize("dims", [2, 3])
def test_segmentation_models_give_one_logit_map_per_finding(name: str, dims: int):
    net = build_model(name, spatial_dims=dims, in_channels=2, num_outputs=3)
    out = net(torch.zeros(1, 2, 8, 16, 16))
    assert out.shape == (1, 3, 8, 16, 16)
    assert isinstance(net, SliceWise) == (dims == 2)
    assert is_segmentation_model(name)


def test_classifiers_are_not_segmentation_models():
    assert not is_segmentation_model("resnet18") and not is_segmentation_model("ctnet")


def test_lite_models_are_half_width():
    full = build_model("unet", spatial_dims=3, in_channels=1, num_outputs=1)
    lite = build_model("unet_lite", spatial_dims=3, in_channels=1, num_outputs=1)
    assert sum(p.numel() for p in lite.parameters()) < sum(p.numel() for p in full.parameters()) / 3


def test_slicewise_equals_the_2d_network_on_each_slice():
    torch.manual_seed(0)
    net2d = UNet(2, 1, 2, channels=(4, 8, 16), strides=(2, 2)).eval()
    x = torch.rand(2, 1, 5, 16, 16)
    out = SliceWise(net2d)(x)
    for z in range(5):
        torch.testing.assert_close(out[:, :, z], net2d(x[:, :, z]))
    with pytest.raises(ModelError, match="expects"):
        SliceWise(net2d)(x[:, :, 0])


def test_unknown_family_and_dims_are_refused():
    with pytest.raises(ModelError, match="unknown segmentation family"):
        segmentation_network("vnet", spatial_dims=3, in_channels=1, out_channels=1)
    with pytest.raises(ModelError, match="spatial_dims must be 2 or 3"):
        segmentation_network("unet", spatial_dims=1, in_channels=1, out_channels=1)
