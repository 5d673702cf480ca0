"""Label efficiency: 1%, 10% and 100% of the training labels, from scratch, from SSL, from
global image-text and from image-text + local pretraining, on a phantom radiograph cohort
(issue 16 item 5).

Usage:
  .venv/bin/python benchmarks/label_efficiency.py --out DIR --json FILE
      [--seeds 3 --fractions 0.01 0.1 1.0 --cohort-seed 5101 --studies 200 --size 96
       --epochs 8 --pretrain-epochs 8 --threads 2 --cohort DIR]

Steps:
1. synthesize a radiograph cohort (`radlens.phantom.synthesize_cohort(radiographs=True)`, what
   `radlens cohort synth --radiographs` writes) with --cohort-seed; the first --studies studies,
   a patient-level split (`radlens.data.assign_splits`, 70/10/20), the labeler's labels of the
   CXR reports (uncertain = unknown) for every CXR finding with >= --min-positives positives in
   train and test, and the radiograph truth (``cxr_true:``) for evaluation (cohort/labels.csv,
   cohort/pairs.csv); --cohort reuses a folder this script wrote;
2. per seed, pretraining on the training split's images (+ reports) only (no val/test data):
   SSL (`radlens.pretrain.pretrain_ssl`, NT-Xent), image-text global only (``local=False``, what
   ``radlens pretrain image-text --no-local`` trains) and image-text + local; the same backbone
   (`radlens train`'s --model, resnet18 or resnet_mini, ImageNet-style 7x7/2 stem unless
   --small-input) so `--init` loads it;
   each image-text checkpoint also scores the test split zero-shot (`radlens zeroshot`, its
   default similarity; rows of fraction 0, the "no labels" column; `--add-zero-shot` adds them
   to a result written without them);
3. per seed x fraction x start: `radlens.training.train` with ``label_fraction`` (the
   patient-level subset of `radlens.training.label_fraction`, seeded by the run's seed, every
   finding keeps a positive; val and test whole), ``init`` = the pretraining checkpoint or none,
   the same schedule for every start (batch size min(--batch-size, images / 4), >= 2);
   with --probe, also a linear probe of each pretrained start at each fraction < 1 (``init`` +
   ``freeze_encoder``: only the final layer learns, at --probe-lr; `--add-probes` adds them to
   a result written without them);
4. every run's test predictions scored against the radiograph truth with
   `radlens.evaluation.evaluate_predictions` (radlens evaluate's figures: per-finding AUROC with
   DeLong CIs, macro AUROC, micro AUROC with its DeLong CI);
5. the table: mean macro AUROC +- sd over seeds per start x fraction, and whether a pretrained
   start beats scratch at each fraction < 1 by a margin outside the seeds' spread
   (mean - sd of the pretrained start > mean + sd of scratch), with the paired per-seed gain.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radlens.core import PREDICTIONS, read_predictions
from radlens.data import TRUTH_PREFIX, assign_splits
from radlens.evaluation import evaluate_predictions
from radlens.phantom import CXR_OBSERVATIONS, CXR_TRUTH_PREFIX, synthesize_cohort
from radlens.pretrain import (
    ImageTextConfig,
    PairData,
    PretrainOptions,
    SSLConfig,
    pretrain_image_text,
    pretrain_ssl,
    zero_shot,
)
from radlens.reports import label_many
from radlens.reports.tables import label_matrix
from radlens.training import make_config, select_label_subset, train

START_NAMES = ("scratch", "ssl", "image_text_global", "image_text_local")
PRETRAINED = START_NAMES[1:]
#: linear probes of each pretrained start (`radlens train --init X --freeze-encoder`), --probe
PROBES = tuple(f"{s}_probe" for s in PRETRAINED)
ROW_ORDER = START_NAMES + PROBES
STUDIES_PER_PATIENT = 1.4  # below the phantom's mean (1.52): enough studies
TRUTH = TRUTH_PREFIX  # truth columns of pairs.csv ("true:", from the cxr_true: columns)
log = logging.getLogger("label_efficiency")


# ---- cohort ------------------------------------------------------------------------------------
def build_cohort(root: Path, seed: int, studies: int, min_pos: int, workers: int) -> tuple:
    """Synthesize (or reuse) the cohort; write cohort/pairs.csv and cohort/labels.csv."""
    cohort = root / "cohort"
    if (cohort / "pairs.csv").is_file():
        pairs = pd.read_csv(cohort / "pairs.csv")
        return cohort, pairs, [c[len(TRUTH) :] for c in pairs.columns if c.startswith(TRUTH)]
    n_pat = math.ceil(studies / STUDIES_PER_PATIENT) + 2
    table = synthesize_cohort(cohort, n_patients=n_pat, seed=seed, formats=("npz",),
                              progress=False, radiographs=True, workers=workers)  # fmt: skip
    table = table.iloc[:studies].reset_index(drop=True)
    split_of = assign_splits(table["patient_id"].astype(str), seed=seed)
    pairs = pd.DataFrame({
        "patient_id": table["patient_id"].astype(str), "study_id": table["study_id"].astype(str),
        "site": table["site"].astype(str), "image": table["radiograph_path"],
        "report": table["cxr_report_text"],
        "split": [split_of[str(p)] for p in table["patient_id"]],
    })  # fmt: skip
    findings = []
    for obs in CXR_OBSERVATIONS:
        truth = table[CXR_TRUTH_PREFIX + obs].to_numpy(float)
        n = [int(truth[pairs["split"] == s].sum()) for s in ("train", "test")]
        if obs != "no_finding" and min(n) >= min_pos:
            findings.append(obs)
            pairs[TRUTH + obs] = truth
    write_tables(cohort, pairs, findings)
    return cohort, pairs, findings


def write_tables(cohort: Path, pairs: pd.DataFrame, findings: list[str]) -> None:
    """pairs.csv (images, reports, splits, truth) and labels.csv (the labeler's labels)."""
    labels = label_matrix(label_many(list(pairs["report"]), "chest_xr"), findings, "keep")
    table = pd.DataFrame(labels, columns=findings)
    for i, col in enumerate(("image", "patient_id", "site", "split")):
        table.insert(i, col, pairs[col])
    table.to_csv(cohort / "labels.csv", index=False)
    pairs.to_csv(cohort / "pairs.csv", index=False)


def truth_table(pairs: pd.DataFrame, findings: list[str], ids) -> pd.DataFrame:
    """`evaluate_predictions`' labels table (id + target:<finding>) for the predicted ids."""
    frame = pairs.set_index("image").loc[list(ids)]
    out = pd.DataFrame({"id": list(ids)})
    for f in findings:
        out[f"target:{f}"] = frame[TRUTH + f].to_numpy(float)
    return out


# ---- pretraining and fine-tuning ---------------------------------------------------------------
def pretrain(start: str, pairs_csv: Path, out: Path, seed: int, args) -> dict:
    """One pretraining run on `pairs_csv` (training rows only); its checkpoint and wall time."""
    opts = PretrainOptions(epochs=args.pretrain_epochs, batch_size=args.pretrain_batch_size,
                           lr=args.pretrain_lr, seed=seed, device=args.device,
                           threads=args.threads)  # fmt: skip
    t0 = time.perf_counter()
    if start == "ssl":
        data = PairData(image_column="image", report_column=None, size=args.size, seed=seed)
        model = SSLConfig(model=args.model, small_input=args.small_input)
        result = pretrain_ssl(pairs_csv, out, data=data, model=model, options=opts)
    else:
        data = PairData(image_column="image", report_column="report", size=args.size, seed=seed)
        model = ImageTextConfig(model=args.model, small_input=args.small_input, text_width=128,
                                text_layers=2, embed_dim=128, top_k=args.top_k,
                                local=start == "image_text_local",
                                # the recipe of the recorded results (before positives by
                                # meaning, SigLIP pairs and the sentence-level local loss)
                                semantic_positives=False, local_sentences=False,
                                global_loss="infonce", temperature=0.07)  # fmt: skip
        result = pretrain_image_text(pairs_csv, out, data=data, model=model, options=opts,
                                     vocab_size=1000)  # fmt: skip
    final = {k: round(v, 4) for k, v in result.history[-1].items() if isinstance(v, float)}
    return {"checkpoint": str(out), "pairs_per_s": round(result.pairs_per_s, 2),
            "final": final, "stalled": stalled_losses(result.history),
            "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def stalled_losses(history: list[dict], keep: float = 0.95) -> list[str]:
    """The training losses that ended above `keep` x their first epoch's value: a pretraining
    that never left chance (a collapsed SSL run, a local loss stuck at log(batch))."""
    first, last = history[0], history[-1]
    return [k for k in ("train_loss", "train_global", "train_local")
            if k in first and k in last and last[k] > keep * first[k]]  # fmt: skip


def subset_of(labels: pd.DataFrame, findings: list[str], fraction: float, seed: int):
    """The label subset `radlens train --label-fraction` takes (same function, same seed)."""
    train_rows = labels[labels["split"] == "train"]
    return select_label_subset(train_rows[findings].to_numpy(float), train_rows["patient_id"],
                               findings, fraction=fraction, seed=seed)  # fmt: skip


def batch_for(images: int, batch_size: int) -> int:
    """At least ~4 steps per epoch on a small subset (and a batch of >= 2)."""
    return max(2, min(batch_size, math.ceil(images / 4)))


def finetune(cohort: Path, labels: Path, findings, out: Path, *, init, fraction, seed, images,
             args, freeze: bool = False) -> dict:  # fmt: skip
    """`radlens train` on a labels CSV (its split column); the run's wall time and subset.
    `freeze`: a linear probe of `init` (``--freeze-encoder``, at --probe-lr)."""
    t0 = time.perf_counter()
    config = make_config({
        "images": str(cohort), "labels": str(labels),
        "patient_column": "patient_id", "label_columns": findings, "site_column": "site",
        "split_column": "split", "image_size": args.size, "model": args.model,
        "small_input": args.small_input, "epochs": args.epochs,
        "batch_size": batch_for(images, args.batch_size),
        "lr": args.probe_lr if freeze else args.lr, "seed": seed, "device": args.device,
        "threads": args.threads, "augment": "shift", "out": str(out), "init": init,
        "label_fraction": fraction, "freeze_encoder": freeze,
    })  # fmt: skip
    result = train(config, progress=False)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    return {"run": str(result.run_dir), "wall_s": round(time.perf_counter() - t0, 1),
            "best_epoch": result.best_epoch, "batch_size": config.batch_size,
            "label_subset": metrics.get("label_subset")}  # fmt: skip


def score(frame: pd.DataFrame, truth: pd.DataFrame | None, split: str = "test") -> dict:
    """radlens evaluate's figures of one split against the radiograph truth (`truth` None: the
    frame's own targets)."""
    res = evaluate_predictions(frame, split=split, labels=truth, n_bootstrap=0)
    per = {}
    for _, row in res.table.iterrows():
        per[str(row["label"])] = {
            "auroc": _r(row["auroc"]), "se": _r(row["auroc_se"]),
            "ci95": [_r(row["auroc_low"]), _r(row["auroc_high"])],
            "positives": int(row["n_positive"]), "negatives": int(row["n_negative"]),
        }  # fmt: skip
    s = res.summary
    return {"macro_auroc": _r(s["macro_auroc"]), "micro_auroc": _r(s["micro_auroc"]),
            "micro_auroc_ci95": [_r(v) for v in s["micro_auroc_ci"]],
            "n_images": int(s["n_images"]), "per_finding": per}  # fmt: skip


def _r(value) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


# ---- the table ---------------------------------------------------------------------------------
def summarise(runs: list[dict]) -> list[dict]:
    """Mean +- sd (ddof 1) of macro AUROC over seeds per start x fraction; the per-seed figures."""
    frame = pd.DataFrame(runs)
    rows = []
    for (start, fraction), g in frame.groupby(["start", "fraction"], sort=False):
        auc = g["macro_auroc"].astype(float).to_numpy()
        rows.append({
            "start": start, "fraction": float(fraction), "seeds": len(g),
            "mean_auroc": _r(np.mean(auc)), "sd": _r(np.std(auc, ddof=1)) if len(g) > 1 else None,
            "per_seed": [_r(v) for v in auc], "labelled_images": [int(v) for v in g["images"]],
            "positives_per_seed": list(g["positives"]) if "positives" in g else None,
            "micro_auroc_ci95": list(g["micro_auroc_ci95"]),
        })  # fmt: skip
    order = {s: i for i, s in enumerate(ROW_ORDER)}
    return sorted(rows, key=lambda r: (r["fraction"], order.get(r["start"], 99)))


def verdicts(runs: list[dict], table: list[dict]) -> list[dict]:
    """Per pretrained start and fraction < 1: does it beat scratch outside the seeds' spread
    (mean - sd > scratch mean + sd), and the paired per-seed gain (mean +- sd)."""
    cell = {(r["start"], r["fraction"]): r for r in table}
    by_seed = {(r["start"], float(r["fraction"]), r["seed"]): r["macro_auroc"] for r in runs}
    out = []
    for fraction in sorted({r["fraction"] for r in table if r["fraction"] < 1}):
        base = cell.get(("scratch", fraction))
        for start in PRETRAINED + PROBES:
            here = cell.get((start, fraction))
            if base is None or here is None:
                continue
            gains = [by_seed[(start, fraction, s)] - v for (st, f, s), v in by_seed.items()
                     if st == "scratch" and f == fraction and (start, f, s) in by_seed]  # fmt: skip
            sd_here, sd_base = here["sd"] or 0.0, base["sd"] or 0.0
            out.append({
                "start": start, "fraction": fraction,
                "gain": _r(here["mean_auroc"] - base["mean_auroc"]),
                "paired_gain_mean": _r(np.mean(gains)),
                "paired_gain_sd": _r(np.std(gains, ddof=1)) if len(gains) > 1 else None,
                "beats_scratch_outside_spread": bool(
                    here["mean_auroc"] - sd_here > base["mean_auroc"] + sd_base),
            })  # fmt: skip
    return out


def markdown(table: list[dict]) -> str:
    """The table as Markdown: start x fraction -> mean +- sd (labelled images)."""
    fractions = sorted({r["fraction"] for r in table})
    cell = {(r["start"], r["fraction"]): r for r in table}
    head = "| start | " + " | ".join("zero-shot (no labels)" if f == 0 else f"{f:g} of labels"
                                     for f in fractions) + " |"  # fmt: skip
    lines = [head, "|" + "---|" * (len(fractions) + 1)]
    for start in ROW_ORDER:
        if not any((start, f) in cell for f in fractions):
            continue
        parts = []
        for f in fractions:
            r = cell.get((start, f))
            if r is None:
                parts.append("-")
                continue
            sd = f" ± {r['sd']:.3f}" if r["sd"] is not None else ""
            parts.append(f"{r['mean_auroc']:.3f}{sd} (n={round(np.mean(r['labelled_images']))})")
        lines.append(f"| {start} | " + " | ".join(parts) + " |")
    for f in fractions:
        r = cell.get(("scratch", f))
        if f < 1 and r is not None and r.get("positives_per_seed"):
            counts = "; ".join(", ".join(f"{k} {v}" for k, v in pos.items())
                               for pos in r["positives_per_seed"])  # fmt: skip
            lines.append(f"\npositive training images per finding at {f:g} (per seed): {counts}")
    return "\n".join(lines)


# ---- the runs ----------------------------------------------------------------------------------
def pretrain_csv(cohort: Path, pairs: pd.DataFrame, name: str, keep) -> Path:
    """The pretraining table: the rows `keep` selects, all as split "train" (nothing else)."""
    path = cohort / name
    pairs[keep].assign(split="train").to_csv(path, index=False)
    return path


def zero_shot_rows(seed: int, pre: dict, cohort: Path, findings: list[str],
                   root: Path) -> list[dict]:  # fmt: skip
    """Each image-text checkpoint's zero-shot scores of the test split (`radlens zeroshot`, the
    run's default similarity) against the radiograph truth: rows of fraction 0 (no labels)."""
    rows = []
    for start in ("image_text_global", "image_text_local"):
        if start not in pre:
            continue
        out = root / f"zeroshot_{start}"
        res = zero_shot(pre[start]["checkpoint"], cohort / "pairs.csv", out, split="test",
                        findings=findings, device="cpu")  # fmt: skip
        # its targets are already the pairs' radiograph truth (zero_shot reads the true: columns)
        figures = score(read_predictions(out / PREDICTIONS), None)
        rows.append({"start": start, "fraction": 0.0, "seed": seed, "images": 0, "patients": 0,
                     "positives": None, "run": str(out), "similarity": res.similarity,
                     **figures})  # fmt: skip
        log.info("seed %d %s zero-shot: macro AUROC %s", seed, start, figures["macro_auroc"])
    return rows


def run_seed(seed: int, cohort: Path, pairs: pd.DataFrame, findings: list[str], args) -> tuple:
    """Pretrain the three starts, fine-tune every start x fraction; the runs' rows."""
    root = args.out / f"seed{seed}"
    csv = pretrain_csv(cohort, pairs, "pretrain_train.csv", pairs["split"] == "train")
    pre = {start: pretrain(start, csv, root / f"pretrain_{start}", seed, args)
           for start in PRETRAINED}  # fmt: skip
    rows = zero_shot_rows(seed, pre, cohort, findings, root)
    for fraction in args.fractions:
        for start in START_NAMES:
            init = pre[start]["checkpoint"] if start in pre else None
            rows.append(labelled_run(start, fraction, seed, init, cohort, pairs, findings, args))
    if args.probe:
        rows += probe_rows(seed, pre, cohort, pairs, findings, args)
    return pre, rows


def labelled_run(start: str, fraction: float, seed: int, init: str | None, cohort: Path,
                 pairs: pd.DataFrame, findings: list[str], args) -> dict:  # fmt: skip
    """One `radlens train` run (a linear probe for a start in PROBES) scored on the test split."""
    subset = subset_of(pd.read_csv(cohort / "labels.csv"), findings, fraction, seed)
    out = args.out / f"seed{seed}" / f"{start}_f{fraction:g}"
    info = finetune(cohort, cohort / "labels.csv", findings, out, init=init, fraction=fraction,
                    seed=seed, images=len(subset.rows), args=args,
                    freeze=start in PROBES)  # fmt: skip
    if info["label_subset"] is not None and info["label_subset"]["images"] != len(subset.rows):
        raise SystemExit(f"{out}: the run's label subset differs from the benchmark's")
    frame = read_predictions(Path(info["run"]) / PREDICTIONS)
    figures = score(frame, truth_table(pairs, findings, frame["id"].astype(str)))
    log.info("seed %d %s %g: macro AUROC %s", seed, start, fraction, figures["macro_auroc"])
    return {"start": start, "fraction": fraction, "seed": seed, "images": len(subset.rows),
            "patients": subset.patients, "positives": subset.positives, **info,
            **figures}  # fmt: skip


def probe_rows(seed: int, pre: dict, cohort: Path, pairs: pd.DataFrame, findings: list[str],
               args) -> list[dict]:  # fmt: skip
    """Linear probes of every pretrained start at each fraction below 1."""
    return [labelled_run(probe, fraction, seed, pre[start]["checkpoint"], cohort, pairs,
                         findings, args)
            for fraction in args.fractions if fraction < 1
            for start, probe in zip(PRETRAINED, PROBES, strict=True) if start in pre]  # fmt: skip


def each_seed(run, cohort: Path, pairs: pd.DataFrame, findings: list[str], args):
    """`run(seed, ...)` for seeds 0..N-1 in order; with --jobs > 1 in that many processes
    (spawned, --threads each), yielding results in seed order as they come."""
    seeds = range(args.seeds)
    if args.jobs <= 1:
        for seed in seeds:
            yield run(seed, cohort, pairs, findings, args)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs, initializer=_worker_logging) as pool:
        yield from pool.starmap(run, [(s, cohort, pairs, findings, args) for s in seeds])


def _worker_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def add_run_options(ap: argparse.ArgumentParser, min_positives: int) -> None:
    """The cohort, training and pretraining options this benchmark shares with external_site.py."""
    ap.add_argument("--cohort-seed", type=int, default=5101)
    ap.add_argument("--cohort", type=Path, default=None, help="reuse this script's cohort folder")
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument(
        "--model",
        default="resnet18",
        choices=["resnet18", "resnet_mini"],
        help="backbone of every start (resnet_mini: a 6x6 feature map at 96 px, so"
        " the local branch has regions; resnet18's stem leaves 3x3)",
    )
    ap.add_argument(
        "--small-input", action="store_true", help="the 3x3 stride-1 stem instead of the 7x7/2 one"
    )
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--pretrain-epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pretrain-batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pretrain-lr", type=float, default=1e-3)
    ap.add_argument("--top-k", type=int, default=8)
    ap.add_argument("--min-positives", type=int, default=min_positives)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="phantom rendering processes")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes")


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (pretraining, subset, init)")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    add_run_options(ap, min_positives=5)
    ap.add_argument("--rebuild", action="store_true", help="re-make --json's table from its runs")
    ap.add_argument(
        "--add-zero-shot",
        action="store_true",
        help="score --json's image-text checkpoints zero-shot (no training), rebuild",
    )
    ap.add_argument(
        "--probe",
        action="store_true",
        help="also linear probes (--freeze-encoder) of each start at fractions < 1",
    )
    ap.add_argument("--probe-lr", type=float, default=1e-2, help="the linear probes' lr")
    ap.add_argument(
        "--add-probes",
        action="store_true",
        help="add linear probes of --json's checkpoints (no pretraining), rebuild",
    )
    return ap.parse_args(argv)


def setting(args, pairs: pd.DataFrame, findings: list[str]) -> dict:
    """What the JSON says about the run's size, machine and command."""
    skip = ("out", "json", "cohort", "fractions", "rebuild", "add_zero_shot", "add_probes")
    fractions = getattr(args, "fractions", None)
    return {
        "command": f"python benchmarks/{Path(sys.argv[0]).name} " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}")
            for k, v in vars(args).items() if k not in skip and v is not False)
        + (" --fractions " + " ".join(f"{f:g}" for f in fractions) if fractions else ""),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared with other jobs)",
        "torch": torch.__version__, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sizes": {"studies": len(pairs), "patients": int(pairs["patient_id"].nunique()),
                  "split": pairs["split"].value_counts().to_dict(),
                  "sites": pairs["site"].value_counts().to_dict(), "image_size": args.size,
                  "epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
                  "model": args.model, "small_input": args.small_input},
        "findings": findings,
    }  # fmt: skip


def rebuild(path: Path) -> dict:
    """Re-make the table, verdicts and Markdown of a result JSON from its runs (no training)."""
    result = json.loads(path.read_text())
    runs = result["runs"]
    table = summarise(runs)
    result.update(table=table, verdicts=verdicts(runs, table), markdown=markdown(table))
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def add_rows(args) -> dict:
    """Zero-shot (--add-zero-shot) or linear-probe (--add-probes) rows for every seed of a result
    written without them, from its pretraining checkpoints; the table rebuilt."""
    result = json.loads(args.json.read_text())
    cohort = args.cohort or args.out / "cohort"
    pairs, findings = pd.read_csv(cohort / "pairs.csv"), result["findings"]
    runs = result["runs"]
    for seed, pre in result["pretraining"].items():
        if args.add_zero_shot:
            runs = [r for r in runs if not (r["fraction"] == 0 and r["seed"] == int(seed))]
            runs += zero_shot_rows(int(seed), pre, cohort, findings,
                                   args.out / f"seed{seed}")  # fmt: skip
        if args.add_probes:
            runs = [r for r in runs if not (r["start"] in PROBES and r["seed"] == int(seed))]
            runs += probe_rows(int(seed), pre, cohort, pairs, findings, args)
    result["runs"] = runs
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return rebuild(args.json)


def main(argv=None) -> None:
    args = parse(argv)
    if args.add_zero_shot or args.add_probes:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        torch.set_num_threads(args.threads)
        print(add_rows(args)["markdown"])
        return
    if args.rebuild:
        result = rebuild(args.json)
        print(result["markdown"])
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    root = args.cohort.parent if args.cohort else args.out
    cohort, pairs, findings = build_cohort(root, args.cohort_seed, args.studies,
                                           args.min_positives, args.workers)  # fmt: skip
    wall = {"cohort_s": round(time.perf_counter() - t0, 1)}
    pretraining, runs = {}, []
    for seed, (pre, rows) in enumerate(each_seed(run_seed, cohort, pairs, findings, args)):
        pretraining[seed] = pre
        runs += rows
        table = summarise(runs)
        result = {
            "benchmark": "label_efficiency", "cohort_seed": args.cohort_seed,
            "seeds_done": seed + 1, **setting(args, pairs, findings),
            "evaluation": "test split vs the radiograph truth (cxr_true:), "
                          "radlens.evaluation.evaluate_predictions (DeLong CIs)",
            "table": table, "verdicts": verdicts(runs, table), "markdown": markdown(table),
            "pretraining": pretraining, "runs": runs,
            "wall": {**wall, "total_s": round(time.perf_counter() - t0, 1)},
        }  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(result["markdown"])
    print(json.dumps(result["verdicts"], indent=2))


if __name__ == "__main__":
    main()
