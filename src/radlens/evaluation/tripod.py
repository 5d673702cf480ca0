"""TRIPOD-AI / CLAIM reporting blocks: who is in each split and site (counts and prevalence per
label, train included when the run's training data is at hand), the participant flow, and the
checklist mapping each reporting item to the report section that answers it.

TRIPOD-AI: Collins et al., BMJ 2024;385:e078378. CLAIM: Mongan et al., Radiology: AI 2020 (2024
update). Items are paraphrased; the checklist says "not applicable" or "not available" honestly
instead of pointing at a section that does not answer the item.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from radlens.evaluation.frames import PredictionSet, patient_keys, prediction_set

SPLIT_ORDER = ("train", "val", "test")


def cohort_row(
    split: str,
    label_names: tuple[str, ...],
    y: np.ndarray | None,
    patient_ids: np.ndarray | None,
    *,
    site: str = "all",
    n_images: int | None = None,
    source: str = "",
) -> dict:
    """Counts and per-label prevalence of one split (or one site of it); y (N, L) 1/0/NaN."""
    n = n_images if n_images is not None else (len(y) if y is not None else None)
    row = {
        "split": split,
        "site": site,
        "n_images": n,
        "n_patients": None if patient_ids is None else len(np.unique(patient_ids)),
        "source": source,
        "labels": {},
    }
    if y is not None:
        for j, name in enumerate(label_names):
            col = y[:, j]
            known = int((~np.isnan(col)).sum())
            pos = int((col == 1.0).sum())
            row["labels"][name] = {
                "n_labelled": known,
                "n_positive": pos,
                "prevalence": pos / known if known else None,
            }
    return row


def _rows_of(ps: PredictionSet, source: str) -> list[dict]:
    rows = [cohort_row(ps.split, ps.label_names, ps.y, ps.patient_ids, source=source)]
    sites = sorted(set(ps.sites.tolist()))
    if len(sites) > 1 or (sites and sites[0]):
        for site in sites:
            sub = ps.subset(ps.sites == site)
            rows.append(
                cohort_row(ps.split, ps.label_names, sub.y, sub.patient_ids, site=site or "unknown")
            )
    return rows


def cohort_summary(frame: pd.DataFrame, normalise: Callable[[object], str] | None) -> dict:
    """{"splits": [...], "sites": [...]} for every split of a predictions table: per split (and
    per split x site) images, patients and per-label positives / prevalence."""
    present = frame["split"].astype(str).unique().tolist()
    ordered = [s for s in SPLIT_ORDER if s in present] + sorted(
        s for s in present if s not in SPLIT_ORDER
    )
    splits, sites = [], []
    for split in ordered:
        rows = _rows_of(prediction_set(frame, split, normalise=normalise), "predictions table")
        splits.append(rows[0])
        sites.extend(rows[1:])
    return {"splits": splits, "sites": sites}


def one_vs_rest(labels: np.ndarray, task: str, class_names, label_names) -> np.ndarray:
    """Dataset labels (N, L) as the evaluated one-vs-rest truth (N, len(label_names))."""
    labels = np.asarray(labels, dtype=np.float64)
    if task == "multi-label":
        return labels
    idx = labels.reshape(len(labels), -1)[:, 0]
    cols = [list(class_names).index(n) if n in class_names else -1 for n in label_names]
    return np.stack([np.where(np.isnan(idx), np.nan, idx == c) for c in cols], axis=1)


def train_row(label_names, *, y=None, patient_ids=None, n_images=None, normalise=None) -> dict:
    """The train split's cohort row from the run's training data (ids alone when that is all
    a caller holds: prevalence then "not available")."""
    keys = None if patient_ids is None else patient_keys(patient_ids, normalise)
    return cohort_row(
        "train",
        tuple(label_names),
        y,
        keys,
        n_images=n_images if n_images is not None else (None if y is None else len(y)),
        source="training data" if y is not None else "training patient ids only",
    )


def participant_flow(cohort: dict, evaluated: str, dataset_sizes: dict | None = None) -> list[str]:
    """Sentences from the source data to the evaluated rows, per split."""
    out = []
    sizes = dataset_sizes or {}
    for row in cohort.get("splits", []):
        n_img, n_pat = row["n_images"], row["n_patients"]
        what = f"{n_img if n_img is not None else '?'} images"
        what += f" of {n_pat} patients" if n_pat is not None else " (patients not available)"
        of = sizes.get(row["split"])
        if of is not None and n_img is not None and of != n_img:
            what += f" (a subset of the {of} images of the dataset split)"
        unlabelled = [
            f"{name}: {n_img - v['n_labelled']}"
            for name, v in row["labels"].items()
            if n_img is not None and v["n_labelled"] < n_img
        ]
        role = {
            "train": "model fitting",
            "val": "thresholds and temperature",
        }.get(row["split"], "evaluation" if row["split"] == evaluated else "not used here")
        line = f"{row['split']} ({role}): {what}"
        if unlabelled:
            line += f"; unlabelled and left out per label: {', '.join(unlabelled[:6])}"
            line += " …" if len(unlabelled) > 6 else ""
        out.append(line)
    return out


#: (source, item, what it asks, report section id or None, answer when no section)
CHECKLIST: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("TRIPOD-AI", "1-3", "title, abstract, background", None, "not applicable: a run report"),
    ("TRIPOD-AI", "4", "objectives and intended use", "model-card", ""),
    ("TRIPOD-AI", "5", "data sources and dates", "where", "dates: not available"),
    ("TRIPOD-AI", "6", "setting, sites, eligibility", "cohort", ""),
    ("TRIPOD-AI", "7", "data preparation and pre-processing", "model-card", ""),
    ("TRIPOD-AI", "8", "outcome and how it was assessed", "model-card", ""),
    ("TRIPOD-AI", "9", "predictors (model inputs)", "model-card", ""),
    ("TRIPOD-AI", "10", "sample size", "cohort", ""),
    ("TRIPOD-AI", "11", "missing data (unlabelled cases)", "flow", ""),
    ("TRIPOD-AI", "12", "analysis: model, training, thresholds", "thresholds", ""),
    ("TRIPOD-AI", "12", "analysis: performance measures with CIs", "metrics", ""),
    ("TRIPOD-AI", "12", "analysis: clustering (several images per patient)", "metrics", ""),
    ("TRIPOD-AI", "12", "calibration", "calibration", ""),
    (
        "TRIPOD-AI",
        "13",
        "class imbalance and fairness",
        "sites",
        "subgroups other than site: not available",
    ),
    ("TRIPOD-AI", "14", "model output and its use (thresholds)", "thresholds", ""),
    ("TRIPOD-AI", "15", "training vs evaluation differences (data shift)", "cohort", ""),
    ("TRIPOD-AI", "16", "ethics, funding, conflicts", None, "not available: outside the run"),
    ("TRIPOD-AI", "18", "open science: code and data", "model-card", ""),
    ("TRIPOD-AI", "19", "patient and public involvement", None, "not applicable"),
    ("TRIPOD-AI", "20", "participant flow", "flow", ""),
    ("TRIPOD-AI", "21", "participant characteristics per split", "cohort", ""),
    ("TRIPOD-AI", "22", "model specification", "model-card", ""),
    ("TRIPOD-AI", "23", "model performance with CIs, per site", "metrics", ""),
    ("TRIPOD-AI", "24", "model updating (recalibration)", "calibration", ""),
    ("TRIPOD-AI", "25-27", "interpretation, limitations, usability", "model-card", ""),
    ("CLAIM", "9", "data leakage between splits", "leakage", ""),
    ("CLAIM", "28", "explainability (saliency)", "heatmaps", ""),
    ("CLAIM", "31", "failure analysis (false positives / negatives)", "heatmaps", ""),
)


def checklist(present: set[str]) -> list[dict]:
    """Checklist rows; an item whose section is absent from the page reads "not available"."""
    rows = []
    for source, item, text, section, answer in CHECKLIST:
        where = section if section in present else None
        if section is not None and where is None:
            answer = answer or "not available in this run"
        rows.append(
            {"source": source, "item": item, "text": text, "section": where, "answer": answer}
        )
    return rows
