"""Per-label thresholds with their provenance, and a caveat (or refusal) when they rest on few
validation positives.

A threshold chosen on 3 validation positives (Youden's J on 55 studies gave pneumothorax 0.006 in
the CT demo) is mostly noise; `select_thresholds` records where each threshold was chosen and on
how many positives and negatives, and with fewer than `min_positives` positives either flags it
(policy "flag": kept, with a caveat) or refuses it (policy "refuse": no threshold, so no
operating-point figures and no triage flag for that label). `urgency_rates` puts the fraction of
studies a triage flags at each urgency level beside the true fraction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radlens.core import look_up_option
from radlens.errors import ConfigError, EvaluationError
from radlens.evaluation import metrics
from radlens.evaluation.frames import PredictionSet
from radlens.reports import URGENCY_LEVELS

log = logging.getLogger(__name__)

#: default minimum number of positives of a label in the split that chooses its threshold
MIN_VAL_POSITIVES = 10
SMALL_VAL_POLICIES = ("flag", "refuse")


@dataclass(frozen=True)
class ThresholdChoice:
    """Thresholds (L,) and their provenance: the split they were chosen on, its positives and
    negatives per label, and a caveat per label ("" when none)."""

    thresholds: np.ndarray
    chosen_on: str
    n_positive: np.ndarray
    n_negative: np.ndarray
    caveat: np.ndarray
    min_positives: int
    policy: str

    def provenance(self) -> dict:
        return {
            "chosen_on": self.chosen_on,
            "min_positives": self.min_positives,
            "small_split_policy": self.policy,
            "n_caveats": int(sum(1 for c in self.caveat if c)),
        }


def check_policy(min_positives: int, policy: str) -> str:
    """Validated policy name; ConfigError for a negative `min_positives` or unknown policy."""
    if int(min_positives) < 0:
        raise ConfigError(f"min_val_positives must be >= 0, got {min_positives}")
    return look_up_option(policy, SMALL_VAL_POLICIES, what="small-validation policy")


def select_thresholds(
    ps: PredictionSet,
    val: PredictionSet | None,
    op: metrics.OperatingPoint,
    *,
    min_positives: int = MIN_VAL_POSITIVES,
    policy: str = "flag",
) -> ThresholdChoice:
    """Thresholds for `ps` chosen on `val` (else on `ps` itself, flagged optimistic; a fixed
    operating point needs no data), with the small-split caveat / refusal per label."""
    policy = check_policy(min_positives, policy)
    source = ps if val is None else val
    n_pos = (source.y == 1.0).sum(axis=0)
    n_neg = (source.y == 0.0).sum(axis=0)
    if op.method == "fixed":
        thresholds = metrics.choose_thresholds(ps.y, ps.scores, op)
        empty = np.array([""] * len(ps.label_names), dtype=object)
        return ThresholdChoice(thresholds, "fixed", n_pos, n_neg, empty, min_positives, policy)
    if val is None:
        log.warning("no validation predictions: thresholds are chosen on %s itself", ps.split)
        chosen_on = f"{ps.split} (no validation split: optimistic)"
    else:
        chosen_on = val.split
    thresholds = metrics.choose_thresholds(source.y, source.scores, op)
    few = (n_pos < min_positives) & np.isfinite(thresholds)
    split = source.split
    caveat = np.array(
        [
            (
                f"threshold refused: {k} {split} positives (< {min_positives})"
                if policy == "refuse"
                else f"threshold rests on {k} {split} positives (< {min_positives}): unreliable"
            )
            if f
            else ""
            for k, f in zip(n_pos.tolist(), few.tolist(), strict=True)
        ],
        dtype=object,
    )
    if policy == "refuse":
        thresholds = np.where(few, np.nan, thresholds)
    if few.any():
        log.warning(
            "%d label(s) have fewer than %d %s positives: thresholds %s",
            int(few.sum()),
            min_positives,
            split,
            "refused" if policy == "refuse" else "flagged",
        )
    return ThresholdChoice(thresholds, chosen_on, n_pos, n_neg, caveat, min_positives, policy)


def urgency_rates(
    flagged: Sequence[str], truth: Sequence[str], levels: Sequence[str] = URGENCY_LEVELS
) -> pd.DataFrame:
    """Per urgency level: studies flagged at that level (their most urgent finding above its
    threshold) beside the studies whose most urgent *true* finding has that level.

    `flagged` and `truth` hold one level per study ("critical", "urgent", "routine", or anything
    else for none). A triage that calls far more studies critical than are truly critical shows
    it here (the CT demo: 50 of 161 flagged critical, 35 true pneumothoraces).
    """
    flagged, truth = list(flagged), list(truth)
    if len(flagged) != len(truth):
        raise EvaluationError(
            f"urgency_rates: {len(flagged)} flagged levels but {len(truth)} true levels;"
            " expected one of each per study"
        )
    n = len(flagged)
    rows = []
    for level in levels:
        n_flag = sum(1 for f in flagged if f == level)
        n_true = sum(1 for t in truth if t == level)
        both = sum(1 for f, t in zip(flagged, truth, strict=True) if f == t == level)
        rows.append(
            {
                "urgency": level,
                "n_flagged": n_flag,
                "flagged_fraction": n_flag / n if n else float("nan"),
                "n_true": n_true,
                "true_fraction": n_true / n if n else float("nan"),
                "n_flagged_and_true": both,
                "flagged_over_true": n_flag / n_true if n_true else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def urgency_rates_text(rates: pd.DataFrame) -> str:
    """One line per level, for the console and the report: flagged vs true prevalence."""
    return "\n".join(
        f"{r.urgency}: flagged {r.n_flagged} ({r.flagged_fraction:.1%}) vs truly {r.urgency}"
        f" {r.n_true} ({r.true_fraction:.1%}); both {r.n_flagged_and_true}"
        for r in rates.itertuples()
    )
