"""Grad-CAM / Grad-CAM++: maps point at the only signal, in the input's axis order, not inverted."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _support.explain import blob_images, hit_rate, tiny_cnn, train_blob_model
from monai.networks.nets import DenseNet121, resnet18
from monai.visualize import GradCAM, GradCAMpp

from radlens.errors import ConfigError, DataError, ModelError
from radlens.explain import CamExplainer, compute_cam, find_target_layer
from radlens.explain.cam import normalise_method
from radlens.models import aligned_upsample, traced_grid
from radlens.models.factory import build_model

SHAPE_2D = (24, 24)
SHAPE_3D = (14, 22, 30)  # D != H != W: an axis mix-up moves the peak off the blob


@pytest.fixture(scope="module")
def model_2d() -> torch.nn.Module:
    return train_blob_model(2, SHAPE_2D, 3, steps=40, batch=32)


@pytest.fixture(scope="module")
def model_3d() -> torch.nn.Module:
    return train_blob_model(3, SHAPE_3D, 3, steps=50, batch=16)


def _positives(shape: tuple[int, ...], radius: float) -> tuple[np.ndarray, np.ndarray]:
    x, y, masks = blob_images(60, shape, radius, seed=2)
    return x[y == 1], masks[y == 1]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "gradcampp"])
def test_2d_peak_falls_in_blob(model_2d: torch.nn.Module, method: str) -> None:
    x, masks = _positives(SHAPE_2D, 3)
    result = compute_cam(model_2d, x, class_idx=1, method=method)
    assert result.maps.shape == (len(x), *SHAPE_2D)
    assert result.maps.max() == pytest.approx(1.0) and result.maps.min() >= 0.0
    chance = masks.mean()
    assert chance < 0.06
    assert hit_rate(result.maps, masks) >= 0.7
    # the map is brighter inside the blob than outside, i.e. not inverted
    inside = np.mean([h[m].mean() for h, m in zip(result.maps, masks, strict=True)])
    outside = np.mean([h[~m].mean() for h, m in zip(result.maps, masks, strict=True)])
    assert inside > 3 * outside


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "gradcampp"])
def test_3d_anisotropic_peak_falls_in_blob(model_3d: torch.nn.Module, method: str) -> None:
    x, masks = _positives(SHAPE_3D, 3)
    result = compute_cam(model_3d, x, class_idx=1, method=method)
    assert result.maps.shape == (len(x), *SHAPE_3D)
    assert masks.mean() < 0.02
    assert hit_rate(result.maps, masks) >= 0.7


@pytest.mark.slow
def test_the_check_catches_inverted_and_misaligned_maps(model_3d: torch.nn.Module) -> None:
    """The same hit-rate check fails MONAI's default (inverting) normaliser and swapped axes."""
    x, masks = _positives(SHAPE_3D, 3)
    ours = compute_cam(model_3d, x, class_idx=1)
    assert hit_rate(ours.maps, masks) >= 0.7
    # postprocessing (1, 0); on a copy: MONAI's hooks are never removed
    default = GradCAM(nn_module=copy.deepcopy(model_3d), target_layers=ours.layer)
    inverted = default(x=torch.from_numpy(x), class_idx=1)[:, 0].detach().numpy()
    assert hit_rate(inverted, masks) < 0.2
    swapped = torch.from_numpy(ours.maps.transpose(0, 3, 2, 1)[:, None].copy())  # (X, Y, Z)
    swapped = F.interpolate(swapped, size=SHAPE_3D, mode="trilinear")[:, 0].numpy()
    assert hit_rate(swapped, masks) < 0.5


@pytest.mark.parametrize(("method", "monai_cls"), [("gradcam", GradCAM), ("gradcampp", GradCAMpp)])
def test_matches_monai_up_to_scale(method: str, monai_cls: type) -> None:
    """Gradient taken at the target layer only gives MONAI's full-backward map, scaled by max."""
    torch.manual_seed(0)
    model = tiny_cnn(3).eval()
    x = torch.randn(1, 1, 6, 8, 10)
    ours = compute_cam(model, x, class_idx=1, method=method)  # type: ignore[arg-type]
    grid = traced_grid(model, x, ours.layer)
    assert grid is not None  # the same cell placement for MONAI's map
    reference = monai_cls(
        nn_module=model,
        target_layers=ours.layer,
        upsampler=lambda size: lambda m: aligned_upsample(m, size, grid),
        postprocessing=lambda m: m,
    )
    ref = reference(x=x, class_idx=1)[:, 0].detach().numpy()
    np.testing.assert_allclose(ours.maps, ref / ref.max(), atol=1e-5)


def test_maps_are_drawn_on_the_cells_receptive_field_centres() -> None:
    """A ResNet's layer4 cell j sits on pixel stride * j (its grid traced through the forward pass,
    the shortcut convolutions left out); the map is drawn there, not half a cell down-right."""
    torch.manual_seed(0)
    net = resnet18(spatial_dims=2, n_input_channels=1, num_classes=2).eval()
    x = torch.rand(1, 1, 128, 160)
    grid = traced_grid(net, x, "layer4")
    assert grid.stride == (16.0, 16.0)  # MONAI's 7x7/1 stem
    assert grid.offset == (0.0, 0.0)
    ours = compute_cam(net, x, class_idx=1, layer="layer4").maps[0]
    cells = GradCAM(
        nn_module=copy.deepcopy(net),
        target_layers="layer4",
        upsampler=lambda size: lambda m: m,  # the map at its own 8 x 10 cells
        postprocessing=lambda m: m,
    )(x=x, class_idx=1)
    assert cells.shape == (1, 1, 8, 10)
    cells = cells / cells.max()
    # cell (i, j) drawn on pixel (16 i, 16 j), linear in between
    assert np.allclose(ours[::16, ::16], cells[0, 0].detach().numpy(), atol=1e-5)
    drawn = aligned_upsample(cells, (128, 160), grid)[0, 0].detach().numpy()
    np.testing.assert_allclose(ours, drawn, atol=1e-5)
    usual = F.interpolate(cells, size=(128, 160), mode="bilinear")[0, 0].detach().numpy()
    assert np.abs(ours - usual).max() > 0.05  # the usual drawing differs

    # a resampling outside modules cannot be traced: the usual drawing is kept
    class Resampled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, stride=2, padding=1)

        def forward(self, t):
            return self.conv(F.interpolate(t, scale_factor=0.5))

    assert traced_grid(Resampled(), x, "conv") is None
    with pytest.raises(ModelError, match="not a module"):
        traced_grid(net, x, "layer9")


def test_gradcampp_batched_equals_one_by_one() -> None:
    torch.manual_seed(0)
    model = tiny_cnn(2).eval()
    x = torch.randn(4, 1, 16, 12)
    batched = compute_cam(model, x, class_idx=[0, 1, 1, 0], method="gradcampp")
    single = [
        compute_cam(model, x[i : i + 1], class_idx=c, method="gradcampp").maps[0]
        for i, c in enumerate([0, 1, 1, 0])
    ]
    np.testing.assert_allclose(batched.maps, np.stack(single), atol=1e-5)
    np.testing.assert_array_equal(batched.class_idx, [0, 1, 1, 0])
    assert batched.scores.shape == (4, 2)


@pytest.mark.parametrize(
    ("net", "shape", "layer"),
    [
        # 3D: layer4 is 1x2x2 here (stride 16); layer3 (2x3x3) is the last within stride 8
        (resnet18(spatial_dims=3, n_input_channels=1, num_classes=2), (1, 1, 16, 20, 24), "layer3"),
        (resnet18(spatial_dims=2, n_input_channels=3, num_classes=2), (1, 3, 40, 48), "layer4"),
        (
            DenseNet121(spatial_dims=2, in_channels=1, out_channels=2),
            (1, 1, 64, 64),
            "class_layers.relu",
        ),
    ],
)
def test_auto_layer_on_monai_networks(net: torch.nn.Module, shape: tuple, layer: str) -> None:
    x = torch.rand(shape)
    assert find_target_layer(net, x) == layer
    result = compute_cam(net, x, class_idx=1)  # picks the layer within its own forward pass
    assert result.layer == layer
    assert result.maps.shape == (1, *shape[2:])


@pytest.mark.parametrize(
    ("name", "dims", "shape"),
    [
        ("resnet18", 3, (12, 16, 20)),
        ("densenet121", 2, (28, 28)),
        ("resnet18_25d", 3, (28, 20, 24)),
    ],
)
def test_build_model_networks_give_input_sized_maps(name: str, dims: int, shape: tuple) -> None:
    depth = shape[0] if name == "resnet18_25d" else 28
    model = build_model(name, spatial_dims=dims, in_channels=1, num_outputs=3, depth=depth)
    result = compute_cam(model, torch.rand(2, 1, *shape), class_idx=2)
    assert result.maps.shape == (2, *shape)
    assert np.isfinite(result.maps).all()


def test_hooks_are_removed_and_inplace_restored() -> None:
    model = tiny_cnn(2)
    compute_cam(model, torch.rand(1, 1, 12, 12))
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU))


def test_layer_override_and_errors() -> None:
    model = tiny_cnn(2)
    x = torch.rand(2, 1, 12, 12)
    assert compute_cam(model, x, layer="2").layer == "2"
    with pytest.raises(ModelError, match=r"layer 'layer4' not found"):
        compute_cam(model, x, layer="layer4")
    assert CamExplainer(model, method="Grad-CAM++").method == "gradcampp"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'gradcam'"):
        CamExplainer(model, method="gradcan")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="out of range; the model has 2 outputs"):
        compute_cam(model, x, class_idx=5)
    with pytest.raises(DataError, match="expected a channel-first batch"):
        compute_cam(model, torch.rand(12, 12))
    with pytest.raises(ConfigError, match="3 entries for 2 images"):
        compute_cam(model, x, class_idx=[0, 1, 1])


def test_default_class_is_top_score() -> None:
    torch.manual_seed(1)
    model = tiny_cnn(2).eval()
    x = torch.randn(5, 1, 10, 10)
    result = compute_cam(model, x)
    np.testing.assert_array_equal(result.class_idx, model(x).argmax(1).numpy())


def test_hirescam_is_gradient_times_activation_per_position() -> None:
    """score = sum(W * A) over channels and positions (no pooling): HiResCAM's map is
    ReLU(sum_c W[c] * A[c]) position by position (Draelos & Carin 2020), Grad-CAM's is
    ReLU(sum_c mean(W[c]) * A[c]); computed by hand from the layer's activation."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 3, 3, padding=1)
    model = torch.nn.Sequential(conv, torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 2)).eval()
    x = torch.randn(1, 1, 6, 6)
    with torch.no_grad():
        acti = conv(x)[0]  # (3, 6, 6)
        weight = model[2].weight.detach()[1].view(3, 6, 6)
    hires = torch.relu((weight * acti).sum(0)).numpy()
    grad = torch.relu((weight.mean((1, 2))[:, None, None] * acti).sum(0)).numpy()
    ours = compute_cam(model, x, class_idx=1, method="hirescam", layer="0")
    np.testing.assert_allclose(ours.maps[0] * ours.raw_max[0], hires, rtol=1e-4, atol=1e-6)
    assert ours.method == "hirescam" and ours.raw_max[0] == pytest.approx(hires.max(), rel=1e-5)
    plain = compute_cam(model, x, class_idx=1, method="gradcam", layer="0")
    np.testing.assert_allclose(plain.maps[0] * plain.raw_max[0], grad, rtol=1e-4, atol=1e-6)
    assert normalise_method("HiResCAM") == "hirescam"
