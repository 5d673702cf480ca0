"""2D -> 3D weight transfer vs training from scratch on the synthetic chest-CT cohort.

Usage: .venv/bin/python benchmarks/ct_transfer.py [--cohort DIR | --patients 100] [--epochs 8]
           [--pretrain-epochs 3] [--mode inflate|acs] [--threads 2] [--out results.json]

A 2D ResNet-18 (quarter width, 2 HU-window channels) is pretrained on axial slices of the training
studies, each slice labelled by which abnormality masks it crosses (a 2D task with its own labels,
as ImageNet / slice-level pretraining would be). Its weights are inflated (I3D) or ACS-placed into a
3D ResNet-18 of the same layout (`radlens.models.ctnet.transfer_2d_to_3d`), fine-tuned on the
report-derived study labels; a 3D ResNet-18 from scratch gets the same epochs, batches, optimiser
and seed. Prints JSON: test mean AUROC over the 12 abnormalities (report labels and true findings)
of both, per-abnormality AUROCs, and wall times (the pretraining time listed separately).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _loop(model, x, y, task, *, epochs: int, lr: float, batch: int, seed: int) -> float:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            loss = task.loss(model(x[idx]), y[idx], None)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


@torch.no_grad()
def _scores(model, x) -> np.ndarray:
    model.eval()
    return torch.cat([torch.sigmoid(model(x[i : i + 16])) for i in range(0, len(x), 16)]).numpy()


def _aucs(y: np.ndarray, s: np.ndarray, names) -> dict[str, float]:
    from radlens.evaluation import delong

    out = {}
    for j, name in enumerate(names):
        m = ~np.isnan(y[:, j])
        yj = y[m, j]
        out[name] = float(delong(yj, s[m, j]).auc[0]) if 0 < yj.sum() < len(yj) else float("nan")
    return out


def _slices(ds, abn) -> tuple[torch.Tensor, torch.Tensor]:
    """Every 2nd axial slice of the training volumes, labelled by the masks it crosses (each
    resampled over its study's field of view as the volumes were)."""
    from radlens.explain import resized_mask

    xs, ys = [], []
    vols = ds.images["train"]
    spacing, fovs = ds.extra["spacing"], ds.extra["fov_mm"]["train"]
    for i in range(len(vols)):
        shape = vols.shape[2:]
        lab = np.zeros((shape[0], len(abn)), np.float32)
        for j, a in enumerate(abn):
            if ds.extra["true_labels"]["train"][i, j] == 1:
                m = resized_mask(ds.extra["mask_path"]["train"][i], a, shape, spacing, fovs[i])
                if m is not None:
                    lab[:, j] = m.any(axis=(1, 2))
        for z in range(0, shape[0], 2):
            xs.append(vols[i, :, z])
            ys.append(lab[z])
    x = torch.from_numpy(np.stack(xs)).float().div(127.5).sub(1.0)
    return x, torch.from_numpy(np.stack(ys))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort")
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--pretrain-epochs", type=int, default=3)
    ap.add_argument("--mode", default="inflate", choices=["inflate", "acs"])
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from radlens.data.ct_cohort import load_ct_cohort
    from radlens.models.ctnet import resnet18_2d, transfer_2d_to_3d
    from radlens.models.tasks import Task
    from radlens.phantom import synthesize_cohort

    t0 = time.perf_counter()
    cohort = args.cohort
    if cohort is None:
        cohort = tempfile.mkdtemp(prefix="radlens-transfer-")
        synthesize_cohort(
            cohort,
            n_patients=args.patients,
            seed=args.seed,
            shape=(32, 64, 64),
            formats=("nifti",),
            progress=False,
        )
    ct = load_ct_cohort(cohort, seed=args.seed, cache_dir=Path(cohort) / "cache", progress=False)
    ds = ct.dataset
    abn = list(ds.label_names[:12])
    task = Task("multi-label", tuple(ds.label_names))
    x = {s: torch.from_numpy(ds.images[s]).float().div(127.5).sub(1.0) for s in ("train", "test")}
    y_train = torch.from_numpy(ds.labels["train"])
    truth = ds.extra["true_labels"]["test"]

    def net3d():
        torch.manual_seed(args.seed)
        return resnet18_2d(
            ds.n_channels, len(ds.label_names), widen_factor=0.25, max_pool=True, spatial_dims=3
        )

    # 2D pretraining on slices (its own labels and head), then transfer into a 3D ResNet-18
    xs, ys = _slices(ds, abn)
    torch.manual_seed(args.seed)
    net2 = resnet18_2d(ds.n_channels, len(abn), widen_factor=0.25, max_pool=True)
    pre_s = _loop(
        net2,
        xs,
        ys,
        Task("multi-label", tuple(abn)),
        epochs=args.pretrain_epochs,
        lr=args.lr,
        batch=64,
        seed=args.seed,
    )
    results = {}
    for name in ("scratch", f"transfer_{args.mode}"):
        model = net3d()
        if name != "scratch":
            transfer_2d_to_3d(net2, model, mode=args.mode)
        secs = _loop(
            model,
            x["train"],
            y_train,
            task,
            epochs=args.epochs,
            lr=args.lr,
            batch=8,
            seed=args.seed,
        )
        s = _scores(model, x["test"])
        rep = _aucs(ds.labels["test"][:, :12], s[:, :12], abn)
        tru = _aucs(truth, s[:, :12], abn)
        results[name] = {
            "mean_test_auroc": float(np.nanmean(list(rep.values()))),
            "mean_test_auroc_vs_truth": float(np.nanmean(list(tru.values()))),
            "train_s": round(secs, 1),
            "per_abnormality": {k: round(v, 4) for k, v in rep.items()},
        }
    out = {
        "benchmark": "ct_transfer",
        "cohort_studies": len(ct.table),
        "train_studies": ds.size("train"),
        "test_studies": ds.size("test"),
        "epochs": args.epochs,
        "pretrain_epochs": args.pretrain_epochs,
        "mode": args.mode,
        "pretrain_slices": len(xs),
        "pretrain_s": round(pre_s, 1),
        "threads": args.threads,
        "model": "3D ResNet-18 (MONAI, widen 0.25, 7x7/2 stem + max-pool), 2 HU windows",
        **results,
        "transfer_minus_scratch": round(
            results[f"transfer_{args.mode}"]["mean_test_auroc"]
            - results["scratch"]["mean_test_auroc"],
            4,
        ),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
