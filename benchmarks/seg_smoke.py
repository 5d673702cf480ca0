"""Segmentation smoke figure: a short CPU run on a small phantom cohort, then `evaluate`.

Usage: .venv/bin/python benchmarks/seg_smoke.py [--patients 24] [--shape 48,96,96]
       [--spacing 5,3.5,3.5] [--patch 32,64,64] [--model unet_lite] [--epochs 8] [--seed 11]

Synthesises `--patients` phantom patients (NIfTI, grid `--shape` over the phantom's 320 x 336 x
336 mm field of view), trains `radlens train --task segmentation` (class-balanced patches,
batch Dice + weighted BCE, model selected on val mean Dice) at `--spacing` for `--epochs` on the
CPU, and evaluates the test split (patient splits by `assign_splits(seed 0)`): per-finding Dice,
HD95, surface Dice and lesion-wise figures with patient-bootstrap CIs, and the FROC score for the
focal findings. This is a SMOKE figure (minutes of CPU on a few dozen studies), not the issue's
targets: it shows that the pipeline learns, nothing about how well a full run does. Prints JSON and
writes benchmarks/results/seg_smoke.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from radlens.evaluation import evaluate_segmentation_run
from radlens.phantom import synthesize_cohort
from radlens.training import make_config, train_segmentation

RESULTS = Path(__file__).resolve().parent / "results" / "seg_smoke.json"
FINDINGS = "nodule,mass,consolidation,pleural_effusion,lymphadenopathy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=24)
    parser.add_argument("--shape", default="48,96,96")
    parser.add_argument("--spacing", default="5,3.5,3.5")
    parser.add_argument("--patch", default="32,64,64")
    parser.add_argument("--model", default="unet_lite")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11, help="cohort seed")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    shape = tuple(int(v) for v in args.shape.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        synthesize_cohort(Path(tmp) / "cohort", n_patients=args.patients, seed=args.seed,
                          shape=shape, formats=("nifti",), progress=False)  # fmt: skip
        synth_s = time.perf_counter() - t0
        config = make_config(
            {
                "task": "segmentation",
                "cohort": str(Path(tmp) / "cohort"),
                "findings": FINDINGS,
                "model": args.model,
                "spacing": args.spacing,
                "patch": args.patch,
                "epochs": args.epochs,
                "batch_size": 8,
                "lr": 3e-3,
                "device": "cpu",
                "out": str(Path(tmp) / "run"),
            }
        )
        t0 = time.perf_counter()
        trained = train_segmentation(config)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = evaluate_segmentation_run(Path(tmp) / "run", n_bootstrap=args.bootstrap)
        eval_s = time.perf_counter() - t0
    dice = {r["finding"]: r for r in ev["summary"] if r["metric"] == "dice"}
    sens = {r["finding"]: r for r in ev["summary"] if r["metric"] == "lesion_sensitivity"}
    per_finding = {
        f: {
            "dice": [dice[f]["estimate"], dice[f]["low"], dice[f]["high"]],
            "lesion_sensitivity": [sens[f]["estimate"], sens[f]["low"], sens[f]["high"]],
            "n_test_with_lesion": sum(
                1 for c in ev["per_case"] if c["finding"] == f and c["n_true_voxels"] > 0
            ),
        }
        for f in dice
    }
    out = {
        "label": "SMOKE figure: short CPU run, small phantom cohort; not the issue's targets",
        "command": "benchmarks/seg_smoke.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "measured_on": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU "
        f"cores (shared with other jobs), torch {torch.__version__}, {torch.get_num_threads()} "
        "threads",
        "cohort": {
            "patients": args.patients,
            "seed": args.seed,
            "shape": list(shape),
            "splits": trained.metrics["splits"],
        },
        "run": {k: trained.metrics[k] for k in ("model", "spacing_mm", "patch", "best_epoch")},
        "epochs": args.epochs,
        "seconds": {
            "synthesise": round(synth_s, 1),
            "train": round(train_s, 1),
            "evaluate": round(eval_s, 1),
        },
        "test": {"n_studies": ev["n_studies"], "n_patients": ev["n_patients"]},
        "dice_and_lesion_sensitivity_with_95ci": per_finding,
        "froc": {f: e.get("score", e.get("note")) for f, e in ev["froc"].items()},
        "val_dice_history": [h["val_dice"] for h in trained.metrics["history"]],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
