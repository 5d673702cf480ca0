"""Sentence -> region maps: a planted feature map whose one region matches the sentence must give
a map peaking there (local attention, local cosine, global-only cosine); shapes follow the input
(2D and 3D); bad requests get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from radlens.errors import ConfigError, DataError
from radlens.pretrain import (
    ImageTextConfig,
    ImageTextModel,
    ImageTextRun,
    PairData,
    input_to_image,
    load_run_image,
    sentence_region_map,
    sentence_region_maps,
    train_tokenizer,
)

TEXTS = ["right upper zone consolidation", "left pleural effusion", "no pneumothorax"]
TINY = dict(model="resnet_mini", text_width=16, text_layers=1, embed_dim=128, max_len=32, top_k=4)


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS * 3, vocab_size=80)


class Fixed(nn.Module):
    """Ignores its input's content: returns `vector` for every leading index."""

    def __init__(self, vector: torch.Tensor, normalise: bool = False) -> None:
        super().__init__()
        self.vector = vector
        self.normalise = normalise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.vector.expand(*x.shape[:-1], -1)
        return nn.functional.normalize(out, dim=-1) if self.normalise else out


class Unit(nn.Module):
    """Identity then L2 normalisation (a projection head that keeps the features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x, dim=-1)


def _identity(dim: int) -> nn.Linear:
    lin = nn.Linear(dim, dim)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(dim))
        lin.bias.zero_()
    return lin


def _planted(
    local: bool, hot: tuple[int, int], grid: int = 4, ring: int = 0
) -> tuple[ImageTextModel, int]:
    """A model whose feature map (grid x grid cells, 128 features) is zero-mean noise except the
    `hot` cell, which holds the sentence's direction; every learned layer between is the
    identity (or a constant sentence vector)."""
    torch.manual_seed(0)
    model = ImageTextModel(ImageTextConfig(**TINY, local=local, ring=ring)).eval()
    dim = model.image.features
    u = nn.functional.normalize(torch.randn(dim), dim=0)
    fmap = torch.randn(1, dim, grid, grid) * 0.05
    fmap -= torch.einsum("bfyx,f->byx", fmap, u)[:, None] * u.view(1, dim, 1, 1)  # noise _|_ u
    fmap[0, :, hot[0], hot[1]] += 3 * u
    model.image.feature_map = lambda x: fmap  # type: ignore[method-assign]
    if local:
        model.region_proj = _identity(dim)
        model.sentence_proj = Fixed(u)
        for name in ("query", "key", "value", "out"):
            setattr(model.local, name, _identity(dim))
        with torch.no_grad():
            model.local.select.weight.zero_()
            model.local.select.bias.fill_(10.0)  # every region kept with weight ~1
    else:
        model.image_proj = Unit()
        model.text_proj = Fixed(u, normalise=True)
    return model, dim


@pytest.mark.parametrize(("local", "method"), [(True, "attention"), (True, "cosine"),
                                               (False, "cosine")])  # fmt: skip
@pytest.mark.parametrize("hot", [(1, 2), (3, 1)])  # off row / column 0, where edges tie
def test_planted_region_gets_the_peak(tokenizer, local, method, hot) -> None:
    model, _ = _planted(local, hot)
    image = np.zeros((1, 32, 32), np.uint8)
    heat = sentence_region_map(model, image, TEXTS[0], tokenizer=tokenizer, method=method)
    assert heat.shape == (32, 32) and heat.dtype == np.float32
    assert heat.min() == pytest.approx(0.0) and heat.max() == pytest.approx(1.0)
    grid = model.image.cell_grid(torch.zeros(1, 1, 32, 32))
    assert grid.stride == (8.0, 8.0)  # 4 x 4 cells over 32 x 32 pixels
    # the peak on the hot cell's receptive-field centre (offset + stride * j), the far corner cold
    centre = tuple(round(o + s * h) for s, o, h in zip(grid.stride, grid.offset, hot, strict=True))
    assert np.unravel_index(np.argmax(heat), heat.shape) == centre
    far = (0 if hot[0] > 1 else 31, 0 if hot[1] > 1 else 31)
    assert heat[far] < 0.3


@pytest.mark.parametrize("method", ["attention", "cosine"])
def test_border_ring_never_holds_the_peak(tokenizer, method) -> None:
    model, _ = _planted(True, (3, 0), ring=1)  # the sentence's cell is on the frame
    image = np.zeros((1, 32, 32), np.uint8)
    raw = sentence_region_map(model, image, TEXTS[0], tokenizer=tokenizer, method=method,
                              scale=False)  # fmt: skip
    y, x = np.unravel_index(np.argmax(raw), raw.shape)
    assert 8 <= y < 24 and 8 <= x < 24  # inside the inner 2 x 2 cells
    assert raw[28, 4] == pytest.approx(raw[8:24, 8:24].min(), abs=0.05)  # ring: lowest inner


def test_maps_follow_input_resolution_2d_and_3d(tokenizer) -> None:
    model = ImageTextModel(ImageTextConfig(**TINY)).eval()
    maps = sentence_region_maps(model, np.zeros((40, 40), np.uint8), TEXTS, tokenizer=tokenizer)
    assert maps.shape == (3, 40, 40)
    assert np.all((maps >= 0) & (maps <= 1))
    raw = sentence_region_map(model, torch.zeros(1, 40, 40), TEXTS[1], tokenizer=tokenizer,
                              scale=False)  # fmt: skip
    assert raw.shape == (40, 40) and not np.allclose(raw, maps[1])
    vol_model = ImageTextModel(ImageTextConfig(**{**TINY, "spatial_dims": 3})).eval()
    vol = torch.rand(1, 12, 16, 16)
    heat = sentence_region_map(vol_model, vol, TEXTS[1], tokenizer=tokenizer, method="cosine")
    assert heat.shape == (12, 16, 16)


def test_clear_errors(tokenizer) -> None:
    glob = ImageTextModel(ImageTextConfig(**TINY, local=False)).eval()
    img = np.zeros((1, 16, 16), np.uint8)
    with pytest.raises(ConfigError, match="--no-local"):
        sentence_region_map(glob, img, TEXTS[0], tokenizer=tokenizer, method="attention")
    with pytest.raises(ConfigError, match="expected one of"):
        sentence_region_map(glob, img, TEXTS[0], tokenizer=tokenizer, method="gradcam")
    with pytest.raises(ConfigError, match="empty sentence"):
        sentence_region_map(glob, img, "  ", tokenizer=tokenizer)
    with pytest.raises(ConfigError, match="spatial dimensions"):
        sentence_region_map(glob, np.zeros((1, 1, 4, 16, 16)), TEXTS[0], tokenizer=tokenizer)
    with pytest.raises(ConfigError, match="tokenizer"):
        sentence_region_map(glob, img, TEXTS[0])


def test_input_to_image_undoes_the_pad_fit() -> None:
    # a 100 x 200 image padded into 50 x 50: scale 1/4, 25 rows of content from row 12
    assert input_to_image((12, 0), (100, 200), 50) == (1.5, 1.5)
    assert input_to_image((36, 49), (100, 200), 50) == (97.5, 197.5)
    assert input_to_image((0, 0), (64, 64), 64) == (0.0, 0.0)


def test_load_run_image_prepares_as_the_pairs(tmp_path, tokenizer) -> None:
    img = np.zeros((20, 40), np.uint8)
    img[:, 20:] = 255  # right half white
    Image.fromarray(img).save(tmp_path / "x.png")
    model = ImageTextModel(ImageTextConfig(**TINY)).eval()
    run = ImageTextRun(tmp_path, model, tokenizer, PairData("image", size=20))
    pixels, shape = load_run_image(run, tmp_path / "x.png")
    assert shape == (20, 40) and pixels.shape == (1, 20, 20) and pixels.dtype == np.uint8
    assert pixels[0, 10, 15] > 200 and pixels[0, 10, 4] < 50 and pixels[0, 2, 15] == 0  # padded
    with pytest.raises(DataError, match="no such file"):
        load_run_image(run, tmp_path / "missing.png")
    with pytest.raises(DataError, match="pretrained on 2D radiographs"):
        load_run_image(run, tmp_path)
