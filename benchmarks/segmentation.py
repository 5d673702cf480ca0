"""Segmentation recipe figure: train on a phantom cohort on the CPU, score the test split.

Usage: .venv/bin/python benchmarks/segmentation.py --cohort DIR --out RUN [--train]
       [--epochs 16] [--patch 16,48,48] [--threads 1] [--seed 0] [--key NAME]
       [--train-cpu-seconds S --train-command CMD] [--classifier RUN --classifier-cohort DIR]
       [--sampling | --probe SPLIT]

`--train` runs `radlens train --task segmentation` with the recipe below into `--out` (else an
existing run is scored; give its training CPU seconds and command); then
`evaluate_segmentation_run` on the test split (per-finding Dice, lesion sensitivity, FROC with
patient-bootstrap CIs), the Dice over lesion-present test studies, and `focal_scores` (study-level
AUROC of each focal finding from its candidates, patient-bootstrap CI). With `--classifier`, the
segmentation run also scores that classification run's val + test studies (on
`--classifier-cohort`) and the AUROC of the candidates, the classifier's ``prob:`` and a logistic
stack (fitted on val) are compared on its test rows. Each run is one entry under ``runs[--key]``
of benchmarks/results/segmentation.json (or `--json`); entries of one cohort seed and epoch count
are summarised over training seeds (median, min, max).

`--external DIR` scores the existing run `--out` on every study of the cohort DIR (any split: a
cohort the run never saw, e.g. another seed) into a copy of the run (`--out`_on_DIR), and
writes the Dice over lesion-present studies, Dice / lesion sensitivity with CIs, FROC and the
study-level AUROC of each focal finding from its candidates (patient-bootstrap CI) under
``external[--key]``: a test set far larger than a small cohort's test split, no training.

Diagnostics (written beside the runs, nothing trained or scored): `--sampling` counts how often one
epoch of training patches holds each finding and how many lesions survive on the run's grid;
`--probe SPLIT` lists, per nodule / lymph node / mass of SPLIT, the run's highest probability
inside it by lesion size on the grid.

Nodules >= 6 mm: the Dice over test studies whose nodule truth on the run's grid holds >= 6 mm
equivalent diameter (volume >= pi/6 * 6^3 mm^3), as the issue asks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from radlens.core import read_predictions
from radlens.evaluation import (
    FocalCollector,
    evaluate_segmentation_run,
    focal_auroc,
    focal_scores,
    lobe_names,
    patient_bootstrap,
    stack_scores,
)
from radlens.evaluation.focal import MASK_THRESHOLD
from radlens.training import load_segmentation_run, make_config, predict_volume, train_segmentation
from radlens.training.seg_data import (
    SAMPLES_PER_VOLUME,
    load_case,
    load_seg_cases,
    patch_loader,
    read_seg_table,
)

RESULTS = Path(__file__).resolve().parent / "results" / "segmentation.json"
FINDINGS = "nodule,mass,consolidation,pleural_effusion,lymphadenopathy,arterial_wall_calcification"
RECIPE = {
    "model": "unet",
    "spacing": "5,3.5,3.5",
    "batch_size": 8,
    "lr": 3e-3,
}
SIX_MM_VOLUME = np.pi / 6 * 6**3
NOTE = (
    "One entry per run under runs. test_dice_lesion_present: Dice over the test studies whose "
    "truth holds the finding (the figure the issue's targets mean). The dice rows of "
    "dice_and_lesion_sensitivity_with_95ci follow evaluate_segmentation_run's empty-mask rule "
    "(empty truth and empty prediction = 1), so a finding absent from most test studies reads "
    "high there. focal AUROC CIs: patient bootstrap, 95% percentile. The training seed also "
    "draws the patient split (read_seg_table assigns splits with the run's seed when the cohort "
    "has none), so spread_over_training_seeds is over seed and split together."
)


def _train(args) -> tuple[dict, float]:
    config = make_config(
        {
            "task": "segmentation",
            "cohort": args.cohort,
            "findings": FINDINGS,
            **RECIPE,
            "precision": args.precision,
            "seg_loss": args.seg_loss,
            "patch": args.patch,
            "epochs": args.epochs,
            "threads": args.threads,
            "seed": args.seed,
            "out": args.out,
        }
    )
    t0 = time.perf_counter()
    metrics = train_segmentation(config).metrics
    return metrics, time.perf_counter() - t0


def _dice_table(ev: dict, spacing) -> dict:
    voxel = float(np.prod(spacing))
    out = {}
    for r in ev["summary"]:
        if r["metric"] in ("dice", "lesion_sensitivity"):
            out.setdefault(r["finding"], {})[r["metric"]] = [r["estimate"], r["low"], r["high"]]
    cases = pd.DataFrame(ev["per_case"])
    big = cases[(cases["finding"] == "nodule") & (cases["n_true_voxels"] * voxel >= SIX_MM_VOLUME)]
    out.setdefault("nodule", {})["dice_studies_ge_6mm"] = {
        "median": float(big["dice"].median()) if len(big) else None,
        "mean": float(big["dice"].mean()) if len(big) else None,
        "n_studies": len(big),
    }
    return out


def _classifier_comparison(args) -> dict:
    preds = read_predictions(Path(args.classifier))
    preds = preds[preds["split"].isin(["val", "test"])]
    t0 = time.perf_counter()
    res = focal_scores(
        args.out, cohort=args.classifier_cohort, studies=list(preds["id"]), window=args.window
    )
    scores = res.scores.drop(columns=["split"]).merge(
        preds.rename(columns={"id": "study_id"})[
            ["study_id", "split"] + [c for c in preds if c.startswith("prob:")]
        ],
        on="study_id",
    )
    scores = stack_scores(scores, ["seg:{f}", "diameter_mm:{f}", "prob:{f}"])
    test = scores[scores["split"] == "test"]
    table = focal_auroc(
        test,
        {
            "segmentation": "seg:{f}",
            "diameter": "diameter_mm:{f}",
            "classifier": "prob:{f}",
            "stack": "stack:{f}",
        },
    )
    return {
        "cohort": args.classifier_cohort,
        "classifier_run": args.classifier,
        "n_test": len(test),
        "seconds": round(time.perf_counter() - t0, 1),
        "test_auroc": table.to_dict("records"),
    }


def _sampling(args) -> dict:
    """How often one epoch of training patches holds each finding, and how many nodules survive
    on the run's grid (component voxel counts), over the train split of `--cohort`."""
    spacing = tuple(float(v) for v in RECIPE["spacing"].split(","))
    patch = tuple(int(v) for v in args.patch.split(","))
    seg = read_seg_table(args.cohort, FINDINGS.split(","), seed=args.seed)
    cases = load_seg_cases(seg, spacing, splits=["train"])
    findings = list(seg.findings)
    out: dict = {"cohort": args.cohort, "spacing_mm": spacing, "patch": patch, "findings": {}}
    for i, f in enumerate(findings):
        sizes = [
            int(n)
            for c in cases
            for n in np.bincount(ndimage.label(c.label[i] > 0)[0].ravel())[1:]
            if c.label[i].any()
        ]
        out["findings"][f] = {
            "train_studies_with_truth": int(
                (seg.table.loc[seg.table["split"] == "train", f"true:{f}"] > 0).sum()
            ),
            "train_studies_with_mask_on_grid": sum(bool(c.label[i].any()) for c in cases),
            "components_on_grid": len(sizes),
            "component_voxels_p10_p50_p90": [float(q) for q in np.percentile(sizes, [10, 50, 90])]
            if sizes
            else None,
        }
    loader = patch_loader(cases, patch, batch_size=RECIPE["batch_size"], seed=args.seed)
    hits, n = np.zeros(len(findings)), 0
    for batch in loader:
        label = batch["label"].as_tensor().numpy() > 0
        hits += label.reshape(len(label), len(findings), -1).any(axis=2).sum(axis=0)
        n += len(label)
    for i, f in enumerate(findings):
        out["findings"][f]["fraction_of_epoch_patches_holding_it"] = float(hits[i] / n)
    out["patches_per_epoch"] = n
    return out


def _probe(args, split: str) -> dict:
    """Per focal lesion of `split` studies: its voxels on the run's grid and the run's highest
    probability inside it, beside the study's highest probability outside every lesion."""
    run = load_segmentation_run(args.out)
    cfg = run.config
    seg = read_seg_table(cfg.cohort, run.findings, seed=cfg.seed)
    rows, window = [], tuple(int(v) for v in args.window.split(","))
    for _, row in seg.table[seg.table["split"] == split].iterrows():
        case = load_case(row, seg, cfg.spacing, run.windows)
        prob = predict_volume(run.model, case.image, window)
        for f in ("nodule", "lymphadenopathy", "mass"):
            i = run.findings.index(f)
            lab, n = ndimage.label(case.label[i] > 0)
            for k in range(1, n + 1):
                rows.append(
                    {
                        "finding": f,
                        "study_id": case.study_id,
                        "voxels": int((lab == k).sum()),
                        "max_p_inside": float(prob[i][lab == k].max()),
                        "max_p_outside": float(prob[i][lab == 0].max()),
                    }
                )
    table = pd.DataFrame(rows)
    table["band"] = pd.cut(table["voxels"], [0, 10, 40, 150, np.inf], right=False)
    table["found"] = table["max_p_inside"] >= MASK_THRESHOLD
    summary = table.groupby(["finding", "band"], observed=True).agg(
        n=("found", "size"), found_at_0_5=("found", "mean"), median_max_p=("max_p_inside", "median")
    )
    return {
        "run": args.out,
        "split": split,
        "voxel_mm3": float(np.prod(cfg.spacing)),
        "by_finding_and_voxel_band": [
            {"finding": f, "voxels": str(b), **v} for (f, b), v in summary.to_dict("index").items()
        ],
        "median_max_p_outside_lesions": float(table["max_p_outside"].median()),
    }


def _dice_present(ev: dict) -> dict:
    """Per finding: Dice over the test studies whose truth holds the finding (lesion present)."""
    cases = pd.DataFrame(ev["per_case"])
    present = cases[cases["n_true_voxels"] > 0]
    out = {}
    for f, rows in present.groupby("finding"):
        d = rows["dice"].astype(float)
        out[str(f)] = {
            "median": float(d.median()),
            "mean": float(d.mean()),
            "q25_q75": [float(d.quantile(0.25)), float(d.quantile(0.75))],
            "n_studies": len(d),
        }
    return out


def _auroc_ci(scores: pd.DataFrame, columns: dict, n_bootstrap: int) -> list[dict]:
    """`focal_auroc` rows with a patient-bootstrap 95% CI per score column."""
    table = focal_auroc(scores, columns)
    pids = scores["patient_id"].astype(str).to_numpy()
    for row in table.to_dict("records"):
        y = scores[f"true:{row['finding']}"].to_numpy()
        for name, pattern in columns.items():
            s = scores[pattern.format(f=row["finding"])].to_numpy(dtype=float)
            if np.isnan(row[name]):
                continue

            def auc(yy, ss):
                return roc_auc_score(yy, ss) if 0 < yy.sum() < len(yy) else np.nan

            ci = patient_bootstrap(auc, y, s, patient_ids=pids, n_bootstrap=n_bootstrap)
            row[f"{name}_ci"] = [float(ci.low), float(ci.high)]
        yield row


def _iterations(metrics: dict, batch_size: int) -> int:
    n_train = metrics["splits"]["train"]["n_studies"]
    per_batch = max(1, batch_size // SAMPLES_PER_VOLUME)
    return len(metrics["history"]) * -(-n_train // per_batch)


def _entry(args, metrics: dict, seconds: dict, ev: dict, focal, auroc: list) -> dict:
    cohort = json.loads((Path(args.cohort) / "cohort.json").read_text())
    return {
        "command": "benchmarks/segmentation.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v not in (None, False) and k not in ("json", "train_command")
        ),
        "train_command": args.train_command,
        "measured_on": f"{platform.machine()}, {os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end, torch {torch.__version__}, {args.threads} thread(s)",
        "cohort": {
            "path": args.cohort,
            "seed": cohort.get("seed"),
            "n_patients": cohort.get("n_patients"),
            "splits": metrics["splits"],
            "lesion_sizes": cohort.get("lesion_sizes"),
        },
        "recipe": {
            **RECIPE,
            "precision": args.precision,
            "seg_loss": metrics.get("seg_loss", "pos-weight"),  # runs before it was an option
            "mask_thresholds": metrics.get("mask_thresholds"),
            "findings": FINDINGS,
            "patch": args.patch,
            "epochs": len(metrics["history"]),
            "training_seed": args.seed,
            "iterations": _iterations(metrics, RECIPE["batch_size"]),
            "best_epoch": metrics["best_epoch"],
        },
        "seconds": seconds,
        "loss_by_epoch": [round(h["loss"], 4) for h in metrics["history"]],
        "val_dice_by_epoch": {
            h["epoch"]: {k: _finite(v) for k, v in h["val_dice"].items()}
            for h in metrics["history"]
            if h["val_dice"]
        },
        "test": {"n_studies": ev["n_studies"], "n_patients": ev["n_patients"]},
        "test_dice_lesion_present": _dice_present(ev),
        "dice_and_lesion_sensitivity_with_95ci": _dice_table(ev, ev["spacing_mm"]),
        "froc": _froc(ev, ("score", "score_ci", "n_lesions", "note")),
        "focal_test_auroc_same_cohort": auroc,
        "focal_candidates_example": focal.candidates.head(4).to_dict("records"),
    }


def _froc(ev: dict, keys: tuple[str, ...]) -> dict:
    """`keys` of each finding's FROC entry of an evaluation."""
    return {f: {k: e.get(k) for k in keys} for f, e in ev["froc"].items()}


def _external(args, window) -> dict:
    """The run `--out` scored on every study of the cohort `--external` (module docstring)."""
    src = Path(args.out)
    dst = src.parent / f"{src.name}_on_{Path(args.external).name}"
    shutil.copytree(src, dst, dirs_exist_ok=True)
    run = load_segmentation_run(dst)
    seg = read_seg_table(args.external, run.findings, seed=0)
    cases = load_seg_cases(seg, run.config.spacing, run.windows)
    cases = [dataclasses.replace(c, split="test") for c in cases]  # every study is unseen
    # the study scores from the evaluation's own prediction (no second pass)
    focal = FocalCollector(run.findings, seg, run.config.spacing, lobe_names(Path(args.external)))
    t0 = time.perf_counter()
    ev = evaluate_segmentation_run(
        dst, n_bootstrap=args.bootstrap, cases=cases, window=window, on_prediction=focal
    )
    columns = {"segmentation": "seg:{f}", "diameter": "diameter_mm:{f}"}
    auroc = list(_auroc_ci(focal.result().scores, columns, args.bootstrap))
    cohort = json.loads((Path(args.external) / "cohort.json").read_text())
    return {
        "command": f"benchmarks/segmentation.py --out {args.out} --external {args.external} "
        f"--window {args.window} --bootstrap {args.bootstrap} --key {args.key}",
        "run": str(src),
        "cohort": {
            "path": args.external,
            "seed": cohort.get("seed"),
            "n_patients": cohort.get("n_patients"),
            "lesion_sizes": cohort.get("lesion_sizes"),
        },
        "studies": {"n_studies": ev["n_studies"], "n_patients": ev["n_patients"]},
        "seconds": round(time.perf_counter() - t0, 1),
        "dice_lesion_present": _dice_present(ev),
        "dice_and_lesion_sensitivity_with_95ci": _dice_table(ev, ev["spacing_mm"]),
        "mask_thresholds": ev.get("mask_thresholds"),
        "froc": _froc(ev, ("score", "score_ci", "n_lesions")),
        "focal_auroc_from_candidates": auroc,
    }


def _finite(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _merge(path: Path, key: str, entry: dict) -> dict:
    """Add `entry` under runs[key] of the results file (an old single-run file moves to
    runs["c2027_16ep_seed0"]) and recompute the seed spread per (cohort seed, epochs)."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    if old and "runs" not in old:
        old = {"runs": {"c2027_16ep_seed0": {k: v for k, v in old.items() if k != "note"}}}
    runs = {**old.get("runs", {}), key: entry}
    groups: dict = {}
    for k, r in runs.items():
        groups.setdefault(f"cohort{r['cohort']['seed']}_{r['recipe']['epochs']}ep", []).append(k)
    spread = {g: _spread([runs[k] for k in keys]) | {"runs": keys} for g, keys in groups.items()}
    return old | {"note": NOTE, "runs": runs, "spread_over_training_seeds": spread}


def _spread(runs: list[dict]) -> dict:
    """Median, min and max over runs of the headline figures."""
    figures: dict = {}
    for r in runs:
        for f, d in r.get("test_dice_lesion_present", {}).items():
            figures.setdefault(f"dice_present_median:{f}", []).append(d["median"])
        for f, e in r["froc"].items():
            figures.setdefault(f"froc:{f}", []).append(e["score"])
        for row in r["focal_test_auroc_same_cohort"]:
            for name in ("segmentation", "diameter"):
                figures.setdefault(f"auroc_{name}:{row['finding']}", []).append(row.get(name))
    out = {}
    for k, vals in figures.items():
        v = [x for x in vals if x is not None and not np.isnan(x)]
        if v:
            out[k] = {"median": float(np.median(v)), "min": min(v), "max": max(v), "n": len(v)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="the cohort to train on / score (not with --external)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--patch", default="16,48,48")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--precision", default="auto", help="auto (bf16 where native; earlier runs: 32-true)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seg-loss", default="pos-weight", help="pos-weight or balanced")
    parser.add_argument("--window", default="64,96,96", help="focal scoring sliding window")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--classifier")
    parser.add_argument("--classifier-cohort")
    parser.add_argument(
        "--key", help="entry name in the results file (default c<seed>_<E>ep_seed<S>)"
    )
    parser.add_argument("--train-cpu-seconds", type=float, help="CPU s of an external training")
    parser.add_argument("--train-command", help="the radlens train command of an existing run")
    parser.add_argument("--sampling", action="store_true", help="only the patch-sampling check")
    parser.add_argument("--probe", help="only the per-lesion probe of --out on this split")
    parser.add_argument("--external", help="score --out on every study of this cohort")
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    if not args.cohort and not args.external:
        parser.error("--cohort is required (or --external with an existing --out)")
    torch.set_num_threads(args.threads)
    if args.sampling or args.probe:
        path = Path(args.json)
        old = json.loads(path.read_text()) if path.is_file() else {}
        if args.sampling:
            new = {"patch_sampling": _sampling(args)}
        else:
            key = args.key or Path(args.out).name
            new = {"lesion_probe": old.get("lesion_probe", {}) | {key: _probe(args, args.probe)}}
        path.write_text(json.dumps(old | new, indent=2, default=float) + "\n")
        print(json.dumps(new, indent=2, default=float))
        return
    window = tuple(int(v) for v in args.window.split(","))
    if args.external:
        path = Path(args.json)
        old = json.loads(path.read_text()) if path.is_file() else {}
        entry = _external(args, window)
        key = args.key or f"{Path(args.out).name}_on_{Path(args.external).name}"
        old["external"] = old.get("external", {}) | {key: entry}
        path.write_text(json.dumps(old, indent=2, default=float) + "\n")
        print(json.dumps({key: entry}, indent=2, default=float))
        return
    if args.train:
        cpu0 = time.process_time()
        metrics, train_s = _train(args)
        train_cpu = time.process_time() - cpu0
    else:
        metrics = json.loads((Path(args.out) / "metrics.json").read_text())
        train_s, train_cpu = metrics["seconds"], args.train_cpu_seconds
    t0 = time.perf_counter()
    ev = evaluate_segmentation_run(args.out, n_bootstrap=args.bootstrap)
    eval_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    focal = focal_scores(args.out, window=window)
    focal_s = time.perf_counter() - t0
    columns = {"segmentation": "seg:{f}", "diameter": "diameter_mm:{f}"}
    auroc = list(_auroc_ci(focal.scores, columns, args.bootstrap))
    seconds = {
        "train_wall": round(train_s, 1),
        "train_cpu": None if train_cpu is None else round(train_cpu, 1),
        "evaluate_wall": round(eval_s, 1),
        "focal_scores_wall": round(focal_s, 1),
    }
    entry = _entry(args, metrics, seconds, ev, focal, auroc)
    if args.classifier:
        entry["focal_vs_classifier"] = _classifier_comparison(args)
    cohort_seed = entry["cohort"]["seed"]
    key = args.key or f"c{cohort_seed}_{entry['recipe']['epochs']}ep_seed{args.seed}"
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _merge(path, key, entry)
    path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(
        json.dumps(
            {key: entry, "spread": out["spread_over_training_seeds"]}, indent=2, default=float
        )
    )


if __name__ == "__main__":
    main()
