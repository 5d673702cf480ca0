"""Chest-CT run outputs beyond the metric table: heatmaps of the most confident positives with
localization against the phantom masks, AUROC against the true findings, a ranked triage list
(critical findings first, then score) with a draft report per study, and its report.html section.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.transforms import ResizeWithPadOrCrop

from radlens.data.ct_cohort import LOCATION_SEP, CtCohort
from radlens.errors import EvaluationError
from radlens.data.cohort_table import load_masks
from radlens.phantom.geometry import FOV_MM
from radlens.reports.vocabulary import load_vocabulary
from radlens.reports.writer import write_draft

logger = logging.getLogger(__name__)

URGENCY_RANK = {"critical": 0, "urgent": 1, "routine": 2}
NO_FINDING = "none"

__all__ = ["append_triage_section", "explain_top_positives", "triage_list", "truth_aurocs"]


def _test_rows(run_dir: Path) -> pd.DataFrame:
    from radlens.training.run import read_predictions

    preds = read_predictions(Path(run_dir) / "predictions.parquet")
    rows = preds[preds["split"] == "test"].reset_index(drop=True)
    if rows.empty:
        raise EvaluationError(f"{run_dir}/predictions.parquet has no test rows")
    return rows


def resized_mask(
    mask_path: str,
    abnormality: str,
    shape: Sequence[int],
    spacing: Sequence[float] | None = None,
) -> np.ndarray | None:
    """Union of one abnormality's masks (all locations) on the model's input grid, or None.

    The phantom masks cover the whole field of view (`FOV_MM`). With `spacing` (z, y, x mm, as
    the volumes were resampled) they are resized to that grid and centre-cropped/padded to
    `shape` exactly as `radlens.data.volumes.preprocess` crops the volumes; without it the whole field
    of view is resized to `shape`."""
    masks = load_masks(mask_path)
    parts = [m for k, m in masks.items() if k.split(LOCATION_SEP)[0] == abnormality]
    if not parts:
        return None
    union = np.any(np.stack(parts), axis=0).astype(np.float32)
    grid = (
        tuple(round(float(f) / float(s)) for f, s in zip(FOV_MM, spacing, strict=True))
        if spacing is not None
        else tuple(int(v) for v in shape)
    )
    up = F.interpolate(
        torch.from_numpy(union)[None, None], size=grid, mode="trilinear", align_corners=False
    )[0]
    if grid != tuple(int(v) for v in shape):
        up = ResizeWithPadOrCrop(spatial_size=tuple(shape), mode="constant")(up)
        up = torch.as_tensor(up)
    out = up[0].numpy() >= 0.25  # keep small lesions that cover part of a coarse voxel
    return out if out.any() else None


def explain_top_positives(
    run_dir: str | Path, cohort: CtCohort, *, cases: int = 2, method: str = "gradcam"
) -> pd.DataFrame | None:
    """Grad-CAM montages (RUN/heatmaps/) of the `cases` highest-scoring test studies per
    abnormality; returns localization per abnormality (pointing game, IoU, Dice, chance) over
    the cases whose study truly has the finding, or None when there is none."""
    from radlens.explain.run import ExplainCase, pick_cases, render_cases
    from radlens.training.device import images_to_tensor, normalise
    from radlens.training.run import load_run

    run = load_run(run_dir)
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
    todo, masks, chance = [], [], []
    for cid, out_idx, label, score, target in picks:
        row = position[cid]
        todo.append(ExplainCase(local[row], label, out_idx, cid, score, target))
        mask = None
        if truth[row, names.index(label)] == 1:
            mask = resized_mask(
                ds.extra["mask_path"]["test"][row], label, raw.shape[2:], ds.extra.get("spacing")
            )
        masks.append(mask)
        chance.append(float(mask.mean()) if mask is not None else np.nan)
    _, index = render_cases(
        run.model,
        inputs,
        display,
        todo,
        Path(run_dir) / "heatmaps",
        method=method,
        masks=masks,
        spacing=ds.extra["spacing"],
    )
    index["chance"] = chance
    if "pointing_game" not in index or index["pointing_game"].isna().all():
        return None
    scored = index.dropna(subset=["pointing_game"]).copy()
    scored["pointing_game"] = scored["pointing_game"].astype(float)
    table = (
        scored.groupby("label", sort=False)
        .agg(
            n=("pointing_game", "size"),
            pointing_game=("pointing_game", "mean"),
            iou=("iou", "mean"),
            dice=("dice", "mean"),
            chance=("chance", "mean"),
        )
        .reset_index()
    )
    total = {
        "label": "all",
        "n": len(scored),
        "pointing_game": scored["pointing_game"].mean(),
        "iou": scored["iou"].mean(),
        "dice": scored["dice"].mean(),
        "chance": scored["chance"].mean(),
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def truth_aurocs(run_dir: str | Path, cohort: CtCohort, labels: Sequence[str]) -> dict[str, float]:
    """Test AUROC of each abnormality against the true findings (not the report labels)."""
    from radlens.evaluation import delong

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


def triage_list(
    run_dir: str | Path,
    evaluation: object,
    abnormalities: Sequence[str],
    *,
    cohort: CtCohort | None = None,
) -> pd.DataFrame:
    """Test studies ranked for reading: most urgent finding above its threshold first (critical,
    urgent, routine, none), then the highest score. Thresholds are the evaluation's (chosen on
    validation); one location per finding (its best located output when the model has one)."""
    rows = _test_rows(Path(run_dir))
    table = evaluation.table.set_index("label")  # type: ignore[attr-defined]
    vocab = load_vocabulary("chest_ct")
    located = [c[6:] for c in rows.columns if c.startswith("score:") and LOCATION_SEP in c]
    truth = {}
    if cohort is not None:
        truth = dict(
            zip(cohort.table["study_id"].astype(str), cohort.table["true_findings"], strict=True)
        )
    out = []
    for _, r in rows.iterrows():
        found, preds = [], []
        for abn in abnormalities:
            score = float(r[f"score:{abn}"])
            thr = float(table.loc[abn, "threshold"]) if abn in table.index else np.nan
            thr = 0.5 if not np.isfinite(thr) else thr
            locs = [c for c in located if c.split(LOCATION_SEP)[0] == abn]
            loc = (
                max(locs, key=lambda c: float(r[f"score:{c}"])).split(LOCATION_SEP)[1]
                if (locs)
                else None
            )
            # calibrate the band to the threshold: at the threshold "possible", above "likely"
            band = (
                0.35 + 0.5 * (score - thr) / max(1e-6, 1 - thr)
                if score >= thr
                else (0.35 * score / max(thr, 1e-6))
            )
            preds.append({"abnormality": abn, "location": loc, "score": min(1.0, band)})
            if score >= thr:
                found.append((URGENCY_RANK[vocab.abnormalities[abn].urgency], -score, abn, loc))
        found.sort()
        urgency = ["critical", "urgent", "routine"][found[0][0]] if found else NO_FINDING
        top = -found[0][1] if found else max(float(r[f"score:{a}"]) for a in abnormalities)
        text = "; ".join(
            f"{a}{f' ({loc.replace(chr(95), chr(32))})' if loc else ''} {-s:.2f}"
            for _, s, a, loc in found
        )
        out.append(
            {
                "study_id": str(r["id"]),
                "site": str(r.get("site", "")),
                "urgency": urgency,
                "findings": text or "no finding above threshold",
                "top_score": round(top, 4),
                "draft_report": write_draft(preds, vocab=vocab).text,
                "true_findings": ", ".join(
                    dict.fromkeys(f["abnormality"] for f in json.loads(truth[str(r["id"])]))
                )
                if str(r["id"]) in truth
                else "",
            }
        )
    frame = pd.DataFrame(out)
    order = {"critical": 0, "urgent": 1, "routine": 2, NO_FINDING: 3}
    frame["_u"] = frame["urgency"].map(order)
    frame = (
        frame.sort_values(
            ["_u", "top_score", "study_id"], ascending=[True, False, True], kind="stable"
        )
        .drop(columns="_u")
        .reset_index(drop=True)
    )
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def append_triage_section(report: str | Path, triage: pd.DataFrame) -> Path:
    """Insert (or replace) a "Triage list" section in report.html, escaped, before </body>."""
    path = Path(report)
    if not path.is_file():
        raise EvaluationError(f"{path} not found; write the evaluation report first")
    page = path.read_text(encoding="utf-8")
    start, end = "<!-- radlens:triage -->", "<!-- /radlens:triage -->"
    if start in page and end in page:
        page = page[: page.index(start)] + page[page.index(end) + len(end) :]
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
        f'{start}<section id="triage"><h2>Triage list (test studies)</h2>'
        "<p>Ranked for reading: the most urgent finding above its threshold (critical, urgent, "
        "routine; thresholds chosen on validation), then the model score. Urgency per abnormality "
        "comes from the chest-CT vocabulary.</p>"
        "<style>#triage tr.urgency-critical td{background:#fde2e1}"
        "#triage tr.urgency-urgent td{background:#fff4d6}#triage pre{white-space:pre-wrap}</style>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"</section>{end}"
    )
    marker = "</body>"
    page = page.replace(marker, section + marker, 1) if marker in page else page + section
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
