"""Do the small focal channels learn? Voxel AUROC of a short segmentation training per loss.

Usage: .venv/bin/python benchmarks/seg_loss_probe.py --cohort C [--steps 600,1800] [--threads 2]

Trains the benchmark's network (MONAI UNet, 5 x 3.5 x 3.5 mm, patch 16x48x48, batch 8, AdamW
3e-3 one-cycle, bf16 with `guard_bf16_convs`) on the train split of cohort C for the small focal
findings (nodule, lymphadenopathy, arterial_wall_calcification) with each `--seg-loss`, for each
step count in `--steps`, and scores every val study: per finding, the voxel AUROC of the
predicted probability (lesion voxels against 200,000 background voxels drawn with a fixed seed),
the Dice at 0.5 and the largest probability on a lesion voxel. Beside them, the voxel AUROC of
each HU window's intensity alone (a floor any network should pass). Prints JSON and adds it to
benchmarks/results/segmentation.json under "seg_loss_probe". One training seed; a probe of
whether a channel learns at all, not a segmentation result.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from radlens.data import DEMO_WINDOWS
from radlens.models.segmentation import segmentation_network
from radlens.training.precision import guard_bf16_convs
from radlens.training.seg_data import load_seg_cases, patch_loader, read_seg_table
from radlens.training.seg_loss import SEG_LOSSES, seg_loss
from radlens.training.segmentation import predict_volume

FINDINGS = ("nodule", "lymphadenopathy", "arterial_wall_calcification")
SPACING, PATCH = (5.0, 3.5, 3.5), (16, 48, 48)
RESULTS = Path(__file__).parent / "results" / "segmentation.json"
N_BACKGROUND = 200_000


def _sample(y: np.ndarray) -> np.ndarray:
    """Indices: every lesion voxel and `N_BACKGROUND` others (fixed seed)."""
    rng = np.random.default_rng(0)
    background = rng.choice(len(y), min(N_BACKGROUND, len(y)), replace=False)
    return np.unique(np.r_[np.flatnonzero(y), background])


def _train(cases, loss: str, steps: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = segmentation_network("unet", spatial_dims=3, in_channels=len(DEMO_WINDOWS),
                               out_channels=len(FINDINGS))  # fmt: skip
    guard_bf16_convs(net, torch.zeros((1, len(DEMO_WINDOWS), *PATCH)))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    loader, loss_fn, step = patch_loader(cases, PATCH, batch_size=8, seed=seed), seg_loss(loss), 0
    net.train()
    while step < steps:
        for batch in loader:
            x, y = batch["image"].as_tensor().float(), batch["label"].as_tensor().float()
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = net(x)
            loss_fn(logits.float(), y).backward()
            opt.step()
            sched.step()
            step += 1
            if step >= steps:
                break
    return net.eval()


def _score(net, val) -> dict:
    prob = np.concatenate(
        [predict_volume(net, c.image, PATCH).reshape(len(FINDINGS), -1) for c in val], axis=1
    )
    truth = np.concatenate([c.label.reshape(len(FINDINGS), -1) for c in val], axis=1) > 0
    out = {}
    for i, f in enumerate(FINDINGS):
        y, p = truth[i], prob[i]
        if not y.any():
            continue
        idx, cut = _sample(y), p >= 0.5
        out[f] = {
            "voxel_auroc": round(float(roc_auc_score(y[idx], p[idx])), 3),
            "dice_at_0.5": round(float(2 * (cut & y).sum() / (cut.sum() + y.sum())), 3),
            "max_probability_on_lesion": round(float(p[y].max()), 3),
        }
    return out


def _intensity(val) -> dict:
    image = np.concatenate([c.image.reshape(c.image.shape[0], -1) for c in val], axis=1)
    truth = np.concatenate([c.label.reshape(len(FINDINGS), -1) for c in val], axis=1) > 0
    out = {}
    for i, f in enumerate(FINDINGS):
        if truth[i].any():
            idx = _sample(truth[i])
            out[f] = [round(float(roc_auc_score(truth[i][idx], ch[idx])), 3) for ch in image]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", required=True)
    parser.add_argument("--steps", default="600,1800")
    parser.add_argument("--losses", default=",".join(SEG_LOSSES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seg = read_seg_table(args.cohort, FINDINGS, seed=args.seed)
    cases = load_seg_cases(seg, SPACING, splits=("train", "val"))
    train = [c for c in cases if c.split == "train"]
    val = [c for c in cases if c.split == "val"]
    runs = []
    for steps in (int(s) for s in args.steps.split(",")):
        for loss in args.losses.split(","):
            t0 = time.perf_counter()
            net = _train(train, loss, steps, args.seed)
            train_s = round(time.perf_counter() - t0, 1)
            scores = _score(net, val)
            runs.append({"seg_loss": loss, "steps": steps, "train_s": train_s, "val": scores})
            print(json.dumps(runs[-1]), flush=True)
    entry = {
        "command": f"benchmarks/seg_loss_probe.py --cohort {args.cohort} --steps {args.steps} "
        f"--losses {args.losses} --threads {args.threads} --seed {args.seed}",
        "measured_on": f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads; "
        f"{len(train)} train / {len(val)} val studies",
        "window_intensity_voxel_auroc": {
            "windows_hu": [list(w) for w in DEMO_WINDOWS],
            **_intensity(val),
        },
        "runs": runs,
    }
    path = Path(args.json)
    old = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps(old | {"seg_loss_probe": entry}, indent=2, default=float) + "\n")
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
