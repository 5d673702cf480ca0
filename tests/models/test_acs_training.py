"""The 3D model names train end to end through radlens.training.loop on a tiny synthetic 3D task,
and their run directories load back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.data.arrays import ArrayDataset
from radlens.training.config import make_config
from radlens.training.loop import train
from radlens.training.run import load_run


def volumes(n: int = 8, side: int = 8) -> ArrayDataset:
    rng = np.random.default_rng(0)
    images, labels, ids = {}, {}, {}
    for split, m in (("train", n), ("val", 6), ("test", 6)):
        y = (np.arange(m) % 2).astype(np.float32)
        x = rng.integers(0, 60, size=(m, side, side, side)).astype(np.uint8)
        x[y == 1, 2:6, 2:6, 2:6] = 220
        images[split], labels[split] = x, y[:, None]
        ids[split] = np.array([f"{split}-{i:03d}" for i in range(m)])
    return ArrayDataset("toy3d", "binary", ("no", "yes"), images, labels, ids,
                        {s: v.copy() for s, v in ids.items()}, spatial_dims=3, official=False,
                        source="synthetic")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model", ["acs_resnet18", "resnet18_3d"])
def test_3d_models_train_and_reload(tmp_path: Path, model: str) -> None:
    config = make_config({"dataset": "toy3d", "model": model, "out": str(tmp_path / model),
                          "epochs": 1, "batch_size": 8, "device": "cpu", "precision": "32-true",
                          "seed": 0})  # fmt: skip
    result = train(config, dataset=volumes(), progress=False)
    test = result.metrics["splits"]["test"]
    assert test["n_images"] == 6 and 0.0 <= test["auc"] <= 1.0
    run = load_run(tmp_path / model)
    kinds = {type(m).__name__ for m in run.model.modules()}
    assert ("ACSConv" in kinds) == model.startswith("acs_") and "Conv2d" not in kinds
