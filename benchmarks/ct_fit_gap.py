"""Fit diagnostic for a chest-CT run: per-abnormality AUROC on its own training studies vs test.

A model that scores ~1.0 on the studies it was trained on but near 0.5 on test patients is
memorising studies rather than learning the finding; that is what moved the CT demo from more
epochs to more patients (`benchmarks/results/ct_demo.json`). The training-split figure is a
diagnostic of fit, never a performance claim.

    .venv/bin/python benchmarks/ct_fit_gap.py runs/demo/run
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from radlens.training.device import images_to_tensor, predict_scores
from radlens.training.run import load_run
from radlens.training.sources import load_dataset


def split_aurocs(run, ds, split: str) -> dict[str, float]:
    """AUROC per abnormality output (no '@location') of the run's model on `split`."""
    x = images_to_tensor(ds.images[split], n_channels=ds.n_channels, spatial_dims=ds.spatial_dims)
    scores = predict_scores(run.model, x, run.task, batch_size=16, device="cpu")
    labels = ds.labels[split]
    out = {}
    for j, name in enumerate(run.label_names):
        known = ~np.isnan(labels[:, j])
        y = labels[known, j]
        if "@" not in name and 0 < y.sum() < len(y):
            out[name] = round(float(roc_auc_score(y, scores[known, j])), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = load_run(args.run_dir)
    ds = load_dataset(run.config)
    train, test = split_aurocs(run, ds, "train"), split_aurocs(run, ds, "test")
    rows = {n: {"train": train.get(n), "test": test.get(n)} for n in test}
    print(
        json.dumps(
            {
                "run": str(args.run_dir),
                "studies": {"train": ds.size("train"), "test": ds.size("test")},
                "mean_train": round(float(np.mean(list(train.values()))), 4),
                "mean_test": round(float(np.mean(list(test.values()))), 4),
                "auroc": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
