"""Feature-map cells on the input: the chained layer rule by hand, against the backbones' real
receptive fields (gradient centroid of one cell), and the aligned upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radlens.errors import ModelError
from radlens.models import build_model
from radlens.models.alignment import aligned_upsample, chain_grid, traced_grid
from radlens.models.ctnet import SmallCNN3D
from radlens.pretrain.image import ImageEncoder


def test_chain_grid_by_hand():
    # conv k7 s2 p3: centre 2j (offset 0); avg-pool k2 s2: cells 2j, 2j+1 -> 2j + 0.5 of its input
    layers = [nn.Conv2d(1, 4, 7, stride=2, padding=3), nn.ReLU(), nn.AvgPool2d(2, 2)]
    g = chain_grid(layers, 2)
    assert g.stride == (4.0, 4.0) and g.offset == (1.0, 1.0)  # 2 * 0.5
    # an unpadded 3 x 3 conv centres cell j on input j + 1; dilation 2 on j + 2
    g = chain_grid([nn.Conv3d(1, 1, 3), nn.Conv3d(1, 1, 3, dilation=2)], 3)
    assert g.stride == (1.0,) * 3 and g.offset == (3.0,) * 3
    g = chain_grid([nn.Conv2d(1, 1, (3, 1), stride=(2, 1), padding=(0, 0))], 2)
    assert g.stride == (2.0, 1.0) and g.offset == (1.0, 0.0)


def _centroid(enc: ImageEncoder, size: int, dims: int) -> tuple[list[float], int]:
    torch.manual_seed(0)
    x = torch.randn(8, 1, *([size] * dims), requires_grad=True)
    fmap = enc.feature_map(x)
    j = fmap.shape[2] // 2
    (grad,) = torch.autograd.grad((fmap[(slice(None), slice(None)) + (j,) * dims] ** 2).sum(), x)
    a = grad.abs().sum((0, 1)).numpy()
    shapes = [[-1 if k == d else 1 for k in range(dims)] for d in range(dims)]
    axes = [np.arange(size).reshape(shape) for shape in shapes]
    return [float((a * ax).sum() / a.sum()) for ax in axes], j


@pytest.mark.parametrize(
    ("model", "dims", "size", "stage"),
    [("resnet_mini", 2, 128, 3), ("resnet_mini", 2, 128, 4), ("densenet121", 2, 128, 4),
     ("resnet18_3d", 3, 48, 4)],
)  # fmt: skip
def test_encoder_grid_is_the_receptive_field_centre(model, dims, size, stage):
    enc = ImageEncoder(model, spatial_dims=dims, small_input=True, local_stage=stage).eval()
    grid = enc.cell_grid(torch.zeros(1, 1, *[size] * dims))
    centre, j = _centroid(enc, size, dims)
    predicted = [o + s * j for s, o in zip(grid.stride, grid.offset, strict=True)]
    # within 1.5 px; the usual align_corners=False drawing is (stride - 1) / 2 >= 3.5 px off here
    assert np.allclose(centre, predicted, atol=1.5), (centre, predicted, grid)
    assert grid.stride[0] == size / enc.feature_map(torch.zeros(1, 1, *[size] * dims)).shape[2]


def test_aligned_upsample_puts_a_cell_on_its_centre():
    grid = chain_grid([nn.Conv2d(1, 1, 3, stride=2, padding=1)] * 3, 2)  # stride 8, offset 0
    cells = torch.zeros(1, 1, 16, 16)
    cells[0, 0, 5, 9] = 1.0
    up = aligned_upsample(cells, (128, 128), grid)
    assert up.shape == (1, 1, 128, 128)
    assert np.unravel_index(int(up.argmax()), (128, 128)) == (40, 72)
    assert float(up[0, 0, 40, 72]) == pytest.approx(1.0)
    assert float(up[0, 0, 44, 72]) == pytest.approx(0.5)  # halfway to the next cell
    flat = aligned_upsample(torch.full((2, 3, 4, 4, 4), 0.7), (16, 20, 8), chain_grid([], 3))
    assert flat.shape == (2, 3, 16, 20, 8) and torch.allclose(flat, torch.tensor(0.7))


def test_aligned_upsample_3d_keeps_the_axis_order():
    grid = chain_grid([nn.Conv3d(1, 1, 3, stride=(1, 2, 4), padding=1)], 3)
    assert grid.stride == (1.0, 2.0, 4.0) and grid.offset == (0.0, 0.0, 0.0)
    cells = torch.zeros(1, 1, 5, 6, 7)
    cells[0, 0, 3, 1, 4] = 1.0
    up = aligned_upsample(cells, (5, 12, 28), grid)
    assert np.unravel_index(int(up.argmax()), (5, 12, 28)) == (3, 2, 16)
    assert float(up[0, 0, 3, 2, 18]) == pytest.approx(0.5)


def test_traced_grid_follows_the_main_path():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 16, 32, 48)
    net = SmallCNN3D(1, 2)
    before = {name: m.training for name, m in net.named_modules()}
    net.features[1].eval()  # a mixed train / eval state comes back as it was
    before["features.1"] = False
    grid = traced_grid(net, x, "features.15")
    # stem (1, 2, 2); three 2 x 2 x 2 max-pools, each centring its cells half a step on
    assert grid == ((8.0, 16.0, 16.0), (3.5, 7.0, 7.0))
    assert {name: m.training for name, m in net.named_modules()} == before
    assert traced_grid(net, x, "features.15") is grid  # traced once per model, layer, shape
    # 2.5D: the slices are channels of a 2D ResNet; the map is (H, W)
    flat = build_model("resnet18_25d", spatial_dims=3, in_channels=1, num_outputs=2, depth=16)
    grid = traced_grid(flat, x, "net.layer4")
    assert grid is not None and len(grid.stride) == 2 and grid.offset == (0.0, 0.0)


class _ShortcutFirst(nn.Module):
    """A block whose shortcut (2 x 2 average pool, centre + 0.5) runs before its main path."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.short = nn.AvgPool2d(2)
        self.main = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = self.stem(t)
        return self.short(t) + self.main(t)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_traced_grid_refuses_what_it_cannot_place():
    x = torch.rand(1, 1, 16, 16)
    assert traced_grid(_ShortcutFirst(), x, "main") is None  # two branches, two centres
    same = nn.Sequential(nn.Conv2d(1, 2, 4, padding="same"), nn.Conv2d(2, 2, 3, padding="valid"))
    assert traced_grid(same, x, "1") == ((1.0, 1.0), (1.5, 1.5))  # "same" pads 1 before, 2 after
    resampled = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Upsample(scale_factor=2),
                              nn.Conv2d(2, 2, 3, padding=1))  # fmt: skip
    assert traced_grid(resampled, x, "2") is None  # an upsampling is not a convolution or pool
    with pytest.raises(ModelError, match="not a module"):
        traced_grid(same, x, "layer9")


def test_aligned_upsample_refuses_mismatched_dimensions():
    with pytest.raises(ModelError, match="expected \\(N, C, \\*cells\\)"):
        aligned_upsample(torch.zeros(1, 1, 4, 4), (8, 8, 8), chain_grid([], 2))
