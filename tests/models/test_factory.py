"""Model factory: MONAI ResNet-18/50, DenseNet-121 in 2D/3D, the 28 px stem, 2.5D, bad names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from radlens.errors import ModelError
from radlens.models.factory import (
    MODELS,
    available_models,
    build_model,
    count_parameters,
    register_model,
)
from radlens.training.config import make_config


@pytest.mark.parametrize(
    ("name", "reference"),
    # torchvision's ImageNet models (1000 classes): 11,689,512 / 25,557,032 / 7,978,856 parameters;
    # MONAI's ResNets add biases to the downsampling convolutions (a few thousand parameters)
    [("resnet18", 11_689_512), ("resnet50", 25_557_032), ("densenet121", 7_978_856)],
)
def test_parameter_counts_match_the_classic_networks(name: str, reference: int) -> None:
    model = build_model(name, spatial_dims=2, in_channels=3, num_outputs=1000, small_input=False)
    assert count_parameters(model) == pytest.approx(reference, rel=1e-3)


def test_small_input_stem_is_3x3_stride_1_without_max_pool() -> None:
    def layer1_input_side(model: nn.Module) -> int:
        seen: list[int] = []
        hook = model.layer1.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[-1]))
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, 28, 28))
        hook.remove()
        return seen[0]

    model = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert layer1_input_side(model) == 28  # no stride, no max-pool before layer1
    big = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2, small_input=False)
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    assert layer1_input_side(big) == 7  # 28 -> 14 (stride 2) -> 7 (max-pool)


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
@pytest.mark.parametrize("channels", [1, 3])
def test_2d_forward_any_channels(name: str, channels: int) -> None:
    model = build_model(name, spatial_dims=2, in_channels=channels, num_outputs=5).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, channels, 28, 28)).shape == (2, 5)


def test_3d_and_25d_forward() -> None:
    model = build_model("resnet18", spatial_dims=3, in_channels=1, num_outputs=3).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 16, 16, 16)).shape == (1, 3)
    flat = build_model("resnet18_25d", spatial_dims=3, in_channels=1, num_outputs=3, depth=16)
    with torch.no_grad():
        assert flat.eval()(torch.zeros(2, 1, 16, 16, 16)).shape == (2, 3)
    assert flat.net.conv1.in_channels == 16  # slices became channels
    with pytest.raises(ModelError, match=r"expects \(B, C, 16, H, W\)"):
        flat(torch.zeros(1, 1, 8, 16, 16))


def test_bad_model_requests() -> None:
    with pytest.raises(ModelError, match="model 'resnet81' is not known; did you mean 'resnet18'"):
        build_model("resnet81", spatial_dims=2, in_channels=1, num_outputs=2)
    with pytest.raises(ModelError, match="spatial_dims must be 2 or 3, got 4"):
        build_model("resnet18", spatial_dims=4, in_channels=1, num_outputs=2)
    with pytest.raises(ModelError, match="is for 3D volumes"):
        build_model("resnet18_25d", spatial_dims=2, in_channels=1, num_outputs=2)
    with pytest.raises(ModelError, match="must be >= 1"):
        build_model("resnet18", spatial_dims=2, in_channels=0, num_outputs=2)


def test_registered_models_build_by_name() -> None:
    def tiny(*, in_channels: int, num_outputs: int, **_: object) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))

    register_model("tiny_test_net", tiny)
    assert "tiny_test_net" in available_models()
    model = build_model("tiny_test_net", spatial_dims=2, in_channels=1, num_outputs=3)
    assert model(torch.zeros(2, 1, 4, 4)).shape == (2, 3)
    assert make_config({"model": "tiny_test_net"}).model == "tiny_test_net"
    with pytest.raises(ModelError, match="is built in"):
        register_model("resnet18", tiny)


def test_the_parameter_table_lists_every_built_in_name() -> None:
    assert available_models()[: len(MODELS)] == tuple(MODELS)
    assert {"resnet18_3d", "acs_resnet50", "ctnet_lite", "ctnet_3d"} <= set(MODELS)
    assert build_model("ResNet-18", spatial_dims=2, in_channels=1, num_outputs=2).conv1.stride == (
        1,
        1,
    )
    for name, spec in MODELS.items():
        if spec.volumes_only:
            with pytest.raises(ModelError, match=f"model '{name}' is for 3D volumes"):
                build_model(name, spatial_dims=2, in_channels=1, num_outputs=2)
