"""`radlens evaluate` on a segmentation run: per-finding masks scored, lesions found, FROC.

The run's best model (`radlens.training.load_segmentation_run`) predicts every study of the split
with sliding windows on the run's grid (its `spacing`); the truth masks are put on that same grid
by the training data code, so scores are measured at the run's spacing (stated in the output).

- masks: a voxel is predicted when its probability is >= `MASK_THRESHOLD`; per finding and study
  Dice, HD95 and surface Dice (`segmentation_scores`), lesion counts (`lesion_counts`), summarised
  with patient-bootstrap CIs (`summarise_segmentation`; empty masks follow its table);
- FROC (`FROC_FINDINGS` present in the run, with >= 1 truth lesion in the split): lesion
  candidates are the components of the probability map at >= `CANDIDATE_THRESHOLD`, scored by
  their maximum probability (`lesion_candidates`), matched with the LUNA16 rule (`froc_scan`);
- report.html: the summary table, the FROC table and plots, and overlays (truth green, prediction
  red) of the `n_overlays` studies with the largest truth lesions, on their largest slice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from radlens.core import CONFIG, EVALUATION, REPORT, atomic_write_json, atomic_write_text
from radlens.errors import EvaluationError
from radlens.evaluation.froc import froc, froc_entry, froc_figure, froc_scan
from radlens.evaluation.lesions import lesion_candidates
from radlens.evaluation.segmentation_metrics import score_cases, summarise_segmentation
from radlens.evaluation.segmentation_report import segmentation_html
from radlens.training import (
    SegCase,
    inference_device,
    load_seg_cases,
    load_segmentation_run,
    predict_volume,
    read_seg_table,
)

__all__ = [
    "CANDIDATE_THRESHOLD",
    "FROC_FINDINGS",
    "MASK_THRESHOLD",
    "evaluate_segmentation_run",
    "is_segmentation_run",
    "overlay_png",
]

MASK_THRESHOLD = 0.5
CANDIDATE_THRESHOLD = 0.1
FROC_FINDINGS: tuple[str, ...] = ("nodule", "mass", "lymphadenopathy")


def is_segmentation_run(run_dir: str | Path) -> bool:
    """Whether RUN/config.yaml says task "segmentation" (False without a config)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return False
    values = yaml.safe_load(path.read_text()) or {}
    return isinstance(values, dict) and values.get("task") == "segmentation"


def overlay_png(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, title: str) -> bytes:
    """One axial slice (H, W) in grey with the truth (green) and predicted (red) contours."""
    from matplotlib.figure import Figure  # imported only when a figure is drawn

    fig = Figure(figsize=(3.2, 3.4))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    for mask, colour in ((truth, "lime"), (pred, "red")):
        if mask.any() and not mask.all():
            ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.0)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _finite(value: Any) -> Any:
    """JSON-safe: inf/NaN -> None (evaluation.json states what inf HD95 means)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _overlays(picks: list[tuple[float, str, str, np.ndarray, np.ndarray, np.ndarray]]) -> list:
    out = []
    for _, study, finding, image, truth, pred in picks:
        z = int(np.argmax(truth.sum(axis=(1, 2))))
        title = f"{study} {finding} (slice {z}): truth green, prediction red"
        out.append((title, overlay_png(image[z], truth[z], pred[z], title)))
    return out


def _predict_cases(run, cases, device, findings: Sequence[str], window=None, on_prediction=None):
    """Per (study, finding): score rows, FROC scans per finding and overlay candidates."""
    rows, scans, picks = [], {f: [] for f in findings if f in FROC_FINDINGS}, []
    for case in cases:
        prob = predict_volume(run.model, case.image, window or run.config.patch, device=device)
        if on_prediction is not None:
            on_prediction(case, prob)
        for i, finding in enumerate(findings):
            truth, pred = case.label[i] > 0, prob[i] >= MASK_THRESHOLD
            rows.append((case.patient_id, finding, pred, truth, case.spacing))
            if finding in scans:
                cands = lesion_candidates(prob[i], case.spacing, threshold=CANDIDATE_THRESHOLD)
                scan = froc_scan(case.study_id, case.patient_id, cands, truth, case.spacing)
                scans[finding].append(scan)
            if truth.any():
                image = case.image[min(2, len(case.image) - 1)]  # mediastinal window if present
                picks.append((float(truth.sum()), case.study_id, finding, image, truth, pred))
    return rows, scans, picks


def evaluate_segmentation_run(
    run_dir: str | Path,
    *,
    split: str = "test",
    n_bootstrap: int = 1000,
    device: str | None = None,
    n_overlays: int = 2,
    seed: int = 0,
    cases: Sequence[SegCase] | None = None,
    window: Sequence[int] | None = None,
    on_prediction: Callable[[SegCase, np.ndarray], None] | None = None,
) -> dict[str, Any]:
    """Score `split` of a segmentation run (module's rules); writes RUN/evaluation.json and
    RUN/report.html and returns evaluation.json's content.

    `cases`: the split's studies already loaded on the run's grid (default: loaded from the
    run's cohort); `window`: the sliding window (default: the run's patch; the whole volume is
    faster on a CPU); `on_prediction(case, probabilities)` is called once per study, so a caller
    can derive more from the same prediction (e.g. `case_focal`) without predicting again."""
    run_dir = Path(run_dir)
    run = load_segmentation_run(run_dir)
    cfg = run.config
    if cases is None:
        seg = read_seg_table(cfg.cohort, run.findings, seed=cfg.seed)  # type: ignore[arg-type]
        cases = load_seg_cases(seg, cfg.spacing, run.windows, splits=(split,))
    if not cases:
        raise EvaluationError(f"run {run_dir}: the cohort {cfg.cohort} has no {split!r} studies")
    dev = inference_device(device or "auto")
    run.model.to(dev)
    rows, scans, picks = _predict_cases(run, cases, dev, run.findings, window, on_prediction)
    per_case = score_cases(rows)
    per_case.insert(1, "study_id", [c.study_id for c in cases for _ in run.findings])
    summary = summarise_segmentation(per_case, n_bootstrap=n_bootstrap, seed=seed)
    froc_out, froc_pngs = {}, []
    for finding, finding_scans in scans.items():
        if sum(s.n_lesions for s in finding_scans) == 0:
            froc_out[finding] = {"note": f"no {finding} lesions in the {split} split"}
            continue
        result = froc(finding_scans, n_bootstrap=n_bootstrap, seed=seed)
        froc_out[finding] = froc_entry(result)
        froc_pngs.append((finding, froc_figure(result, title=f"FROC {finding}")))
    picks.sort(key=lambda p: -p[0])
    evaluation = {
        "task": "segmentation",
        "split": split,
        "model": cfg.model,
        "spacing_mm": list(cfg.spacing),
        "patch": list(cfg.patch),
        "n_studies": len(cases),
        "n_patients": len({c.patient_id for c in cases}),
        "mask_threshold": MASK_THRESHOLD,
        # the network's own probability that 0.5 stands for, per finding (chosen on val)
        "mask_thresholds": dict(zip(run.findings, run.thresholds, strict=True)),
        "candidate_threshold": CANDIDATE_THRESHOLD,
        "n_bootstrap": n_bootstrap,
        "measured_on": f"{cfg.cohort}, {split} split, masks on the run's {cfg.spacing} mm grid",
        "hd95_note": "HD95 is null (infinite) where one of the two masks is empty",
        "summary": [{k: _finite(v) for k, v in r.items()} for r in summary.to_dict("records")],
        "froc": froc_out,
        "per_case": [{k: _finite(v) for k, v in r.items()} for r in per_case.to_dict("records")],
    }
    atomic_write_json(run_dir / EVALUATION, evaluation)
    html = segmentation_html(
        evaluation, pd.DataFrame(summary), froc_pngs, _overlays(picks[:n_overlays])
    )
    atomic_write_text(run_dir / REPORT, html)
    return evaluation
