"""Can a small 3D CNN learn the phantom's abnormalities? Per-abnormality test AUROC, CPU-sized.

Usage: .venv/bin/python benchmarks/phantom_learnability.py [--patients 80] [--epochs 30]
           [--shape 32,64,64] [--threads 1]
Synthesizes the cohort in memory (no files) at `--shape` (the demo's default), resamples every
study to that shape (sites differ in slice count), trains a 4-block 3D CNN on the TRUE labels
(an upper bound for report-derived labels) with a patient-level 70/30 split, and prints JSON:
AUROC per abnormality, mean, wall times.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy import ndimage as ndi
from sklearn.metrics import roc_auc_score
from torch import nn

from radlens.core.options import parse_shape
from radlens.phantom import ABNORMALITIES, DEFAULT_SHAPE, simulate_patient


def _prepare(hu: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    zoom = [t / s for t, s in zip(shape, hu.shape, strict=True)]
    vol = ndi.zoom(hu, zoom, order=1)
    lung = np.clip((vol + 1000) / 800, 0, 1)  # lung window [-1000, -200]
    soft = np.clip((vol + 160) / 400, 0, 1)  # mediastinal window [-160, 240]
    return np.stack([lung, soft]).astype(np.float32)


def _net(n_out: int) -> nn.Module:
    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
        )

    return nn.Sequential(
        block(2, 16),
        block(16, 32),
        block(32, 48),
        block(48, 64),
        nn.AdaptiveMaxPool3d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(64, n_out),
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--shape", default="32,64,64")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = parse_shape(args.shape, default=DEFAULT_SHAPE, what="--shape")
    t0 = time.perf_counter()
    xs, ys, pids = [], [], []
    for k in range(args.patients):
        for study, _info in simulate_patient(args.seed, k, shape=shape):
            xs.append(_prepare(study.volume.array, shape))
            present = {f["abnormality"] for f in study.true_findings}
            ys.append([float(a in present) for a in ABNORMALITIES])
            pids.append(k)
    synth_s = time.perf_counter() - t0
    x, y, pids = np.stack(xs), np.array(ys, np.float32), np.array(pids)
    test = (pids * 2654435761 % 1000) / 1000 < 0.3
    xtr, ytr = torch.from_numpy(x[~test]), torch.from_numpy(y[~test])
    xte = torch.from_numpy(x[test])
    model = _net(len(ABNORMALITIES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=3e-3, total_steps=args.epochs * ((len(xtr) + 7) // 8)
    )
    loss_fn = nn.BCEWithLogitsLoss()
    t1 = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 8):
            idx = order[i : i + 8]
            xb = xtr[idx]
            if torch.rand(1).item() < 0.5:
                xb = xb.flip(-1)  # left-right flip keeps abnormality-level labels
            opt.zero_grad()
            loss = loss_fn(model(xb), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.perf_counter() - t1
    model.eval()
    with torch.no_grad():
        scores = torch.sigmoid(model(xte)).numpy()
    yte = y[test]
    auc = {}
    for j, name in enumerate(ABNORMALITIES):
        if 0 < yte[:, j].sum() < len(yte):
            auc[name] = round(float(roc_auc_score(yte[:, j], scores[:, j])), 3)
    out = {
        "n_studies": len(x),
        "n_test": int(test.sum()),
        "shape": shape,
        "synth_seconds": round(synth_s, 1),
        "train_seconds": round(train_s, 1),
        "mean_auroc": round(float(np.mean(list(auc.values()))), 3),
        "auroc": auc,
        "test_positives": {a: int(yte[:, j].sum()) for j, a in enumerate(ABNORMALITIES)},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
