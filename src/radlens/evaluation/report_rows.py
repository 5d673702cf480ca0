"""Rows of the report's tables, formatted: per-label metrics (CI on a second line so columns stay
narrow), thresholds with their provenance, and the cohort (per split / site counts and
prevalence per label)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from radlens.evaluation.clustered_auc import CI_CLUSTERED

CI_MARK = {CI_CLUSTERED: "clustered"}  # anything else: image-level DeLong


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | np.floating):
        return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def ci_parts(est, low, high) -> tuple[str, str]:
    """(estimate, "low–high" or "") for a value and its interval."""
    if est is None or not np.isfinite(est):
        return "undefined", ""
    if low is None or not (np.isfinite(low) and np.isfinite(high)):
        return f"{est:.3f}", ""
    return f"{est:.3f}", f"{low:.3f}–{high:.3f}"


def ci_text(est, low, high) -> str:
    value, interval = ci_parts(est, low, high)
    return f"{value} ({interval})" if interval else value


def label_rows(table: pd.DataFrame) -> list[dict]:
    """One dict per label row; CI columns as (estimate, interval) pairs."""
    rows = []
    for r in table.to_dict(orient="records"):
        row = {
            "label": r["label"],
            "site": r["site"],
            "n": f"{int(r['n_positive'])}/{int(r['n_labelled'])}",
            "prevalence": fmt(r["prevalence"]),
            "flagged": fmt(r.get("flagged", float("nan"))),
            "auroc": ci_parts(r["auroc"], r["auroc_low"], r["auroc_high"]),
            "auroc_text": ci_text(r["auroc"], r["auroc_low"], r["auroc_high"]),
            "ci_method": CI_MARK.get(r.get("auroc_ci_method", ""), "image"),
            "auprc": ci_parts(r["auprc"], r["auprc_low"], r["auprc_high"]),
            "threshold": fmt(r["threshold"]),
            "ece": fmt(r["ece"]),
            "brier": fmt(r["brier"]),
            "note": r["note"],
        }
        for key in ("sensitivity", "specificity", "ppv", "npv"):
            row[key] = ci_parts(
                r[key], r.get(f"{key}_low", float("nan")), r.get(f"{key}_high", float("nan"))
            )
        rows.append(row)
    return rows


def threshold_rows(table: pd.DataFrame) -> list[dict]:
    """Threshold, where it was chosen and on how many positives, its caveat, and the alerts it
    raises on the evaluated split beside the true prevalence."""
    rows = []
    for r in table.to_dict(orient="records"):
        n_pos = r.get("threshold_n_positive", float("nan"))
        rows.append(
            {
                "label": r["label"],
                "threshold": fmt(r["threshold"], 4),
                "chosen_on": r["threshold_from"],
                "n_positive": "–" if not np.isfinite(n_pos) else str(int(n_pos)),
                "caveat": r.get("threshold_caveat", ""),
                "flagged": fmt(r.get("flagged", float("nan"))),
                "prevalence": fmt(r["prevalence"]),
                "sensitivity": ci_text(
                    r["sensitivity"], r.get("sensitivity_low"), r.get("sensitivity_high")
                ),
                "ppv": ci_text(r["ppv"], r.get("ppv_low"), r.get("ppv_high")),
            }
        )
    return rows


def _column_name(row: dict) -> str:
    return row["split"] if row["site"] == "all" else f"{row['split']} · {row['site']}"


def cohort_table(cohort: dict) -> dict:
    """{"columns": [...], "counts": [(what, [cells])], "labels": [(label, [cells])]} with one
    column per split and per split x site: images, patients, positives/labelled (prevalence)."""
    rows = list(cohort.get("splits", [])) + list(cohort.get("sites", []))
    if not rows:
        return {"columns": [], "counts": [], "labels": []}
    columns = [_column_name(r) for r in rows]
    counts = [
        ("images", [fmt(r["n_images"]) for r in rows]),
        ("patients", [fmt(r["n_patients"]) for r in rows]),
    ]
    names = list(dict.fromkeys(n for r in rows for n in r["labels"]))
    labels = []
    for name in names:
        cells = []
        for r in rows:
            v = r["labels"].get(name)
            if v is None:
                cells.append("not available")
            else:
                cells.append(f"{v['n_positive']}/{v['n_labelled']} ({fmt(v['prevalence'], 2)})")
        labels.append((name, cells))
    return {"columns": columns, "counts": counts, "labels": labels}
