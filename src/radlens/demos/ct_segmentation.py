"""The CT demo's segmentation step (issue 15): focal lesions segmented, found and measured.

A MONAI UNet (`radlens train --task segmentation`: `radlens.training.train_segmentation`) trains
on the focal findings' masks of at most `SegStepOptions.studies` studies of the demo's training
split (those with a focal finding first), on a grid finer in-plane than the classifier's (the
phantoms' own in-plane spacing; the classifier's slice spacing), for a few epochs: a small CPU
budget, not the full setting (`benchmarks/results/README.md`). It then predicts every val and
test study once by sliding-window inference (the whole volume as one window) and reports, on the
test split (`radlens.evaluation.evaluate_segmentation_run`, patient-bootstrap CIs):

- per-finding Dice over the test studies whose truth holds the finding on the run's grid,
  lesion-wise sensitivity and false positives per scan;
- FROC and the LUNA16 competition score for nodule, mass and lymphadenopathy;
- "which wins" for the focal findings: test AUROC against the true findings of the classifier,
  of the lesion candidates (`case_focal`: the study's highest probability) and of a logistic
  stack of both fitted on the val studies only (`stack_scores`).

Run directory OUT/segmentation: the segmentation run (config.yaml, checkpoint.pt, metrics.json,
evaluation.json, report.html), its cohort.csv: the training subset it saw plus the val and test
studies it was scored on, with the classifier's patient split (so `radlens evaluate
OUT/segmentation` scores the same test split again), and focal_scores.csv (per val/test study:
``seg:``, ``diameter_mm:``, ``n_candidates:``, ``true:`` per focal finding), whose test
diameters the triage list and draft reports state (`measured_diameters`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from radlens.core import PREDICTIONS, REPORT, read_predictions
from radlens.data import read_cohort
from radlens.demos.ct_report import insert_section
from radlens.demos.ct_seg_report import demo_html, seg_table, wins_table
from radlens.demos.ct_setup import quiet_loggers
from radlens.errors import RadlensError
from radlens.evaluation import (
    FOCAL_FINDINGS,
    SEG_SECTION_END,
    SEG_SECTION_START,
    FocalCollector,
    case_focal,
    evaluate_segmentation_run,
    focal_auroc,
    lobe_names,
    segmentation_section,
    stack_scores,
)
from radlens.phantom import FOV_MM
from radlens.training import (
    SegCase,
    SegTable,
    bf16_native,
    load_case,
    load_segmentation_run,
    make_config,
    predict_volume,
    read_seg_table,
    train_segmentation,
)

__all__ = [
    "FULL_SEGMENTATION",
    "SegStepOptions",
    "measured_lesions",
    "seg_grid",
    "segmentation_figures",
    "segmentation_step",
    "split_cohort_table",
    "training_subset",
]

_QUIET = ("radlens.training.segmentation", "radlens.data.volumes.io", "lightning_fabric")
_KEEP = ("patient_id", "study_id", "site", "nifti_path", "mask_path")
SEG_DIR = "segmentation"
CANDIDATES_CSV = "focal_candidates.csv"  # test studies: one row per candidate, lobe, sentence
CANDIDATE_COLUMNS = ["study_id", "finding", "rank", "score", "longest_axial_diameter_mm", "lobe",
                     "description"]  # fmt: skip
FOCAL_CSV = "focal_scores.csv"  # per val/test study: seg:, diameter_mm:, n_candidates:, true:


@dataclass(frozen=True)
class SegStepOptions:
    """The demo's segmentation budget. Defaults: 6 epochs on 120 studies, the smaller budget
    tried on the seed-0 demo cohort (4 epochs on 96 studies gave 11-31 false positives per scan
    and near-zero FROC; 6 x 120: ~1 per scan, mass FROC 0.19). Training and inference run in
    bf16 where native. The NaN losses bf16 training once gave came from oneDNN's wrong weight
    gradient for a Conv3d on 2 slices (the UNet's deepest level of a 16-slice patch); in training
    that layer now runs in float32 (`radlens.training.precision`; inference needs no gradient)."""

    epochs: int = 6
    studies: int = 120  # training studies (a subset of the train split)
    findings: tuple[str, ...] = FOCAL_FINDINGS
    model: str = "unet_lite"
    spacing: tuple[float, float, float] | None = None  # None: `seg_grid`
    patch: tuple[int, int, int] | None = None  # None: `seg_grid`
    batch_size: int = 8
    lr: float = 3e-3
    n_bootstrap: int = 200
    seg_loss: str = "pos-weight"  # "balanced" would need val studies to set its mask thresholds


# `radlens demo --full`: the setting of benchmarks/segmentation.py (MONAI UNet at 5 x 3.5 x 3.5 mm,
# 120 epochs; there, on unseen cohorts: Dice effusion 0.85, consolidation 0.76, mass 0.64, mass
# AUROC 0.87) on every training study; about 0.19 CPU-s per study and epoch in bf16, so ~3 h of
# one core for the default cohort's 468 training studies (an estimate; not run as a demo)
FULL_SEGMENTATION = SegStepOptions(
    epochs=120, studies=1_000_000, model="unet", spacing=(5.0, 3.5, 3.5), patch=(16, 48, 48)
)


def _up8(n: float) -> int:
    return max(8, int(np.ceil(n / 8) * 8))


def seg_grid(
    shape: Sequence[int], synth_shape: Sequence[int]
) -> tuple[tuple[float, float, float], tuple[int, int, int]]:
    """(spacing, patch): the classifier's slice spacing (FOV / `shape`) and the phantoms' own
    in-plane spacing (FOV / `synth_shape`); patches of 16 slices by half the in-plane field of
    view, each a multiple of 8 (the UNet down-samples three times)."""
    z = FOV_MM[0] / int(shape[0])
    y, x = (f / int(n) for f, n in zip(FOV_MM[1:], synth_shape[1:], strict=True))
    grid = [round(f / s) for f, s in zip(FOV_MM, (z, y, x), strict=True)]
    patch = (min(16, _up8(grid[0])), _up8(grid[1] / 2), _up8(grid[2] / 2))
    return (z, y, x), patch


def training_subset(
    table: pd.DataFrame, findings: Sequence[str], studies: int, seed: int
) -> pd.DataFrame:
    """At most `studies` rows of the train split: those holding one of `findings` (``true:``
    columns) first, each group in a seeded random order."""
    train = table[table["split"] == "train"]
    cols = [f"true:{f}" for f in findings if f"true:{f}" in train]
    has = train[cols].astype(float).to_numpy().sum(axis=1) > 0  # no columns: none has one
    order = np.random.default_rng(seed).permutation(len(train))
    order = order[np.argsort(~has[order], kind="stable")]
    return train.iloc[np.sort(order[:studies])]


def split_cohort_table(cohort_dir: Path, split_of: Mapping[str, str]) -> pd.DataFrame:
    """The cohort's studies with the classifier's split of their patient (no split: left out)."""
    table = read_cohort(cohort_dir)  # path columns absolute
    table = table.drop(columns=["split"], errors="ignore")  # the classifier's split instead
    table["split"] = [split_of.get(str(p), "") for p in table["patient_id"].astype(str)]
    keep = [c for c in table if c in _KEEP or c.startswith("true:")] + ["split"]  # ours
    return table.loc[table["split"] != "", keep]


def _train(out: Path, table, opts: SegStepOptions, spacing, patch, windows, seed, threads):
    """Train on the subset; then widen the run's cohort.csv to the val and test studies."""
    run_dir = out / SEG_DIR
    run_dir.mkdir(parents=True, exist_ok=True)
    subset = training_subset(table, opts.findings, opts.studies, seed)
    csv = run_dir / "cohort.csv"
    subset.to_csv(csv, index=False)
    config = make_config(
        {
            "task": "segmentation",
            "cohort": str(csv.resolve()),
            "cohort_windows": [list(w) for w in windows],
            "findings": list(opts.findings),
            "model": opts.model,
            "spacing": spacing,
            "patch": patch,
            "epochs": opts.epochs,
            "batch_size": opts.batch_size,
            "lr": opts.lr,
            "weight_decay": 1e-4,
            "precision": "auto",  # bf16 where native; layers oneDNN gets wrong run in float32
            "seg_loss": opts.seg_loss,
            "device": "cpu",
            "threads": threads,
            "seed": seed,
            "out": str(run_dir),
        },
        source="radlens demo",
    )
    with quiet_loggers(*_QUIET):  # a non-finite loss stops it with a ModelError: step skipped
        result = train_segmentation(config)
    scored = table[table["split"].isin(["val", "test"])]
    pd.concat([subset, scored]).to_csv(csv, index=False)
    return result, len(subset)


def _load(seg: SegTable, spacing, windows, split: str, threads: int | None) -> list[SegCase]:
    """`load_seg_cases` of one split, `threads` studies at a time (reading and resampling
    release the GIL), in table order."""
    rows = [row for _, row in seg.table[seg.table["split"] == split].iterrows()]
    with ThreadPoolExecutor(max(1, threads or 1)) as pool:
        return list(pool.map(lambda row: load_case(row, seg, spacing, windows), rows))


def _window(cases) -> tuple[int, ...]:
    return tuple(_up8(max(c.image.shape[1 + a] for c in cases)) for a in range(3))


def _focal_rows(run_dir: Path, test_rows: list[dict], val_cases, truth, window) -> list[dict]:
    """Focal rows of the val studies (the test ones come from the evaluation's predictions)."""
    run = load_segmentation_run(run_dir)
    rows = list(test_rows)
    for case in val_cases:
        prob = predict_volume(run.model, case.image, window)
        rows.append(case_focal(case, prob, run.findings, truth=truth[case.study_id])[0])
    return rows


def _which_wins(focal: pd.DataFrame, classifier_run: Path) -> pd.DataFrame:
    """Test AUROC per focal finding: classifier, lesion candidates, stack fitted on val."""
    preds = read_predictions(classifier_run / PREDICTIONS)
    scores = preds[["id"] + [c for c in preds if c.startswith("score:")]]
    scores = scores.rename(columns=lambda c: "prob:" + c[6:] if c.startswith("score:") else c)
    frame = focal.merge(scores, left_on="study_id", right_on="id", how="inner")
    frame = stack_scores(frame, ["seg:{f}", "prob:{f}"])
    columns = {"classifier": "prob:{f}", "segmentation": "seg:{f}", "stack": "stack:{f}"}
    return focal_auroc(frame[frame["split"] == "test"], columns)


def _lesion_present_dice(evaluation: dict) -> dict[str, dict[str, float]]:
    per_case = pd.DataFrame(evaluation["per_case"])
    out = {}
    for finding, group in per_case[per_case["n_true_voxels"] > 0].groupby("finding", sort=False):
        dice = group["dice"].to_numpy(float)
        out[str(finding)] = {
            "mean": float(dice.mean()),
            "median": float(np.median(dice)),
            "n_studies": len(dice),
        }
    return out


def _summary_metric(evaluation: dict, metric: str) -> dict[str, dict[str, float]]:
    return {
        r["finding"]: {"estimate": r["estimate"], "low": r["low"], "high": r["high"]}
        for r in evaluation["summary"]
        if r["metric"] == metric
    }


def segmentation_figures(
    out: Path,
    cohort_dir: Path,
    classifier_run: Path,
    split_of: Mapping[str, str],
    windows: Sequence[Sequence[float]],
    *,
    shape: Sequence[int],
    synth_shape: Sequence[int],
    seed: int = 0,
    threads: int | None = None,
    options: SegStepOptions | None = None,
) -> tuple[dict[str, Any], str]:
    """Train, predict and score the demo's segmentation run (module's rules): its figures for
    demo.json and its report section (HTML) for the classifier's report.html."""
    opts = options or SegStepOptions()
    start = time.perf_counter()
    grid, auto_patch = seg_grid(shape, synth_shape)
    spacing, patch = opts.spacing or grid, opts.patch or auto_patch
    table = split_cohort_table(cohort_dir, split_of)
    result, n_train = _train(out, table, opts, spacing, patch, windows, seed, threads)
    trained = time.perf_counter() - start
    run_dir = result.run_dir
    seg = read_seg_table(run_dir / "cohort.csv", opts.findings, seed=seed)
    wins = [tuple(map(float, w)) for w in windows]
    test_cases = _load(seg, spacing, wins, "test", threads)
    val_cases = _load(seg, spacing, wins, "val", threads)
    truth = {str(r["study_id"]): r for _, r in seg.table.iterrows()}
    window = _window(test_cases + val_cases)
    scored = FocalCollector(result.metrics["findings"], seg, spacing, lobe_names(cohort_dir))
    # inference in bf16 where the CPU has it natively (as the training ran): ~4x faster
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_native(False)):
        evaluation = evaluate_segmentation_run(
            run_dir, split="test", n_bootstrap=opts.n_bootstrap, seed=seed,
            cases=test_cases, window=window, on_prediction=scored,
        )  # fmt: skip
        focal = pd.DataFrame(_focal_rows(run_dir, scored.rows, val_cases, truth, window))
    focal.to_csv(run_dir / FOCAL_CSV, index=False)
    candidate_table = pd.DataFrame(scored.candidates, columns=CANDIDATE_COLUMNS)
    candidate_table.to_csv(run_dir / CANDIDATES_CSV, index=False)
    wins_table = _which_wins(focal, classifier_run)
    figures = {
        "measured_on": (
            f"test split ({evaluation['n_studies']} studies, {evaluation['n_patients']} "
            f"patients), masks on a {' x '.join(f'{s:g}' for s in spacing)} mm grid"
        ),
        "budget": {
            "model": opts.model,
            "training_studies": n_train,
            "epochs": opts.epochs,
            "patch": list(patch),
            "spacing_mm": list(spacing),
            "window": list(window),
            "train_seconds": round(trained, 1),
        },
        "dice_lesion_present": _lesion_present_dice(evaluation),
        "lesion_sensitivity": _summary_metric(evaluation, "lesion_sensitivity"),
        "false_positives_per_scan": _summary_metric(evaluation, "false_positives_per_scan"),
        "froc": {
            f: {k: e.get(k) for k in ("score", "score_ci", "n_lesions", "note") if k in e}
            for f, e in evaluation["froc"].items()
        },
        "focal_auroc": [
            {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in r.items()}
            for r in wins_table.to_dict(orient="records")
        ],
        "run": str(run_dir),
        "seconds": round(time.perf_counter() - start, 1),
    }
    page = (run_dir / REPORT).read_text(encoding="utf-8")
    return figures, segmentation_section(page)


def segmentation_step(
    out: Path,
    run_dir: Path,
    split_of: Mapping[str, str],
    windows: Sequence[Sequence[float]],
    console: Console,
    **kwargs: Any,
) -> dict[str, Any]:
    """The demo's step: `segmentation_figures` on OUT/cohort, printed, its section added to
    RUN/report.html; returns the figures for demo.json (a cohort too small to train or score,
    e.g. no focal lesion in its training subset, is skipped with the reason)."""
    try:
        with quiet_loggers(*_QUIET):
            figures, section = segmentation_figures(
                out, out / "cohort", run_dir, split_of, windows, **kwargs
            )
    except RadlensError as exc:
        console.print(f"segmentation skipped: {exc}", markup=False, highlight=False)
        return {"skipped": str(exc)}
    b = figures["budget"]
    console.print(
        f"segmentation: {b['model']} trained on {b['training_studies']} training studies for "
        f"{b['epochs']} epochs ({b['train_seconds']:.0f} s), a small CPU budget, not the full "
        f"setting; measured on the {figures['measured_on']}. Dice: mean over the test studies "
        "holding the finding; FROC: LUNA16 competition score.",
        highlight=False,
    )
    console.print(seg_table(figures))
    console.print(wins_table(figures["focal_auroc"]))
    inner = section[len(SEG_SECTION_START) : -len(SEG_SECTION_END)] if section else ""
    insert_section(run_dir / REPORT, SEG_SECTION_START, SEG_SECTION_END, demo_html(figures) + inner)
    return figures


def measured_lesions(out: Path) -> dict[str, dict[str, str]]:
    """{study: {finding: "5.9 cm mass in the right upper lobe"}}: the largest candidate (longest
    axial diameter) per focal finding of each test study the demo's segmentation step scored,
    with the lobe at its centre ({} when the step did not run)."""
    path = Path(out) / SEG_DIR / CANDIDATES_CSV
    if not path.is_file():
        return {}
    cols = ["study_id", "finding", "longest_axial_diameter_mm", "description"]
    cands = pd.read_csv(path, usecols=cols, dtype={"study_id": str})
    largest = (
        cands.sort_values("longest_axial_diameter_mm", kind="stable")
        .groupby(["study_id", "finding"])
        .tail(1)
    )
    lesions: dict[str, dict[str, str]] = {}
    for r in largest.itertuples(index=False):
        lesions.setdefault(str(r.study_id), {})[str(r.finding)] = str(r.description)
    return lesions
