"""Per-label and summary tables that say where every number was measured.

Every row carries the split, site, number of patients and images, and the prevalence of its label,
next to AUROC (DeLong 95% CI), AUPRC (patient bootstrap CI), operating-point metrics and
calibration. `by_site` repeats the table per site; `external_validation_summary` crosses models
trained on one site with test sets from every site (train-on-A / test-on-B).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from radlens.evaluation import calibration, metrics
from radlens.evaluation.bootstrap import bootstrap_auc_ap
from radlens.evaluation.delong_auc import delong
from radlens.evaluation.frames import PredictionSet, prediction_set

ALL_SITES = "all"


def site_name(ps: PredictionSet) -> str:
    """ "all" for a mix of sites, the site itself when there is one, "unknown" when unnamed."""
    sites = np.unique(ps.sites)
    if len(sites) == 1:
        return str(sites[0]) or "unknown"
    return ALL_SITES


def _note(n_pos: int, n_neg: int, split: str) -> str:
    if n_pos == 0 and n_neg == 0:
        return f"AUROC undefined: no labelled cases in {split}"
    if n_pos == 0:
        return f"AUROC undefined: only negatives in {split}"
    if n_neg == 0:
        return f"AUROC undefined: only positives in {split}"
    if min(n_pos, n_neg) < 2:
        return f"no DeLong CI: a single {'positive' if n_pos < 2 else 'negative'} in {split}"
    return ""


def label_table(
    ps: PredictionSet,
    *,
    thresholds: np.ndarray,
    threshold_from: str,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    calibrated_scores: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The per-label table and the macro/micro summary of one split (or one site of it)."""
    y, s = ps.y, ps.scores
    dl = delong(y, s)
    low, high = dl.ci(confidence)
    ap = metrics.average_precision(y, s)
    op = metrics.operating_metrics(y, s, thresholds)
    known = (~np.isnan(y)).sum(axis=0)
    n_pos, n_neg = dl.n_positive, dl.n_negative
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = n_pos / known
    brier = calibration.brier_score(y, s)
    ece = calibration.expected_calibration_error(y, s)
    n_labels = len(ps.label_names)
    boot = None
    if n_bootstrap > 0:
        boot = bootstrap_auc_ap(
            y,
            s,
            patient_ids=ps.patient_ids,
            normalise=None,  # already normalised by prediction_set
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
    nan = np.full(n_labels, np.nan)
    table = pd.DataFrame(
        {
            "label": list(ps.label_names),
            "split": ps.split,
            "site": site_name(ps),
            "n_patients": ps.n_patients,
            "n_images": ps.n_images,
            "n_labelled": known,
            "n_positive": n_pos,
            "n_negative": n_neg,
            "prevalence": prevalence,
            "auroc": dl.auc,
            "auroc_se": dl.se,
            "auroc_low": low,
            "auroc_high": high,
            "auroc_boot_low": boot.low[n_labels : 2 * n_labels] if boot else nan,
            "auroc_boot_high": boot.high[n_labels : 2 * n_labels] if boot else nan,
            "auprc": ap,
            "auprc_low": boot.low[:n_labels] if boot else nan,
            "auprc_high": boot.high[:n_labels] if boot else nan,
            "threshold": thresholds,
            "threshold_from": threshold_from,
            **{k: op[k] for k in ("sensitivity", "specificity", "ppv", "npv", "f1")},
            **{k: op[k] for k in ("tp", "fp", "tn", "fn")},
            "brier": brier,
            "ece": ece,
            "note": [
                _note(int(a), int(b), ps.split)
                or (f"no threshold: one class only in {threshold_from}" if np.isnan(t) else "")
                for a, b, t in zip(n_pos, n_neg, thresholds, strict=True)
            ],
        }
    )
    if calibrated_scores is not None:
        table["brier_calibrated"] = calibration.brier_score(y, calibrated_scores)
        table["ece_calibrated"] = calibration.expected_calibration_error(y, calibrated_scores)
    summary = summarize(ps, dl.auc, ap, op, confidence=confidence)
    if boot is not None:
        summary["macro_auroc_ci"] = [float(boot.low[-2]), float(boot.high[-2])]
        summary["macro_auprc_ci"] = [float(boot.low[-1]), float(boot.high[-1])]
        summary["n_bootstrap"] = n_bootstrap
        summary["ci_method_bootstrap"] = "patient-level percentile bootstrap"
    return table, summary


def summarize(
    ps: PredictionSet, auc: np.ndarray, ap: np.ndarray, op: dict, *, confidence: float
) -> dict:
    """Macro (mean of defined labels) and micro (pooled cases x labels) figures."""
    y_micro, s_micro = metrics.micro_pool(ps.y, ps.scores)
    micro = delong(y_micro, s_micro)
    mlow, mhigh = micro.ci(confidence)
    pooled = {k: int(np.sum(op[k])) for k in ("tp", "fp", "tn", "fn")}
    micro_rates = metrics.rates(pooled)
    out = {
        "split": ps.split,
        "site": site_name(ps),
        "n_patients": ps.n_patients,
        "n_images": ps.n_images,
        "n_labels": len(ps.label_names),
        "n_labels_defined": int(np.isfinite(auc).sum()),
        "macro_auroc": metrics.macro(auc),
        "micro_auroc": float(micro.auc[0]),
        "micro_auroc_ci": [float(mlow[0]), float(mhigh[0])],
        "macro_auprc": metrics.macro(ap),
        "micro_auprc": float(metrics.average_precision(y_micro, s_micro)[0]),
        "confidence": confidence,
        "ci_method_label": "DeLong (Sun & Xu fast algorithm), normal approximation",
    }
    for key in ("sensitivity", "specificity", "ppv", "npv", "f1"):
        out[f"macro_{key}"] = metrics.macro(op[key])
        out[f"micro_{key}"] = float(micro_rates[key])
    if ps.target is not None and ps.probs is not None:
        out["accuracy"] = float(np.mean(np.argmax(ps.probs, axis=1) == ps.target))
    else:
        known = ~np.isnan(ps.y)
        out["accuracy"] = float(np.mean((ps.scores[known] >= 0.5) == (ps.y[known] == 1.0)))
    return out


def by_site(
    ps: PredictionSet, *, thresholds: np.ndarray, threshold_from: str, **kwargs
) -> tuple[pd.DataFrame, list[dict]]:
    """The per-label table and summary for each site (thresholds fixed beforehand)."""
    tables, summaries = [], []
    for site in sorted(np.unique(ps.sites)):
        sub = ps.subset(ps.sites == site)
        table, summary = label_table(
            sub, thresholds=thresholds, threshold_from=threshold_from, **kwargs
        )
        table["site"] = site or "unknown"
        summary["site"] = site or "unknown"
        tables.append(table)
        summaries.append(summary)
    return pd.concat(tables, ignore_index=True), summaries


def external_validation_summary(
    runs: Mapping[str, pd.DataFrame], *, split: str = "test", confidence: float = 0.95
) -> pd.DataFrame:
    """Train-on-A / test-on-B table from {training site: predictions frame of that model}.

    Each frame holds one model's predictions on `split` cases from one or more sites (column
    `site`); one row per (training site, test site) with macro AUROC and the micro AUROC with
    its DeLong CI, flagged in-domain when the two sites agree.
    """
    rows = []
    for train_site, frame in runs.items():
        ps = prediction_set(frame, split)
        for test_site in sorted(np.unique(ps.sites)):
            sub = ps.subset(ps.sites == test_site)
            dl = delong(sub.y, sub.scores)
            y_m, s_m = metrics.micro_pool(sub.y, sub.scores)
            micro = delong(y_m, s_m)
            low, high = micro.ci(confidence)
            rows.append(
                {
                    "train_site": train_site,
                    "test_site": test_site or "unknown",
                    "in_domain": str(train_site) == str(test_site),
                    "split": split,
                    "n_patients": sub.n_patients,
                    "n_images": sub.n_images,
                    "macro_auroc": metrics.macro(dl.auc),
                    "micro_auroc": float(micro.auc[0]),
                    "micro_auroc_low": float(low[0]),
                    "micro_auroc_high": float(high[0]),
                    "n_labels_defined": int(np.isfinite(dl.auc).sum()),
                }
            )
    return pd.DataFrame(rows)
