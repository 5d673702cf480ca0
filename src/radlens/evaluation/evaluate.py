"""One call from a predictions table to every figure: `evaluate_predictions`.

Order of work: leakage audit (refuses on patient overlap), thresholds and temperature chosen on the
validation split when one is given (never on the evaluated split unless no validation exists, which
the table then says), per-label table with DeLong CIs, optional patient bootstrap, per-site tables.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radlens.data import normalise_patient_id
from radlens.errors import EvaluationError
from radlens.evaluation import calibration, metrics, tables
from radlens.evaluation.audit import audit_leakage
from radlens.evaluation.frames import PredictionSet, join_labels, prediction_set
from radlens.evaluation.thresholds import MIN_VAL_POSITIVES, select_thresholds
from radlens.evaluation.tripod import cohort_summary

log = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """Everything `write_report` and `to_json` need; `data` keeps the evaluated arrays;
    `figures` the MedMNIST-evaluator figures (AUC, ACC, ...) of a split re-predicted from the
    checkpoint by `evaluate_run_dir(..., repredict=True)`, else None (not in `to_json`)."""

    split: str
    task: str
    label_names: tuple[str, ...]
    table: pd.DataFrame
    summary: dict
    operating_point: str
    threshold_from: str
    calibration: dict
    temperature: dict | None
    leakage: dict
    site_table: pd.DataFrame | None = None
    site_summaries: list[dict] = field(default_factory=list)
    data: PredictionSet | None = field(default=None, repr=False)
    calibrated_scores: np.ndarray | None = field(default=None, repr=False)
    figures: dict | None = field(default=None, repr=False)
    threshold_provenance: dict = field(default_factory=dict)
    cohort: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return json_ready(
            {
                "split": self.split,
                "task": self.task,
                "label_names": list(self.label_names),
                "operating_point": self.operating_point,
                "threshold_from": self.threshold_from,
                "summary": self.summary,
                "labels": self.table.to_dict(orient="records"),
                "sites": None
                if self.site_table is None
                else {
                    "labels": self.site_table.to_dict(orient="records"),
                    "summaries": self.site_summaries,
                },
                "calibration": self.calibration,
                "temperature": self.temperature,
                "leakage_audit": self.leakage,
                "threshold_provenance": self.threshold_provenance,
                "cohort": self.cohort,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """JSON with NaN written as null (undefined figures stay visible as null + note)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def json_ready(obj):
    """numpy scalars/arrays to Python, NaN/inf to None, recursively."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _calibration_block(ps: PredictionSet, n_bins: int) -> dict:
    curves = {}
    for j, name in enumerate(ps.label_names):
        c = calibration.reliability_curve(ps.y[:, j], ps.scores[:, j], n_bins)
        curves[name] = {
            "mean_predicted": c.mean_predicted,
            "observed": c.observed,
            "count": c.count,
            "ece": c.ece(),
        }
    ece = calibration.expected_calibration_error(ps.y, ps.scores, n_bins)
    brier = calibration.brier_score(ps.y, ps.scores)
    return {
        "n_bins": n_bins,
        "binning": "equal-width",
        "curves": curves,
        "macro_ece": metrics.macro(ece),
        "macro_brier": metrics.macro(brier),
    }


def _temperature(ps: PredictionSet, val: PredictionSet) -> tuple[dict, np.ndarray]:
    """Fit T on validation, apply to the evaluated split; returns (summary, calibrated scores)."""
    if val.probs is not None and val.target is not None:
        ts = calibration.fit_temperature(val.probs, val.target, "softmax", fitted_on=val.split)
        probs = ts.apply(ps.probs)
        scores = probs[:, 1:] if ps.task == "binary" and probs.shape[1] == 2 else probs
    else:
        ts = calibration.fit_temperature(val.scores, val.y, "sigmoid", fitted_on=val.split)
        scores = ts.apply(ps.scores)
    ece_before = metrics.macro(calibration.expected_calibration_error(ps.y, ps.scores))
    ece_after = metrics.macro(calibration.expected_calibration_error(ps.y, scores))
    summary = {
        "temperature": ts.temperature,
        "kind": ts.kind,
        "fitted_on": ts.fitted_on,
        "applied_to": ps.split,
        "val_nll_before": ts.nll_before,
        "val_nll_after": ts.nll_after,
        "macro_ece_before": ece_before,
        "macro_ece_after": ece_after,
        "macro_brier_before": metrics.macro(calibration.brier_score(ps.y, ps.scores)),
        "macro_brier_after": metrics.macro(calibration.brier_score(ps.y, scores)),
    }
    return summary, scores


def _validation_set(
    frame: pd.DataFrame,
    split: str,
    val_frame: pd.DataFrame | None,
    val_split: str,
    normalise: Callable[[object], str],
) -> tuple[PredictionSet | None, list | None]:
    """The split that tunes thresholds and temperature (`val_frame`, else the frame's own
    `val_split` rows, else None) and the raw patient ids of a separate `val_frame`, which the
    audit must not find in `split` either (the frame's own val rows it reads itself)."""
    if val_frame is not None:
        val = prediction_set(val_frame, val_split, normalise=normalise)
        rows = val_frame["split"].astype(str) == val_split
        return val, val_frame.loc[rows, "patient_id"].tolist()
    if split != val_split and (frame["split"].astype(str) == val_split).any():
        return prediction_set(frame, val_split, normalise=normalise), None
    return None, None


def _check_same_labels(ps: PredictionSet, val: PredictionSet | None) -> None:
    if val is not None and val.label_names != ps.label_names:
        raise EvaluationError(
            f"validation labels {list(val.label_names)[:5]} differ from {ps.split} labels"
            f" {list(ps.label_names)[:5]}"
        )


def evaluate_predictions(
    frame: pd.DataFrame,
    *,
    split: str = "test",
    val_frame: pd.DataFrame | None = None,
    val_split: str = "val",
    by: str | None = None,
    operating_point: str | float | metrics.OperatingPoint = "youden",
    n_bootstrap: int = 0,
    confidence: float = 0.95,
    n_bins: int = 10,
    seed: int = 0,
    labels: pd.DataFrame | None = None,
    train_patient_ids=None,
    train_images=None,
    eval_images=None,
    val_images=None,
    duplicate_cache=None,
    audit: bool = True,
    normalise_ids: Callable[[object], str] = normalise_patient_id,
    min_val_positives: int = MIN_VAL_POSITIVES,
    small_val_policy: str = "flag",
) -> EvaluationResult:
    """Evaluate one split of a predictions table (see module doc for the order of work).

    `val_frame` (default: the same frame's `val_split` rows when present) chooses thresholds and
    fits the temperature; `by="site"` adds per-site tables; `n_bootstrap` > 0 adds patient-level
    bootstrap CIs (AUPRC, macro AUROC/AUPRC). The leakage audit compares the split's patients with
    the table's train/val rows and `train_patient_ids`, and `train_images`, `val_images` and
    `eval_images` for near-duplicates (descriptors cached in `duplicate_cache`). `labels` (an
    `id` + target table) replaces the table's own targets; ids must match the predictions exactly.
    Patient ids are compared, counted and bootstrapped after `normalise_ids` (e.g.
    `functools.partial(normalise_patient_id, zeros=False)` keeps leading zeros significant).
    Thresholds chosen on fewer than `min_val_positives` positives are flagged
    (`small_val_policy` "flag") or refused ("refuse").
    """
    if by not in (None, "site"):
        raise EvaluationError(f"by={by!r} is not supported; expected None or 'site'")
    op = metrics.parse_operating_point(operating_point)
    if labels is not None:
        frame = join_labels(frame, labels)
    ps = prediction_set(frame, split, normalise=normalise_ids)
    val, val_patient_ids = _validation_set(frame, split, val_frame, val_split, normalise_ids)
    leakage = {"skipped": True}
    if audit:
        images = dict(train_images=train_images, eval_images=eval_images, val_images=val_images)
        leakage = audit_leakage(
            frame, split=split, train_patient_ids=train_patient_ids,
            val_patient_ids=val_patient_ids, normalise=normalise_ids, **images,
            duplicate_cache=duplicate_cache,
        ).to_dict()  # fmt: skip
    _check_same_labels(ps, val)
    choice = select_thresholds(
        ps, val, op, min_positives=min_val_positives, policy=small_val_policy
    )
    temperature, calibrated = _temperature(ps, val) if val is not None else (None, None)
    common = dict(n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    common |= dict(thresholds=choice.thresholds, threshold_from=choice.chosen_on)
    common |= dict(threshold_positives=choice.n_positive, threshold_caveat=choice.caveat)
    table, summary = tables.label_table(ps, calibrated_scores=calibrated, **common)
    summary["operating_point"] = op.describe()
    site_table, site_summaries = tables.by_site(ps, **common) if by == "site" else (None, [])
    return EvaluationResult(
        split=split,
        task=ps.task,
        label_names=ps.label_names,
        table=table,
        summary=summary,
        operating_point=op.describe(),
        threshold_from=choice.chosen_on,
        calibration=_calibration_block(ps, n_bins),
        temperature=temperature,
        leakage=leakage,
        site_table=site_table,
        site_summaries=site_summaries,
        data=ps,
        calibrated_scores=calibrated,
        threshold_provenance=choice.provenance(),
        cohort=cohort_summary(frame, normalise_ids),
    )
