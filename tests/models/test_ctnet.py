"""CT-Net-style model and 2D -> 3D weight transfer (radlens.models.ctnet)."""

from __future__ import annotations

import pytest
import torch

from radlens.errors import ConfigError, ModelError
from radlens.explain import compute_cam, find_target_layer
from radlens.models.ctnet import CTNet, SmallCNN3D, resnet18_2d, transfer_2d_to_3d
from radlens.models.factory import build_model
from radlens.training.config import make_config

torch.set_num_threads(1)


def _tiny(outputs: int = 3, **kw) -> CTNet:
    torch.manual_seed(0)
    return CTNet(1, outputs, widen_factor=0.125, max_pool=True, reduce_channels=(8, 8), **kw)


def test_stacks_keep_adjacent_slices_in_order_and_pad_depth() -> None:
    net = _tiny()
    x = torch.arange(7, dtype=torch.float32).view(1, 1, 7, 1, 1).expand(2, 1, 7, 4, 4)
    stacks = net.stacks(x.contiguous())
    assert stacks.shape == (2 * 3, 3, 4, 4)  # 7 slices -> padded to 9 -> 3 stacks of 3
    assert stacks[0, :, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert stacks[2, :, 0, 0].tolist() == [6.0, 0.0, 0.0]  # zero padding at the end
    assert stacks[3, :, 0, 0].tolist() == [0.0, 1.0, 2.0]  # second volume starts again


def test_forward_shape_any_depth_and_bad_input() -> None:
    net = _tiny(outputs=5).eval()
    for depth in (6, 8, 13):
        assert net(torch.randn(2, 1, depth, 32, 32)).shape == (2, 5)
    with pytest.raises(ModelError, match="expects volumes"):
        net(torch.randn(2, 32, 32))
    with pytest.raises(ModelError, match="must be >= 1"):
        CTNet(1, 0)


def test_registered_in_model_factory_and_config() -> None:
    net = build_model("ctnet_lite", spatial_dims=3, in_channels=2, num_outputs=4)
    assert isinstance(net, CTNet) and net.in_channels == 2
    assert net.backbone.conv1.in_channels == 2 * 3  # 3 slices x 2 channels per stack
    assert make_config({"model": "ctnet", "dataset": "x"}).model == "ctnet"
    with pytest.raises(ModelError, match="3D volumes"):
        build_model("ctnet", spatial_dims=2, in_channels=1, num_outputs=1)
    with pytest.raises(ConfigError, match="ctnet"):
        make_config({"model": "ctnett"})


def test_small_3d_cnn_registered_forward_and_bad_input() -> None:
    torch.manual_seed(0)
    net = build_model("ctnet_3d", spatial_dims=3, in_channels=2, num_outputs=5)
    assert isinstance(net, SmallCNN3D) and make_config({"model": "ctnet_3d"}).model == "ctnet_3d"
    assert net.eval()(torch.randn(2, 2, 16, 32, 32)).shape == (2, 5)
    with pytest.raises(ModelError, match="expects volumes"):
        net(torch.randn(2, 1, 16, 32, 32))
    with pytest.raises(ModelError, match="must be >= 1"):
        SmallCNN3D(2, 0)


@pytest.mark.slow
def test_training_steps_reduce_the_masked_loss() -> None:
    from radlens.models.tasks import Task

    torch.manual_seed(0)
    net = _tiny(outputs=2)
    x = torch.randn(6, 1, 6, 16, 16)
    x[:3, :, 2:4, 4:12, 4:12] += 3.0  # a bright block in the first three volumes
    y = torch.tensor([[1, 0], [1, float("nan")], [1, 0], [0, 1], [0, 1], [0, float("nan")]])
    task = Task("multi-label", ("a", "b"))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = task.loss(net(x), y, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0]


def test_gradcam_picks_the_3d_reducer_and_maps_to_the_input_grid() -> None:
    net = _tiny(outputs=2).eval()
    x = torch.randn(1, 1, 9, 32, 32)
    layer = find_target_layer(net, x)
    assert layer.startswith("reducer")  # the 3D stage, not the 2D backbone
    cam = compute_cam(net, x, 1)
    assert cam.maps.shape == (1, 9, 32, 32)


def test_inflate_transfer_reproduces_2d_responses_on_a_constant_stack() -> None:
    torch.manual_seed(0)
    net2 = resnet18_2d(1, 4, widen_factor=0.125, stem_stride=1)
    net3 = resnet18_2d(1, 4, widen_factor=0.125, stem_stride=1, spatial_dims=3)
    report = transfer_2d_to_3d(net2, net3, mode="inflate")
    assert "conv1.weight" in report["transferred"] and "fc.weight" in report["skipped"]
    img = torch.randn(1, 1, 16, 16)
    vol = img.unsqueeze(2).expand(1, 1, 9, 16, 16).contiguous()  # the same slice 9 times
    with torch.no_grad():
        out2 = net2.conv1(img)
        out3 = net3.conv1(vol)
    # interior slices see the full depth kernel: sum over depth of w/kd == the 2D kernel
    torch.testing.assert_close(out3[:, :, 4], out2, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out3[:, :, 0], out2)  # border slices see zero padding


def test_acs_transfer_places_kernels_in_three_planes() -> None:
    torch.manual_seed(0)
    net2 = resnet18_2d(1, 4, widen_factor=0.125)
    net3 = resnet18_2d(1, 4, widen_factor=0.125, spatial_dims=3)
    transfer_2d_to_3d(net2, net3, mode="acs")
    w2 = net2.layer1[0].conv1.weight
    w3 = net3.layer1[0].conv1.weight  # (O, I, 3, 3, 3)
    third = w3.shape[0] // 3
    torch.testing.assert_close(w3[0, :, 1], w2[0])  # axial group: centre depth slice
    assert float(w3[0, :, 0].detach().abs().sum()) == 0.0
    torch.testing.assert_close(w3[third + 1, :, :, 1, :], w2[third + 1])  # coronal
    torch.testing.assert_close(w3[-1, :, :, :, 1], w2[-1])  # sagittal
    torch.testing.assert_close(net3.layer1[0].bn1.weight, net2.layer1[0].bn1.weight)


def test_transfer_bad_inputs() -> None:
    net2 = resnet18_2d(1, 4, widen_factor=0.125)
    with pytest.raises(ModelError, match="mode 'bogus'"):
        net3 = resnet18_2d(1, 4, widen_factor=0.125, spatial_dims=3)
        transfer_2d_to_3d(net2, net3, mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"does not fit|cannot transfer"):
        transfer_2d_to_3d(net2, resnet18_2d(1, 4, widen_factor=0.25, spatial_dims=3))
    with pytest.raises(ModelError, match="no convolution kernels"):
        transfer_2d_to_3d(
            torch.nn.Linear(3, 3), resnet18_2d(1, 4, spatial_dims=3, widen_factor=0.125)
        )
