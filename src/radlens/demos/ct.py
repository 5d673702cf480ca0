"""`radlens demo`: the chest-CT pipeline end to end on a synthetic cohort, on a CPU, no downloads.

synthesize a cohort (NIfTI volumes, masks, free-text reports) -> label the reports (labeler F1 vs
the true findings) -> split by patient -> train a CT-Net-style model (`radlens.training.loop`) ->
HiResCAM heatmaps of the most confident positives, localized against the phantom masks
(`radlens.explain`) -> per-abnormality test AUROC with 95% DeLong CIs and report.html
(`radlens.evaluation`) -> a ranked triage list (critical findings first, then score) added to the
report. Deterministic by seed. Outputs in `out`: cohort/, run/ (report.html, heatmaps/, ...).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from radlens.data import CtCohort, load_ct_cohort
from radlens.demos import ct_console as show
from radlens.demos.ct_detection import detection_step
from radlens.demos.ct_localization import (
    cam_settings,
    localization_with_detectors,
    print_localization,
)
from radlens.demos.ct_options import CtDemoOptions, CtDemoResult
from radlens.demos.ct_outcomes import survival_step
from radlens.demos.ct_report import (
    append_triage_section,
    explain_top_positives,
    triage_list,
    truth_aurocs,
)
from radlens.demos.ct_segmentation import measured_lesions, segmentation_step
from radlens.demos.ct_setup import (
    default_epochs,
    input_shape,
    prepare_out,
    quiet_loggers,
    synthesis_shape,
)
from radlens.errors import ConfigError
from radlens.evaluation import (
    EvaluationResult,
    evaluate_run_dir,
    urgency_rates,
    urgency_rates_text,
)
from radlens.phantom import FOV_MM, synthesize_cohort
from radlens.training import TrainResult, make_config, train

logger = logging.getLogger(__name__)

__all__ = ["CtDemoOptions", "CtDemoResult", "run_ct_demo"]

#: loggers whose per-file INFO lines would drown the progress bars
_QUIET = ("radlens.data.volumes.io", "radlens.phantom.cohort", "radlens.data.volumes.preprocess")


@dataclass
class _Demo:
    """What the demo's steps share: options, where things go, how long each step took."""

    opts: CtDemoOptions
    out: Path
    console: Console
    progress: bool
    epochs: int
    model_shape: tuple[int, ...]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.out / "run"

    @contextlib.contextmanager
    def step(self, name: str, title: str) -> Iterator[None]:
        """Print the step's title; time its body into `timings[name]` (seconds)."""
        self.console.rule(f"[bold]{title}")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 2)


def _synthesize(demo: _Demo) -> tuple[int, int, int]:
    """Step 1: the synthetic cohort in OUT/cohort; returns the grid the phantoms were drawn on."""
    opts = demo.opts
    synth_shape = opts.synth_shape or synthesis_shape(opts.shape)
    with demo.step("synthesize", "1/7 synthesize a chest-CT cohort"), quiet_loggers(*_QUIET):
        synthesize_cohort(
            demo.out / "cohort",
            n_patients=opts.patients,
            seed=opts.seed,
            shape=synth_shape,
            sites=opts.sites,
            formats=("nifti",),
            progress=demo.progress,
            workers=max(1, opts.threads or 1),  # one process per core: patients are independent
        )
    return synth_shape


def _label_and_load(demo: _Demo, spacing: tuple[float, ...]) -> CtCohort:
    """Step 2: label the reports, split by patient, load the volumes resampled to `spacing` and
    cropped to the model's input."""
    opts = demo.opts
    title = "2/7 label the reports, split by patient, load the volumes"
    with demo.step("label_and_load", title):
        with quiet_loggers(*_QUIET):
            cohort = load_ct_cohort(
                demo.out / "cohort",
                seed=opts.seed,
                shape=demo.model_shape,
                target_spacing=spacing,
                fractions=opts.fractions,
                windows=opts.windows,
                cache_dir=demo.out / "cache",
                progress=demo.progress,
                min_location_positives=opts.min_location_positives,
            )
        empty = [s for s in ("train", "val", "test") if s not in cohort.dataset.images]
        if empty:
            raise ConfigError(
                f"with {opts.patients} patients (seed {opts.seed}) the {empty} split(s) "
                "got no patient; use more --patients (the default is 450)"
            )
        show.print_cohort(demo.console, cohort)
        show.print_lesion_sizes(demo.console, show.lesion_sizes(demo.out / "cohort"))
    return cohort


def _train(demo: _Demo, cohort: CtCohort, spacing: tuple[float, ...]) -> TrainResult:
    """Step 3: train the model; the run directory (config.yaml, plan.json, ...) is OUT/run."""
    opts, ds = demo.opts, cohort.dataset
    title = f"3/7 train {opts.model} (CT-Net-style) on {ds.size('train')} studies"
    with demo.step("train", title):
        config = make_config(
            {
                # the cohort is the run's data source, so `radlens evaluate/explain RUN` reload it
                "cohort": str((demo.out / "cohort").resolve()),
                "cohort_shape": demo.model_shape,
                "cohort_spacing": spacing,
                "cohort_windows": [tuple(w) for w in ds.extra["windows"]],
                "cohort_min_location_positives": opts.min_location_positives,
                "cohort_cache": str((demo.out / "cache").resolve()),
                "model": opts.model,
                "epochs": demo.epochs,
                "batch_size": opts.batch_size,
                "eval_batch_size": 16,
                "lr": opts.lr,
                "milestones": (0.6, 0.85),
                "gamma": 0.2,
                "patience": opts.patience,
                "weight_decay": 1e-4,
                "augment": "shift",
                "shift_pixels": 2,
                "class_weights": "none",
                "seed": opts.seed,
                "device": "cpu",
                "precision": "auto",  # bf16 autocast where the CPU has native bf16
                "channels_last": False,
                "threads": opts.threads,
                "out": str(demo.run_dir),
            },
            source="radlens demo",
        )
        return train(config, dataset=ds, progress=demo.progress)


def _explain(demo: _Demo, cohort: CtCohort) -> pd.DataFrame | None:
    """Step 4: Grad-CAM montages of the most confident positives, localization vs the masks."""
    with demo.step("explain", "4/7 heatmaps of the most confident positives"):
        loc = explain_top_positives(
            demo.run_dir, cohort, cases=demo.opts.heatmap_cases,
            draw=demo.opts.heatmap_pictures, **cam_settings(demo.opts.model),
        )  # fmt: skip
        if loc is not None and len(loc):
            demo.console.print(loc.round(3).to_string(index=False))
    return loc


@dataclass
class _Scores:
    """Step 5's figures: the evaluation, its rows for the 12 abnormalities and their means."""

    evaluation: EvaluationResult
    abnormalities: list[str]
    rows: pd.DataFrame
    truth: dict[str, float]
    mean_auc: float
    mean_located: float
    n_located: int


def _evaluate(demo: _Demo, cohort: CtCohort) -> _Scores:
    """Step 5: per-abnormality test AUROC with DeLong CIs (vs report labels and true findings)
    and report.html."""
    title = "5/7 evaluate per abnormality (DeLong 95% CI) and write report.html"
    with demo.step("evaluate", title):
        evaluation = evaluate_run_dir(
            demo.run_dir,
            split="test",
            by="site",
            n_bootstrap=0,
            # the cohort is in memory: its training patient ids (no 3D image hashing)
            train_patient_ids=cohort.dataset.patient_ids["train"],
            train_labels=cohort.dataset.labels["train"],
        )
        names = cohort.dataset.label_names
        table = evaluation.table.set_index("label")
        abn = [n for n in names if "@" not in n]
        rows = table.loc[abn].reset_index()
        truth = truth_aurocs(demo.run_dir, cohort, abn)
        demo.console.print(show.auroc_table(rows, truth))
        mean_auc = float(np.nanmean(rows["auroc"]))
        loc_rows = table.loc[[n for n in names if "@" in n]]
        mean_loc = float(np.nanmean(loc_rows["auroc"])) if len(loc_rows) else float("nan")
        demo.console.print(
            f"mean test AUROC over the 12 abnormalities: [bold]{mean_auc:.3f}[/] "
            f"(vs true findings {np.nanmean(list(truth.values())):.3f}); "
            f"abnormality@location outputs: {mean_loc:.3f} over {len(loc_rows)}"
        )
    return _Scores(evaluation, abn, rows, truth, mean_auc, mean_loc, len(loc_rows))


def _segment(demo: _Demo, cohort: CtCohort, synth_shape: tuple[int, int, int]) -> dict | None:
    """Step 6: focal lesions segmented, scored beside the classifier (`.ct_segmentation`)."""
    if demo.opts.segmentation is None:
        return None
    with demo.step("segmentation", "6/7 segment the focal lesions: Dice, FROC, which wins"):
        table = cohort.table
        split_of = dict(zip(table["patient_id"].astype(str), table["split"], strict=True))
        return segmentation_step(
            demo.out, demo.run_dir, split_of, cohort.dataset.extra["windows"], demo.console,
            shape=demo.opts.shape, synth_shape=synth_shape, seed=demo.opts.seed,
            threads=demo.opts.threads, options=demo.opts.segmentation,
        )  # fmt: skip


def _detect(demo: _Demo, cohort: CtCohort) -> tuple[dict[str, dict | None], dict | None]:
    """The `--detect-*` steps, then the pointing game over every test positive (None when no
    detector ran)."""
    opts = demo.opts
    asked = {"nodule": opts.detect_nodules, "mass": opts.detect_masses,
             "lymphadenopathy": opts.detect_nodes,
             "arterial_wall_calcification": opts.detect_plaques}  # fmt: skip
    detection: dict[str, dict | None] = dict.fromkeys(asked)
    split_of = dict(zip(cohort.table["patient_id"].astype(str), cohort.table["split"], strict=True))
    for finding in [f for f, on in asked.items() if on]:
        with demo.step(f"detection-{finding}",
                       f"+ {finding}: two-stage detector, FROC, vs the classifier"):  # fmt: skip
            detection[finding] = detection_step(demo.out, demo.run_dir, split_of, demo.console,
                                                seed=opts.seed, finding=finding)  # fmt: skip
    if not any(detection.values()):
        return detection, None
    with demo.step("localization", "+ pointing game over every test positive"):
        pointing = localization_with_detectors(
            demo.run_dir, cohort.dataset, detection, **cam_settings(opts.model)
        )
        print_localization(pointing, demo.console)
    return detection, pointing


def _triage(demo: _Demo, scores: _Scores, cohort: CtCohort) -> Path:
    """Step 6: the ranked triage list (RUN/triage.csv) and its section of report.html."""
    with demo.step("triage", "7/7 triage list (critical findings first, then score)"):
        sizes = measured_lesions(demo.out)  # the segmentation step's, if it ran
        triage = triage_list(
            demo.run_dir, scores.evaluation, scores.abnormalities, cohort=cohort, measurements=sizes
        )
        triage.to_csv(demo.run_dir / "triage.csv", index=False)
        report = append_triage_section(demo.run_dir / "report.html", triage)
        top = triage.head(8)[["rank", "urgency", "findings", "top_score"]]
        demo.console.print(show.triage_text(top, demo.console.width), highlight=False, markup=False)
        if (triage["true_urgency"] != "").all():  # flagged per level beside the truth
            rates = urgency_rates(triage["urgency"], triage["true_urgency"])
            demo.console.print(urgency_rates_text(rates))
    return report


def _summary(
    demo: _Demo,
    cohort: CtCohort,
    synth_shape: tuple[int, int, int],
    result: TrainResult,
    scores: _Scores,
    loc: pd.DataFrame | None,
) -> dict[str, Any]:
    """OUT/demo.json: what was run and what it scored."""
    opts, ds, truth = demo.opts, cohort.dataset, scores.truth
    return {
        "patients": opts.patients,
        "studies": len(cohort.table),
        "seed": opts.seed,
        "shape": list(opts.shape),
        "input_shape": list(demo.model_shape),
        "synth_shape": list(synth_shape),
        "model": opts.model,
        "epochs": demo.epochs,
        "patience": opts.patience,
        "epochs_trained": result.epochs_done,
        "windows": [list(w) for w in ds.extra["windows"]],
        "threads": torch.get_num_threads(),
        "labeler": cohort.noise.to_dict() if cohort.noise else None,
        "lesion_sizes": show.lesion_sizes(demo.out / "cohort"),
        "splits": {
            s: {"studies": ds.size(s), "patients": len(set(ds.patient_ids[s]))} for s in ds.splits
        },
        "best_epoch": result.best_epoch,
        "test_auroc": {
            r.label: {
                "auroc": r.auroc,
                "low": r.auroc_low,
                "high": r.auroc_high,
                "n_positive": int(r.n_positive),
            }
            for r in scores.rows.itertuples()
        },
        "test_auroc_vs_truth": truth,
        "mean_test_auroc": scores.mean_auc,
        "mean_test_auroc_vs_truth": float(np.nanmean(list(truth.values()))),
        "mean_test_auroc_located": scores.mean_located,
        "localization": None if loc is None else loc.to_dict(orient="records"),
        "timings_s": demo.timings,
    }


def run_ct_demo(
    out: str | Path = "runs/demo",
    options: CtDemoOptions | None = None,
    *,
    console: Console | None = None,
    progress: bool = True,
) -> CtDemoResult:
    """Run the whole chest-CT pipeline; print progress and figures; return where things are."""
    opts = options or CtDemoOptions()
    console = console or Console()
    t0 = time.perf_counter()
    out = Path(out)
    epochs = opts.epochs or default_epochs()
    check = {"dataset": "check", "model": opts.model, "epochs": epochs}
    make_config(check, source="radlens demo")  # bad options fail before any work
    model_shape = input_shape(opts.shape, opts.crop)  # bad options fail before any work
    prepare_out(out)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    demo = _Demo(opts, out, console, progress, epochs, model_shape)
    synth_shape = _synthesize(demo)
    # the whole field of view on the `shape` grid; the model sees its centred crop
    spacing = tuple(f / n for f, n in zip(FOV_MM, opts.shape, strict=True))
    cohort = _label_and_load(demo, spacing)
    result = _train(demo, cohort, spacing)
    loc = _explain(demo, cohort)
    scores = _evaluate(demo, cohort)
    seg = _segment(demo, cohort, synth_shape)
    detection, pointing = _detect(demo, cohort)
    report = _triage(demo, scores, cohort)
    with demo.step("survival", "+ outcome: Cox model on the synthetic follow-up (C-index)"):
        survival = survival_step(demo.run_dir, out, console)
    wall = round(time.perf_counter() - t0, 1)
    summary = {**_summary(demo, cohort, synth_shape, result, scores, loc), "survival": survival}
    summary["segmentation"] = seg
    summary["nodule_detection"] = detection["nodule"]
    summary["mass_detection"] = detection["mass"]
    summary["lymph_node_detection"] = detection["lymphadenopathy"]
    summary["plaque_detection"] = detection["arterial_wall_calcification"]
    summary["localization_all_positives"] = pointing
    summary["wall_time_s"] = wall
    (out / "demo.json").write_text(json.dumps(summary, indent=2, default=float))
    console.print(f"demo finished in {wall:.0f} s · report: [bold]{report}[/]")
    return CtDemoResult(out, demo.run_dir, report, summary)
