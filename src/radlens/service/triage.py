"""From predictions to findings, urgency and the draft report text.

Urgency per abnormality comes from the labeler's chest-CT vocabulary (data, not code):
`load_vocabulary("chest_ct").abnormalities[id].urgency` in critical / urgent / routine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from radlens.service.scoring import Prediction

URGENCY_RANK = {"critical": 0, "urgent": 1, "routine": 2}
NO_FINDING_RANK = 3
UNSCORED_RANK = 9


@functools.cache
def _vocabulary(name: str) -> dict[str, object]:
    """abnormality id -> vocabulary entry (with `.urgency`) from the labeler's vocabulary."""
    from radlens.reports.vocabulary import load_vocabulary

    return dict(load_vocabulary(name).abnormalities)


def urgency_of(abnormality: str, vocab: str = "chest_ct") -> str:
    """'critical' | 'urgent' | 'routine' for an abnormality id ('routine' if not in the vocab)."""
    entry = _vocabulary(vocab).get(abnormality)
    urgency = str(getattr(entry, "urgency", "routine") or "routine") if entry else "routine"
    return urgency if urgency in URGENCY_RANK else "routine"


def critical_abnormalities(vocab: str = "chest_ct") -> list[str]:
    return sorted(
        a for a, e in _vocabulary(vocab).items() if getattr(e, "urgency", "") == "critical"
    )


@dataclass(frozen=True)
class DerivedFinding:
    abnormality: str
    location: str | None
    status: str  # present | uncertain | absent
    score: float
    urgency: str


@dataclass(frozen=True)
class Triage:
    findings: list[DerivedFinding]
    urgency_rank: int
    top_score: float | None
    top_abnormality: str


def triage(predictions: Iterable[Prediction], threshold: float) -> Triage:
    """One finding per abnormality (its best location): present at >= threshold, uncertain at
    >= threshold / 2, absent below. The study's rank is its most urgent present finding; its top
    finding and score are that level's most probable present finding (the worklist sorts by
    this score within a rank), else the most probable output."""
    best: dict[str, Prediction] = {}
    for pred in predictions:
        if pred.abnormality not in best or pred.score > best[pred.abnormality].score:
            best[pred.abnormality] = pred
    findings: list[DerivedFinding] = []
    for abnormality, pred in best.items():
        status = (
            "present"
            if pred.score >= threshold
            else "uncertain"
            if pred.score >= threshold / 2
            else "absent"
        )
        findings.append(
            DerivedFinding(abnormality, pred.location, status, pred.score, urgency_of(abnormality))
        )
    present = [f for f in findings if f.status == "present"]
    rank = min((URGENCY_RANK[f.urgency] for f in present), default=NO_FINDING_RANK)
    findings.sort(key=lambda f: (URGENCY_RANK[f.urgency], -f.score))
    # the study's top finding is the one that sets its rank: the most probable present finding
    # of the most urgent level; with no present finding, the most probable output
    deciding = [f for f in present if URGENCY_RANK[f.urgency] == rank] or findings
    top = max(deciding, key=lambda f: f.score, default=None)
    return Triage(
        findings=findings,
        urgency_rank=rank,
        top_score=None if top is None else top.score,
        top_abnormality="" if top is None else top.abnormality,
    )


def draft_report(predictions: Iterable[Prediction]) -> str:
    """The draft report text from the model's predictions (`radlens.reports.writer`): one
    sentence per finding with its locations and certainty, negatives for the key critical ones."""
    from radlens.reports.writer import write_draft

    return write_draft(list(predictions)).text
