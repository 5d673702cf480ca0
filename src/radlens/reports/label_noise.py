"""Label noise: the labeler's findings against a synthetic cohort's true findings.

A finding counts as labelled when a report calls it present (outside the non-reporting sections);
uncertain mentions count as not labelled (they are masked in training) and are tallied in
``n_uncertain``. Scored per abnormality and per "abnormality@location" with
`radlens.reports.label_eval.score_sets`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from radlens.errors import DataError
from radlens.reports.label_eval import score_sets
from radlens.reports.labeler import Finding
from radlens.reports.tables import reporting
from radlens.reports.vocabulary import LOCATION_SEP

__all__ = ["LabelNoise", "measure_label_noise"]


@dataclass(frozen=True)
class LabelNoise:
    """Labeler vs true findings: per-abnormality table and micro / macro F1 (both levels)."""

    table: pd.DataFrame  # abnormality, tp, fp, fn, support, precision, recall, f1, n_uncertain
    micro_f1: float
    macro_f1: float
    location_micro_f1: float
    location_macro_f1: float

    def to_dict(self) -> dict:
        return {
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "location_micro_f1": self.location_micro_f1,
            "location_macro_f1": self.location_macro_f1,
            "per_abnormality": self.table.set_index("abnormality").to_dict(orient="index"),
        }


def _true_sets(table: pd.DataFrame, located: bool) -> dict[str, set]:
    """label -> study ids with that true finding ("abnormality" or "abnormality@location")."""
    gold: dict[str, set] = {}
    for sid, raw in zip(table["study_id"], table["true_findings"], strict=True):
        for f in json.loads(raw) if isinstance(raw, str) else raw:
            abn = f["abnormality"]
            key = f"{abn}{LOCATION_SEP}{f['location']}" if located else abn
            gold.setdefault(key, set()).add(sid)
    return gold


def _pred_sets(
    table: pd.DataFrame, findings: Sequence[Sequence[Finding]], located: bool, keep: set[str]
) -> dict[str, set]:
    """label -> study ids whose report calls it present (located: only findings with a place)."""
    pred: dict[str, set] = {}
    for sid, fs in zip(table["study_id"], findings, strict=True):
        for f in reporting(fs):
            if f.status != "present" or f.abnormality not in keep:
                continue
            if not located:
                pred.setdefault(f.abnormality, set()).add(sid)
            elif f.location:
                pred.setdefault(f"{f.abnormality}{LOCATION_SEP}{f.location}", set()).add(sid)
    return pred


def _n_uncertain(findings: Sequence[Sequence[Finding]], abnormality: str) -> int:
    """Reports that call `abnormality` uncertain and never present."""
    n = 0
    for fs in findings:
        statuses = {f.status for f in reporting(fs) if f.abnormality == abnormality}
        n += "uncertain" in statuses and "present" not in statuses
    return n


def measure_label_noise(
    table: pd.DataFrame, findings: Sequence[Sequence[Finding]], abnormalities: Sequence[str]
) -> LabelNoise:
    """Labeler precision / recall / F1 against the cohort's true findings, per abnormality.

    `table` has one row per report (``study_id``, ``true_findings``: JSON list of {abnormality,
    location}); `findings` are the labeler's, in table order; `abnormalities` are scored.
    """
    if "true_findings" not in table:
        raise DataError("cohort table has no 'true_findings' column; label noise needs the truth")
    keep = set(abnormalities)
    true_abn = _true_sets(table, located=False)
    by_abn = score_sets(
        {a: true_abn.get(a, set()) for a in abnormalities},
        _pred_sets(table, findings, False, keep),
    )
    by_loc = score_sets(
        {k: s for k, s in _true_sets(table, True).items() if k.split(LOCATION_SEP)[0] in keep},
        _pred_sets(table, findings, True, keep),
    )
    scores = {s.label: s for s in by_abn.labels}
    rows = [
        {
            "abnormality": abn,
            "tp": scores[abn].tp,
            "fp": scores[abn].fp,
            "fn": scores[abn].fn,
            "support": scores[abn].support,
            "precision": round(scores[abn].precision, 4),
            "recall": round(scores[abn].recall, 4),
            "f1": round(scores[abn].f1, 4),
            "n_uncertain": _n_uncertain(findings, abn),
        }
        for abn in abnormalities
    ]
    return LabelNoise(
        pd.DataFrame(rows),
        round(by_abn.micro_f1, 4),
        round(by_abn.macro_f1, 4),
        round(by_loc.micro_f1, 4),
        round(by_loc.macro_f1, 4),
    )
