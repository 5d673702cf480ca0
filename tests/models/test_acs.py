"""ACS convolutions: each third of the output is the 2D kernel applied in its plane, conversion of
2D networks keeps parameters and accepts 2D weights, and a converted ResNet learns a 3D task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import ModelError
from radlens.models.acs import ACSConv, acs_resnet, acs_split, convert_to_acs
from radlens.models.factory import build_model, count_parameters


@pytest.mark.parametrize(("channels", "split"), [(64, (22, 21, 21)), (3, (1, 1, 1)), (5, (2, 2, 1)),
                                                 (1, (1, 0, 0))])  # fmt: skip
def test_split_of_output_channels(channels: int, split: tuple[int, int, int]) -> None:
    assert acs_split(channels) == split and sum(split) == channels


@pytest.mark.parametrize("out_channels", [6, 7])
def test_each_group_is_the_2d_kernel_applied_plane_by_plane(out_channels: int) -> None:
    torch.manual_seed(0)
    conv2d = nn.Conv2d(2, out_channels, kernel_size=3, padding=1, bias=True)
    acs = ACSConv.from_conv2d(conv2d)
    x = torch.randn(2, 2, 5, 6, 7)  # (B, C, D, H, W)
    y = acs(x)
    assert y.shape == (2, out_channels, 5, 6, 7)
    a, c, s = acs_split(out_channels)
    w_a, w_c, w_s = torch.split(conv2d.weight, (a, c, s))
    b_a, b_c, b_s = torch.split(conv2d.bias, (a, c, s))
    for d in range(5):  # axial planes (H, W)
        ref = F.conv2d(x[:, :, d], w_a, b_a, padding=1)
        torch.testing.assert_close(y[:, :a, d], ref, rtol=1e-5, atol=1e-5)
    for h in range(6):  # coronal planes (D, W)
        ref = F.conv2d(x[:, :, :, h, :], w_c, b_c, padding=1)
        torch.testing.assert_close(y[:, a : a + c, :, h, :], ref, rtol=1e-5, atol=1e-5)
    for w in range(7):  # sagittal planes (D, H)
        ref = F.conv2d(x[..., w], w_s, b_s, padding=1)
        torch.testing.assert_close(y[:, a + c :, :, :, w], ref, rtol=1e-5, atol=1e-5)


def test_stride_applies_in_all_three_dimensions() -> None:
    acs = ACSConv(1, 6, kernel_size=3, stride=2, padding=1)
    assert acs(torch.randn(1, 1, 8, 10, 12)).shape == (1, 6, 4, 5, 6)


@pytest.mark.parametrize(("depth", "small"), [(18, True), (50, False)])
def test_converted_resnet_keeps_parameters_and_loads_2d_weights(depth: int, small: bool) -> None:
    net2d = build_model(f"resnet{depth}", spatial_dims=2, in_channels=1, num_outputs=4,
                        small_input=small)  # fmt: skip
    net3d = convert_to_acs(net2d)
    assert count_parameters(net3d) == count_parameters(net2d)
    assert not any(isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) for m in net3d.modules())
    assert isinstance(net2d.conv1, nn.Conv2d)  # the original is untouched
    # 2D-trained weights load unchanged (same keys, same shapes) ...
    with torch.no_grad():
        for p in net2d.parameters():
            p.add_(0.01)
    net3d.load_state_dict(net2d.state_dict())
    torch.testing.assert_close(net3d.conv1.weight[:, :, 0], net2d.conv1.weight)
    # ... and the 3D model takes volumes
    assert net3d.eval()(torch.randn(1, 1, 8, 8, 8)).shape == (1, 4)


def test_axial_third_of_the_stem_sees_each_slice_like_the_2d_stem() -> None:
    """On a volume, the axial channels of the converted stem equal the 2D stem per slice."""
    net2d = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2).eval()
    net3d = convert_to_acs(net2d).eval()
    vol = torch.randn(1, 1, 4, 12, 12)
    a = acs_split(64)[0]
    out3d = net3d.conv1(vol)
    for d in range(4):
        torch.testing.assert_close(out3d[:, :a, d], net2d.conv1(vol[:, :, d])[:, :a])


def test_volume_constant_along_depth_gives_the_2d_axial_response() -> None:
    """An input constant along D: away from the D borders, the axial group is the 2D conv of the
    slice and the coronal/sagittal groups are the 2D kernel summed over its first axis (a 1D
    kernel) applied along W / H."""
    torch.manual_seed(1)
    conv2d = nn.Conv2d(1, 3, kernel_size=3, padding=1, bias=False)
    acs = ACSConv.from_conv2d(conv2d)
    image = torch.randn(1, 1, 9, 9)
    vol = image[:, :, None].expand(1, 1, 7, 9, 9).contiguous()
    y = acs(vol)[:, :, 3]  # middle slice: the D padding does not reach it
    w = conv2d.weight
    torch.testing.assert_close(y[:, :1], F.conv2d(image, w[:1], padding=1), rtol=1e-5, atol=1e-5)
    along_w = w[1:2].sum(2, keepdim=True)  # (1, 1, 1, 3): kernel along W
    along_h = w[2:3].sum(2, keepdim=True).transpose(2, 3)  # (1, 1, 3, 1): kernel along H
    torch.testing.assert_close(y[:, 1:2], F.conv2d(image, along_w, padding=(0, 1)), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    torch.testing.assert_close(y[:, 2:3], F.conv2d(image, along_h, padding=(1, 0)), rtol=1e-5,
                               atol=1e-5)  # fmt: skip


@pytest.mark.slow
def test_converted_2d_network_learns_a_3d_task() -> None:
    """A small 2D CNN converted to ACS learns bright-cube vs dark volumes in a few Adam steps."""
    torch.manual_seed(0)
    n = 16
    x = torch.rand(n, 1, 8, 8, 8) * 0.3
    y = torch.arange(n) % 2
    x[y == 1, :, 2:6, 2:6, 2:6] += 0.7
    net2d = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 2),
    )  # fmt: skip
    model = convert_to_acs(net2d)
    assert isinstance(model[0], ACSConv) and isinstance(model[3], nn.MaxPool3d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert (model.eval()(x).argmax(1) == y).float().mean() == 1.0


def test_3d_builder_names_and_errors() -> None:
    m = build_model("resnet18_3d", spatial_dims=3, in_channels=1, num_outputs=3)
    assert isinstance(m.conv1, nn.Conv3d)
    assert isinstance(
        build_model("acs_resnet18", spatial_dims=3, in_channels=1, num_outputs=3).conv1, ACSConv
    )
    with pytest.raises(ModelError, match="3D volumes"):
        build_model("acs_resnet18", spatial_dims=2, in_channels=1, num_outputs=3)
    with pytest.raises(ModelError, match="depth must be 18 or 50"):
        acs_resnet(34, in_channels=1, num_outputs=2)
    with pytest.raises(ModelError, match="expects \\(B, C, D, H, W\\)"):
        ACSConv(1, 3, 3)(torch.zeros(1, 1, 4, 4))
