"""Chest-CT run outputs beyond the metric table: heatmaps of the most confident positives with
localization against the phantom masks, AUROC against the true findings, a ranked triage list
(critical findings first, then score) with a draft report per study, and its report.html section.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radlens.core import PREDICTIONS, atomic_write_text, read_plan, read_predictions
from radlens.data import LOCATION_SEP, CtCohort
from radlens.errors import EvaluationError
from radlens.evaluation import delong
from radlens.explain import (
    ExplainCase,
    parse_tolerance,
    pick_cases,
    render_cases,
    resized_mask,
    study_fovs,
)
from radlens.reports import (
    NO_FINDING,
    URGENCY_RANK,
    ScoredFinding,
    Triage,
    load_vocabulary,
    sort_key,
    triage_findings,
    urgency_of,
    write_draft,
)
from radlens.training import images_to_tensor, load_run, normalise

logger = logging.getLogger(__name__)

__all__ = [
    "append_triage_section",
    "explain_top_positives",
    "insert_section",
    "triage_list",
    "truth_aurocs",
]


def _test_rows(run_dir: Path) -> pd.DataFrame:
    preds = read_predictions(Path(run_dir) / PREDICTIONS)
    rows = preds[preds["split"] == "test"].reset_index(drop=True)
    if rows.empty:
        raise EvaluationError(f"{Path(run_dir) / PREDICTIONS} has no test rows")
    return rows


def explain_top_positives(
    run_dir: str | Path,
    cohort: CtCohort,
    *,
    cases: int = 2,
    method: str = "gradcam",
    layer: str | None = None,
    draw: int | None = None,
) -> pd.DataFrame | None:
    """Grad-CAM montages (RUN/heatmaps/) of the `cases` highest-scoring test studies per
    abnormality (PNGs of the first `draw` of them; None: all); returns localization per
    abnormality (pointing game, IoU, Dice, chance) over the cases whose study truly has the
    finding, or None when there is none. The masks go onto
    the run's input grid (RUN/plan.json) over the field of view of their own study
    (`radlens.explain.study_fovs`: the dataset's extra["fov_mm"])."""
    run = load_run(run_dir)
    plan = read_plan(run_dir)
    ds = cohort.dataset
    abn = [n for n in run.label_names if LOCATION_SEP not in n]
    picks = pick_cases(_test_rows(Path(run_dir)), abn, "multi-label", cases=cases)
    position = {str(i): n for n, i in enumerate(ds.ids["test"])}
    wanted = sorted({position[p[0]] for p in picks})
    local = {row: n for n, row in enumerate(wanted)}
    raw = ds.images["test"][wanted]
    inputs = normalise(images_to_tensor(raw, n_channels=ds.n_channels, spatial_dims=3))
    display = [img[0] for img in raw]
    truth = ds.extra["true_labels"]["test"]
    names = list(ds.extra["truth_names"])
    fovs = study_fovs(ds, "test", run.config.cohort) if plan.spacing_mm is not None else None
    todo, masks = [], []
    for cid, out_idx, label, score, target in picks:
        row = position[cid]
        todo.append(ExplainCase(local[row], label, out_idx, cid, score, target))
        mask = None
        if truth[row, names.index(label)] == 1:
            path = ds.extra["mask_path"]["test"][row]
            grid = (plan.spacing_mm, fovs[row]) if fovs is not None else (None, None)
            mask = resized_mask(path, label, plan.shape, *grid)
        masks.append(mask)
    _, index = render_cases(
        run.model,
        inputs,
        display,
        todo,
        Path(run_dir) / "heatmaps",
        method=method,
        layer=layer,
        masks=masks,
        spacing=plan.spacing_mm or (1.0, 1.0, 1.0),
        task=run.task,  # scores and TP/FP recomputed from the checkpoint explained
        tolerance=parse_tolerance(None, plan.spacing_mm),  # peak within 10 mm of the mask
        draw=draw,
    )
    if "pointing_game" not in index or index["pointing_game"].isna().all():
        return None
    scored = index.dropna(subset=["pointing_game"]).copy()
    columns = ["pointing_game", "pointing_game_strict", "chance", "chance_strict", "iou", "dice"]
    scored[columns] = scored[columns].astype(float)
    table = (
        scored.groupby("label", sort=False)
        .agg(n=("pointing_game", "size"), **{c: (c, "mean") for c in columns})
        .reset_index()
    )
    total = {"label": "all", "n": len(scored), **{c: scored[c].mean() for c in columns}}
    out = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    out.insert(1, "tolerance", str(index["tolerance"].dropna().iloc[0]))
    return out


def truth_aurocs(run_dir: str | Path, cohort: CtCohort, labels: Sequence[str]) -> dict[str, float]:
    """Test AUROC of each abnormality against the true findings (not the report labels)."""
    rows = _test_rows(Path(run_dir))
    ds = cohort.dataset
    position = {str(i): n for n, i in enumerate(ds.ids["test"])}
    truth = ds.extra["true_labels"]["test"][[position[str(i)] for i in rows["id"]]]
    names = list(ds.extra["truth_names"])
    out = {}
    for label in labels:
        y = truth[:, names.index(label)]
        s = rows[f"score:{label}"].to_numpy(float)
        out[label] = float(delong(y, s).auc[0]) if 0 < np.nansum(y) < len(y) else float("nan")
    return out


def _threshold(table: pd.DataFrame, abnormality: str) -> float:
    """The evaluation's threshold for an output (chosen on validation), 0.5 when it has none."""
    thr = float(table.loc[abnormality, "threshold"]) if abnormality in table.index else np.nan
    return 0.5 if not np.isfinite(thr) else thr


def _draft_score(score: float, threshold: float) -> float:
    """The score the draft report's certainty bands read, calibrated to the threshold: at the
    threshold "possible", above it "likely"."""
    if score >= threshold:
        return min(1.0, 0.35 + 0.5 * (score - threshold) / max(1e-6, 1 - threshold))
    return min(1.0, 0.35 * score / max(threshold, 1e-6))


def _study_findings(
    row: pd.Series, abnormalities: Sequence[str], table: pd.DataFrame, located: Sequence[str]
) -> tuple[list[ScoredFinding], list[dict]]:
    """One study's scored findings (one location per abnormality: its best located output when
    the model has one) and the draft report's inputs."""
    findings, drafts = [], []
    for abn in abnormalities:
        score, thr = float(row[f"score:{abn}"]), _threshold(table, abn)
        locs = [c for c in located if c.split(LOCATION_SEP)[0] == abn]
        best = max(locs, key=lambda c: float(row[f"score:{c}"])) if locs else None
        loc = best.split(LOCATION_SEP)[1] if best else None
        findings.append(ScoredFinding(abn, loc, score, thr))
        drafts.append({"abnormality": abn, "location": loc, "score": _draft_score(score, thr)})
    return findings, drafts


def true_urgency(true_findings: Sequence[str]) -> str:
    """The most urgent level among a study's true findings ("none" without findings)."""
    levels = [urgency_of(a) for a in true_findings]
    return min(levels, key=URGENCY_RANK.__getitem__) if levels else NO_FINDING


def _findings_text(result: Triage, sizes: Mapping[str, str]) -> str:
    return "; ".join(
        f"{f.abnormality}{f' ({f.location.replace(chr(95), chr(32))})' if f.location else ''}"
        f" {f.score:.2f}{f' (measured: {sizes[f.abnormality]})' if f.abnormality in sizes else ''}"
        for f in result.present
    )


def _measured_note(sizes: Mapping[str, str]) -> str:
    if not sizes:
        return ""
    return f"MEASURED (segmentation model, not reviewed): {'; '.join(sizes.values())}.\n"


def _measured(result: Triage, lesions: Mapping[str, str]) -> dict[str, str]:
    """ "3.1 cm mass in the right upper lobe" per finding above threshold that the segmentation
    model measured."""
    present = (f.abnormality for f in result.present)
    return {name: lesions[name] for name in present if name in lesions}


def triage_list(
    run_dir: str | Path,
    evaluation: object,
    abnormalities: Sequence[str],
    *,
    cohort: CtCohort | None = None,
    measurements: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Test studies ranked for reading (`radlens.reports.triage`): most urgent finding above its
    threshold first (critical, urgent, routine, none), then the highest score. Thresholds are the
    evaluation's (chosen on validation); one location per finding (its best located output when
    the model has one). `measurements` {study: {finding: "3.1 cm mass in the right upper lobe"}}
    (a segmentation model's largest candidate, `measured_lesions`): findings above threshold name
    their measured size and lobe, and the draft report ends with them."""
    rows = _test_rows(Path(run_dir))
    table = evaluation.table.set_index("label")  # type: ignore[attr-defined]
    vocab = load_vocabulary("chest_ct")
    located = [c[6:] for c in rows.columns if c.startswith("score:") and LOCATION_SEP in c]
    truth = {}
    if cohort is not None:
        truth = dict(
            zip(cohort.table["study_id"].astype(str), cohort.table["true_findings"], strict=True)
        )
    ranked = []
    for _, r in rows.iterrows():
        findings, drafts = _study_findings(r, abnormalities, table, located)
        result = triage_findings(findings)
        sid = str(r["id"])
        sizes = _measured(result, (measurements or {}).get(sid, {}))
        true = truth.get(sid)
        true_ids = list(dict.fromkeys(f["abnormality"] for f in json.loads(true))) if true else []
        entry = {
            "study_id": sid,
            "site": str(r.get("site", "")),
            "urgency": result.urgency,
            "findings": _findings_text(result, sizes) or "no finding above threshold",
            "top_score": round(result.top_score or 0.0, 4),
            "draft_report": write_draft(drafts, vocab=vocab).text + _measured_note(sizes),
            "true_findings": ", ".join(true_ids),
            "true_urgency": true_urgency(true_ids) if true is not None else "",
        }
        ranked.append((sort_key(result, sid), entry))
    frame = pd.DataFrame([entry for _, entry in sorted(ranked, key=lambda item: item[0])])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def append_triage_section(report: str | Path, triage: pd.DataFrame) -> Path:
    """Insert (or replace) a "Triage list" section in report.html, escaped, before </body>."""
    start, end = "<!-- radlens:triage -->", "<!-- /radlens:triage -->"
    head = "".join(
        f"<th>{html.escape(c.replace('_', ' '))}</th>"
        for c in (
            "rank",
            "study",
            "site",
            "urgency",
            "findings above threshold",
            "top score",
            "true findings",
            "draft report",
        )
    )
    body = []
    for r in triage.itertuples():
        cells = [
            str(r.rank),
            r.study_id,
            r.site,
            r.urgency,
            r.findings,
            f"{r.top_score:.3f}",
            r.true_findings,
        ]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        draft = (
            f"<td><details><summary>draft</summary><pre>{html.escape(r.draft_report)}</pre>"
            "</details></td>"
        )
        cls = f' class="urgency-{html.escape(r.urgency)}"'
        body.append(f"<tr{cls}>{tds}{draft}</tr>")
    section = (
        '<section id="triage"><h2>Triage list (test studies)</h2>'
        "<p>Ranked for reading: the most urgent finding above its threshold (critical, urgent, "
        "routine; thresholds chosen on validation), then the model score. Urgency per abnormality "
        "comes from the chest-CT vocabulary.</p>"
        "<style>#triage tr.urgency-critical td{background:#fde2e1}"
        "#triage tr.urgency-urgent td{background:#fff4d6}#triage pre{white-space:pre-wrap}</style>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "</section>"
    )
    return insert_section(report, start, end, section)


def insert_section(report: str | Path, start: str, end: str, section: str) -> Path:
    """Insert `section` between the markers `start` and `end` before </body> of report.html,
    replacing an earlier one with the same markers (markers already in `section` are kept)."""
    path = Path(report)
    if not path.is_file():
        raise EvaluationError(f"{path} not found; write the evaluation report first")
    page = path.read_text(encoding="utf-8")
    if start in page and end in page:
        page = page[: page.index(start)] + page[page.index(end) + len(end) :]
    if not (section.startswith(start) and section.endswith(end)):
        section = f"{start}{section}{end}"
    marker = "</body>"
    page = page.replace(marker, section + marker, 1) if marker in page else page + section
    atomic_write_text(path, page)
    return path
