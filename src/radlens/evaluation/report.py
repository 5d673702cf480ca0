"""RUN/report.html: one self-contained page (figures inlined as base64 PNG, no network, no JS).

Sections (TRIPOD-AI / CLAIM oriented): where measured, participant flow, cohort (per split, train
included when known, and per site: counts and prevalence per label), per-label metrics with
cluster-aware AUROC CIs and Wilson CIs of the rates, thresholds with their provenance, summary,
ROC / PR curves, calibration, confusion matrix (single-label tasks), per-site table, heatmap
gallery (true and false positives from RUN/heatmaps/), leakage audit, a readable model card
(configuration collapsed) and the reporting checklist. Tables wrap to 1400 px and print in full.
"""

from __future__ import annotations

import base64
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from radlens.core import REPORT, atomic_write_text
from radlens.errors import EvaluationError
from radlens.evaluation import plots
from radlens.evaluation.evaluate import EvaluationResult
from radlens.evaluation.model_card import card_view
from radlens.evaluation.report_rows import cohort_table, fmt, label_rows, threshold_rows
from radlens.evaluation.text_map_section import text_map_section
from radlens.evaluation.tripod import checklist, participant_flow

log = logging.getLogger(__name__)

MAX_GALLERY = 24  # images per gallery section
MAX_IMAGE_BYTES = 2_000_000
OUTCOME_WORDS = {
    "true_positive": "tp",
    "truepositive": "tp",
    "tp": "tp",
    "false_positive": "fp",
    "falsepositive": "fp",
    "fp": "fp",
    "false_negative": "fn",
    "fn": "fn",
    "true_negative": "tn",
    "tn": "tn",
}
SECTIONS = {"tp": "True positives", "fp": "False positives", "fn": "False negatives"}


@dataclass(frozen=True)
class GalleryItem:
    path: str
    caption: str
    outcome: str
    data_uri: str


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _outcome_from_name(rel: Path) -> str | None:
    tokens = [p.lower() for p in rel.parts[:-1]] + rel.stem.lower().replace("-", "_").split("_")
    joined = "_".join(tokens)
    for word in ("true_positive", "false_positive", "false_negative", "true_negative"):
        if word in joined:
            return OUTCOME_WORDS[word]
    for tok in tokens:
        if tok in OUTCOME_WORDS:
            return OUTCOME_WORDS[tok]
    return None


def _outcome_from_data(stem: str, result: EvaluationResult) -> tuple[str | None, str]:
    """Find the image id (and label) named in a file stem and classify it at the thresholds."""
    ps = result.data
    if ps is None:
        return None, ""
    matches = [i for i, image_id in enumerate(ps.ids) if image_id and image_id in stem]
    if not matches:
        return None, ""
    row = max(matches, key=lambda i: len(ps.ids[i]))
    named = [j for j, n in enumerate(ps.label_names) if n and n in stem]
    j = (
        max(named, key=lambda k: len(ps.label_names[k]))
        if named
        else int(np.argmax(ps.scores[row]))
    )
    thr = float(result.table["threshold"].iloc[j])
    truth = ps.y[row, j]
    if np.isnan(truth) or math.isnan(thr):
        return None, ps.label_names[j]
    predicted = ps.scores[row, j] >= thr
    outcome = {(1, 1): "tp", (1, 0): "fp", (0, 1): "fn", (0, 0): "tn"}[(int(predicted), int(truth))]
    return outcome, f"{ps.label_names[j]}, score {ps.scores[row, j]:.2f}"


def _read_index(heatmaps_dir: Path) -> dict[str, tuple[str | None, str]]:
    """{file: (outcome, caption)} from heatmaps/index.csv written by `radlens explain`."""
    path = heatmaps_dir / "index.csv"
    if not path.is_file():
        return {}
    try:
        index = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s): outcomes taken from file names", path, exc)
        return {}
    if "file" not in index.columns:
        return {}
    out = {}
    for row in index.to_dict(orient="records"):
        outcome = OUTCOME_WORDS.get(str(row.get("outcome", "")).strip().lower())
        parts = [str(row["label"])] if "label" in row else []
        score = row.get("score")
        if isinstance(score, float) and math.isfinite(score):
            parts.append(f"score {score:.2f}")
        out[str(row["file"])] = (outcome, ", ".join(parts))
    return out


def heatmap_gallery(heatmaps_dir: Path | None, result: EvaluationResult) -> dict:
    """PNG files under heatmaps_dir grouped into TP / FP / FN (file names or data decide)."""
    sections: dict[str, list[GalleryItem]] = {k: [] for k in SECTIONS}
    unclassified: list[GalleryItem] = []
    if heatmaps_dir is None or not Path(heatmaps_dir).is_dir():
        return {"sections": {}, "unclassified": [], "n_files": 0, "source": None}
    files = sorted(Path(heatmaps_dir).rglob("*.png"))
    index = _read_index(Path(heatmaps_dir))
    for path in files:
        rel = path.relative_to(heatmaps_dir)
        outcome, caption = index.get(rel.as_posix(), (None, ""))
        if outcome is None:
            outcome = _outcome_from_name(rel)
            outcome_data, caption = _outcome_from_data(path.stem, result)
            outcome = outcome or outcome_data
        target = sections.get(outcome or "", unclassified)
        if len(target) >= MAX_GALLERY or outcome == "tn":
            continue
        data = path.read_bytes()
        if len(data) > MAX_IMAGE_BYTES or not data.startswith(b"\x89PNG"):
            log.warning("heatmap %s skipped: not a PNG under %d bytes", rel, MAX_IMAGE_BYTES)
            continue
        target.append(GalleryItem(str(rel), caption, outcome or "", _data_uri(data)))
    return {
        "sections": {SECTIONS[k]: v for k, v in sections.items() if v},
        "unclassified": unclassified,
        "n_files": len(files),
        "source": str(heatmaps_dir),
    }


def _present_sections(result: EvaluationResult, gallery: dict, figures: dict) -> set[str]:
    """Ids of the report's sections that carry content, for the TRIPOD-AI / CLAIM checklist."""
    present = {"where", "flow", "cohort", "metrics", "thresholds", "summary", "calibration"}
    present |= {"model-card"}
    if result.site_table is not None or len(result.cohort.get("sites", [])) > 1:
        present.add("sites")
    if gallery["n_files"]:
        present.add("heatmaps")
    if not result.leakage.get("skipped"):
        present.add("leakage")
    if "confusion" in figures:
        present.add("confusion")
    return present


def render_report(
    result: EvaluationResult,
    *,
    model_card: dict,
    heatmaps_dir: Path | None = None,
    title=None,
    text_maps: dict | None = None,
) -> str:
    """The report page as one HTML string (`text_maps`: `text_map_section`'s content)."""
    ps = result.data
    if ps is None:
        raise EvaluationError("this EvaluationResult has no data arrays; evaluate it again")
    table = result.table
    figures = {
        "roc": _data_uri(plots.roc_figure(ps, table["auroc"].to_numpy())),
        "pr": _data_uri(plots.pr_figure(ps, table["auprc"].to_numpy())),
        "calibration": _data_uri(
            plots.calibration_figure(ps, result.calibration["n_bins"], result.calibrated_scores)
        ),
    }
    thr = float(table["threshold"].iloc[0]) if len(table) else None
    cm = plots.confusion_figure(ps, thr)
    if cm is not None:
        figures["confusion"] = _data_uri(cm)
    summary_rows = [
        (k, fmt(v) if not isinstance(v, list) else " – ".join(fmt(x) for x in v))
        for k, v in result.summary.items()
    ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radlens.evaluation", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("report.html.j2")
    site_rows = label_rows(result.site_table) if result.site_table is not None else []
    gallery = heatmap_gallery(Path(heatmaps_dir) if heatmaps_dir else None, result)
    return template.render(
        title=title or f"radlens evaluation – {model_card.get('name', 'run')}",
        result=result,
        where={
            "split": result.split,
            "sites": sorted({s or "unknown" for s in ps.sites}),
            "n_patients": ps.n_patients,
            "n_images": ps.n_images,
            "operating_point": result.operating_point,
            "threshold_from": result.threshold_from,
            "data": _data_line(model_card.get("data", {})),
        },
        label_rows=label_rows(table),
        bootstrap_ran=bool(result.summary.get("n_bootstrap")),
        threshold_rows=threshold_rows(table),
        threshold_provenance=result.threshold_provenance,
        cohort=cohort_table(result.cohort),
        flow=participant_flow(result.cohort, result.split, result.cohort.get("dataset_sizes")),
        checklist=checklist(_present_sections(result, gallery, figures)),
        summary_rows=summary_rows,
        site_rows=site_rows,
        site_summaries=result.site_summaries,
        figures=figures,
        temperature=result.temperature,
        leakage=result.leakage,
        gallery=gallery,
        text_maps=text_maps,
        card=card_view(model_card, result),
        fmt=fmt,
    )


def write_report(
    run_dir: str | Path,
    result: EvaluationResult,
    *,
    model_card: dict,
    heatmaps_dir: str | Path | None = None,
) -> Path:
    """Write RUN/report.html (heatmaps from `heatmaps_dir`, default RUN/heatmaps if present)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EvaluationError(f"run directory not found: {run_dir}")
    if heatmaps_dir is None and (run_dir / "heatmaps").is_dir():
        heatmaps_dir = run_dir / "heatmaps"
    html = render_report(
        result,
        model_card=model_card,
        heatmaps_dir=Path(heatmaps_dir) if heatmaps_dir else None,
        text_maps=text_map_section(run_dir),
    )
    out = run_dir / REPORT
    atomic_write_text(out, html)
    log.info("wrote %s (%.1f kB)", out, out.stat().st_size / 1024)
    return out


def _data_line(data: dict) -> str:
    """Which data the numbers come from, saying loudly when it is not the official release."""
    name = str(data.get("dataset") or "unknown dataset")
    if data.get("official_data") is False:
        return f"{name} — UNOFFICIAL DATA (not the checksummed release files)"
    if data.get("official_data") is True:
        return f"{name} (official files, checksums verified)"
    return name
