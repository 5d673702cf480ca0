"""Synthetic data for the explanation tests: the class is a bright blob at a random place.

The blob is the only signal, so a model that learned the task must look at the blob, and a
correct Grad-CAM's hottest point must fall inside it far more often than the blob's area share.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def blob_images(
    n: int, shape: tuple[int, ...], radius: float, seed: int, *, contrast: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, 1, *shape) float32 noise, labels (n,) 0/1, masks (n, *shape) bool).

    Every image gets a blob mask at a random centre; only label-1 images have the blob drawn."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, 1, *shape)).astype(np.float32)
    y = rng.integers(0, 2, n)
    masks = np.zeros((n, *shape), dtype=bool)
    grid = np.indices(shape)
    r = int(np.ceil(radius))
    for i in range(n):
        centre = [rng.integers(r, s - r) for s in shape]
        d2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
        masks[i] = d2 <= radius**2
        if y[i]:
            x[i, 0][masks[i]] += contrast
    return x, y, masks


def tiny_cnn(spatial_dims: int, width: int = 8) -> nn.Sequential:
    """conv - conv/2 - conv - global max pool - linear: a map at half resolution."""
    conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    pool = nn.AdaptiveMaxPool2d if spatial_dims == 2 else nn.AdaptiveMaxPool3d
    return nn.Sequential(
        conv(1, width, 3, padding=1),
        nn.ReLU(inplace=True),
        conv(width, 2 * width, 3, padding=1, stride=2),
        nn.ReLU(inplace=True),
        conv(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(inplace=True),
        pool(1),
        nn.Flatten(),
        nn.Linear(2 * width, 2),
    )


def train_blob_model(
    spatial_dims: int, shape: tuple[int, ...], radius: float, *, steps: int, batch: int
) -> nn.Module:
    """A tiny CNN trained (seconds on CPU) to tell blob from no blob."""
    torch.manual_seed(0)
    model = tiny_cnn(spatial_dims)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y, _ = blob_images(steps * batch // 4, shape, radius, seed=1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def hit_rate(maps: np.ndarray, masks: np.ndarray) -> float:
    """Share of maps whose maximum lies inside the mask."""
    from radlens.explain.localization import pointing_game

    return float(np.mean([pointing_game(h, m) for h, m in zip(maps, masks, strict=True)]))
