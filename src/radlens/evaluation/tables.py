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

from radlens.evaluation import calibration, metrics, proportions
from radlens.evaluation.bootstrap import bootstrap_auc_ap
from radlens.evaluation.clustered_auc import CI_CLUSTERED, clustered_delong, headline_delong
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


def _row_note(n_pos: int, n_neg: int, thr: float, caveat: str, split: str, chosen_on: str) -> str:
    """The table's note: undefined AUROC / CI, missing threshold, threshold caveat."""
    parts = [_note(n_pos, n_neg, split), caveat]
    if np.isnan(thr) and not caveat:
        parts.append(f"no threshold: one class only in {chosen_on}")
    return "; ".join(p for p in parts if p)


def _bootstrap(ps: PredictionSet, n_bootstrap: int, confidence: float, seed: int):
    if n_bootstrap <= 0:
        return None
    return bootstrap_auc_ap(
        ps.y,
        ps.scores,
        patient_ids=ps.patient_ids,
        normalise=None,  # already normalised by prediction_set
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        micro=True,
    )


def _auroc_columns(ps: PredictionSet, confidence: float, boot) -> dict:
    """Headline AUROC CI (clustered DeLong where a patient has several images of the label,
    image-level DeLong where each has one), the image-level CI beside it, the bootstrap CI."""
    n_labels = len(ps.label_names)
    head, method = headline_delong(ps.y, ps.scores, ps.patient_ids)
    image = delong(ps.y, ps.scores)
    low, high = head.ci(confidence)
    ilow, ihigh = image.ci(confidence)
    nan = np.full(n_labels, np.nan)
    return {
        "auroc": head.auc,
        "auroc_se": head.se,
        "auroc_low": low,
        "auroc_high": high,
        "auroc_ci_method": method,
        "auroc_image_low": ilow,
        "auroc_image_high": ihigh,
        "auroc_boot_low": boot.low[n_labels : 2 * n_labels] if boot else nan,
        "auroc_boot_high": boot.high[n_labels : 2 * n_labels] if boot else nan,
    }


def _rate_columns(ps: PredictionSet, thresholds: np.ndarray, confidence: float) -> dict:
    op = metrics.operating_metrics(ps.y, ps.scores, thresholds)
    intervals, method = proportions.rate_intervals(
        ps.y, ps.scores, thresholds, ps.patient_ids, confidence
    )
    out: dict = {"flagged": proportions.flagged_fraction(ps.y, ps.scores, thresholds)}
    for key in ("sensitivity", "specificity", "ppv", "npv"):
        out[key] = op[key]
        out[f"{key}_low"], out[f"{key}_high"] = intervals[key]
    out["rate_ci_method"] = method
    out["f1"] = op["f1"]
    out["balanced_accuracy"] = proportions.balanced_accuracy(op)
    out |= {k: op[k] for k in ("tp", "fp", "tn", "fn")}
    return out


def label_table(
    ps: PredictionSet,
    *,
    thresholds: np.ndarray,
    threshold_from: str,
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    calibrated_scores: np.ndarray | None = None,
    threshold_positives: np.ndarray | None = None,
    threshold_caveat: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The per-label table and the macro/micro summary of one split (or one site of it).

    `threshold_positives` / `threshold_caveat` (L,) are the provenance of the thresholds (the
    positives of the split that chose them; "" or a caveat when they were few).
    """
    y, s = ps.y, ps.scores
    n_labels = len(ps.label_names)
    boot = _bootstrap(ps, n_bootstrap, confidence, seed)
    auroc = _auroc_columns(ps, confidence, boot)
    ap = metrics.average_precision(y, s)
    known = (~np.isnan(y)).sum(axis=0)
    n_pos, n_neg = (y == 1.0).sum(axis=0), (y == 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = n_pos / known
    rates = _rate_columns(ps, thresholds, confidence)
    nan = np.full(n_labels, np.nan)
    caveat = threshold_caveat if threshold_caveat is not None else [""] * n_labels
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
            **auroc,
            "auprc": ap,
            "auprc_low": boot.low[:n_labels] if boot else nan,
            "auprc_high": boot.high[:n_labels] if boot else nan,
            "threshold": thresholds,
            "threshold_from": threshold_from,
            "threshold_n_positive": nan if threshold_positives is None else threshold_positives,
            "threshold_caveat": list(caveat),
            **rates,
            "brier": calibration.brier_score(y, s),
            "ece": calibration.expected_calibration_error(y, s),
            "note": [
                _row_note(int(a), int(b), t, c, ps.split, threshold_from)
                for a, b, t, c in zip(n_pos, n_neg, thresholds, caveat, strict=True)
            ],
        }
    )
    if calibrated_scores is not None:
        table["brier_calibrated"] = calibration.brier_score(y, calibrated_scores)
        table["ece_calibrated"] = calibration.expected_calibration_error(y, calibrated_scores)
    summary = summarize(ps, table, confidence=confidence, boot=boot)
    if boot is not None:
        summary["macro_auroc_ci"] = [float(boot.low[-4]), float(boot.high[-4])]
        summary["macro_auprc_ci"] = [float(boot.low[-3]), float(boot.high[-3])]
        summary["n_bootstrap"] = n_bootstrap
        summary["ci_method_bootstrap"] = "patient-level percentile bootstrap"
    return table, summary


def _micro_auroc(ps: PredictionSet, confidence: float, boot) -> dict:
    """Micro AUROC (all known case x label pairs pooled) with a patient-aware CI: the patient
    bootstrap when it ran, else clustered DeLong with patients as clusters (a patient's labels
    and images are one cluster); never the pooled DeLong, which treats pairs as independent."""
    known = ~np.isnan(ps.y)
    y_m, s_m = ps.y[known], ps.scores[known]
    pair_patient = np.broadcast_to(ps.patient_ids[:, None], ps.y.shape)[known]
    clustered = clustered_delong(y_m, s_m, pair_patient)
    if boot is not None:
        ci = [float(boot.low[-2]), float(boot.high[-2])]
        method = "patient-level percentile bootstrap (pairs of a patient resampled together)"
    else:
        low, high = clustered.ci(confidence)
        ci = [float(low[0]), float(high[0])]
        method = CI_CLUSTERED + " over case x label pairs"
    return {
        "micro_auroc": float(clustered.auc[0]),
        "micro_auroc_ci": ci,
        "micro_auroc_ci_method": method,
        "micro_auprc": float(metrics.average_precision(y_m[:, None], s_m[:, None])[0]),
    }


def summarize(ps: PredictionSet, table: pd.DataFrame, *, confidence: float, boot=None) -> dict:
    """Macro (mean of defined labels) and micro (pooled cases x labels) figures."""
    auc = table["auroc"].to_numpy(dtype=np.float64)
    pooled = {k: int(table[k].sum()) for k in ("tp", "fp", "tn", "fn")}
    micro_rates = metrics.rates(pooled)
    methods = sorted(set(table["auroc_ci_method"]))
    out = {
        "split": ps.split,
        "site": site_name(ps),
        "n_patients": ps.n_patients,
        "n_images": ps.n_images,
        "n_labels": len(ps.label_names),
        "n_labels_defined": int(np.isfinite(auc).sum()),
        "macro_auroc": metrics.macro(auc),
        "macro_auprc": metrics.macro(table["auprc"].to_numpy(dtype=np.float64)),
        **_micro_auroc(ps, confidence, boot),
        "confidence": confidence,
        "ci_method_label": "; ".join(methods) + " (Sun & Xu fast algorithm), normal approximation",
        "ci_method_rates": "; ".join(sorted(set(table["rate_ci_method"]))),
    }
    for key in ("sensitivity", "specificity", "ppv", "npv", "f1", "balanced_accuracy"):
        out[f"macro_{key}"] = metrics.macro(table[key].to_numpy(dtype=np.float64))
    for key in ("sensitivity", "specificity", "ppv", "npv", "f1"):
        out[f"micro_{key}"] = float(micro_rates[key])
    if ps.target is not None and ps.probs is not None:
        out["accuracy"] = float(np.mean(np.argmax(ps.probs, axis=1) == ps.target))
    else:
        out["accuracy_note"] = (
            "no pooled accuracy for multi-label tasks (pooled over label pairs it is driven by"
            " negatives); macro_balanced_accuracy = mean over labels of (sens + spec) / 2"
        )
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
    its clustered DeLong CI (patients as clusters), flagged in-domain when the two sites agree.
    """
    rows = []
    for train_site, frame in runs.items():
        ps = prediction_set(frame, split)
        for test_site in sorted(np.unique(ps.sites)):
            sub = ps.subset(ps.sites == test_site)
            dl = delong(sub.y, sub.scores)
            micro = _micro_auroc(sub, confidence, None)
            low, high = micro["micro_auroc_ci"]
            rows.append(
                {
                    "train_site": train_site,
                    "test_site": test_site or "unknown",
                    "in_domain": str(train_site) == str(test_site),
                    "split": split,
                    "n_patients": sub.n_patients,
                    "n_images": sub.n_images,
                    "macro_auroc": metrics.macro(dl.auc),
                    "micro_auroc": micro["micro_auroc"],
                    "micro_auroc_low": low,
                    "micro_auroc_high": high,
                    "n_labels_defined": int(np.isfinite(dl.auc).sum()),
                }
            )
    return pd.DataFrame(rows)
