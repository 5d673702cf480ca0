"""Two models (or runs) on the same cases: per-label paired DeLong test, clustered (Obuchowski
1997, patients as clusters) when a patient has several images, image-level otherwise.

The two predictions tables are aligned by image id; their ids, targets and label names must
agree exactly (EvaluationError with counts and examples otherwise), so the test is paired.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from radlens.core import PREDICTIONS, read_predictions
from radlens.errors import EvaluationError
from radlens.evaluation import metrics
from radlens.evaluation.clustered_auc import (
    CI_CLUSTERED,
    CI_IMAGE,
    clustered_delong_paired_test,
    repeats_per_label,
)
from radlens.evaluation.delong_auc import delong_paired_test
from radlens.evaluation.frames import prediction_set


def compare_predictions(
    frame_a: pd.DataFrame,
    frame_b: pd.DataFrame,
    *,
    split: str = "test",
    names: tuple[str, str] = ("a", "b"),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-label AUROC of both models, their difference with its DeLong CI, z and p-value."""
    a, b = prediction_set(frame_a, split), prediction_set(frame_b, split)
    if a.label_names != b.label_names:
        raise EvaluationError(
            f"label names differ: {names[0]} has {list(a.label_names)[:5]},"
            f" {names[1]} has {list(b.label_names)[:5]}"
        )
    ids_a, ids_b = set(a.ids), set(b.ids)
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        raise EvaluationError(
            f"{split} ids differ between {names[0]} ({len(ids_a)}) and {names[1]} ({len(ids_b)}):"
            f" {len(only_a)} only in {names[0]} (e.g. {only_a[:3]}),"
            f" {len(only_b)} only in {names[1]} (e.g. {only_b[:3]}); a paired test needs the"
            " same cases"
        )
    pos_b = pd.Series(np.arange(len(b.ids)), index=b.ids)[a.ids].to_numpy()
    b = b.subset(pos_b)
    same = (a.y == b.y) | (np.isnan(a.y) & np.isnan(b.y))
    if not same.all():
        raise EvaluationError(
            f"targets differ between {names[0]} and {names[1]} for"
            f" {int((~same).any(axis=1).sum())} {split} images; a paired test needs one truth"
        )
    repeat = repeats_per_label(a.y, a.patient_ids)
    res = delong_paired_test(a.y, a.scores, b.scores)
    if repeat.any():
        clustered = clustered_delong_paired_test(a.y, a.scores, b.scores, a.patient_ids)
        res = type(res)(
            **{
                k: np.where(repeat, getattr(clustered, k), getattr(res, k))
                for k in res.__dataclass_fields__
            }
        )
    z = ndtri(0.5 + confidence / 2.0)
    return pd.DataFrame(
        {
            "label": list(a.label_names),
            "split": split,
            "n_patients": a.n_patients,
            "n_images": a.n_images,
            f"auroc_{names[0]}": res.auc_a,
            f"auroc_{names[1]}": res.auc_b,
            "difference": res.difference,
            "difference_low": res.difference - z * res.se_difference,
            "difference_high": res.difference + z * res.se_difference,
            "correlation": res.correlation,
            "z": res.z,
            "p_value": res.p_value,
            "test_method": np.where(repeat, CI_CLUSTERED, CI_IMAGE),
            "macro_difference": metrics.macro(res.difference),
        }
    )


def compare_runs(run_a: str | Path, run_b: str | Path, *, split: str = "test") -> pd.DataFrame:
    """`compare_predictions` of RUN_A/predictions.parquet and RUN_B/predictions.parquet."""
    run_a, run_b = Path(run_a), Path(run_b)
    return compare_predictions(
        read_predictions(run_a / PREDICTIONS),
        read_predictions(run_b / PREDICTIONS),
        split=split,
        names=(run_a.name, run_b.name) if run_a.name != run_b.name else ("a", "b"),
    )
