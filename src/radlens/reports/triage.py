"""The one urgency ranking: from scored findings to a study's triage level.

Urgency per abnormality is data: the chest-CT vocabulary's ``urgency`` (critical / urgent /
routine). A finding is *present* at a score >= its threshold, *uncertain* at >= half of it, else
*absent*. A study ranks by its most urgent present finding (critical 0, urgent 1, routine 2, no
finding 3); within a level by the score of the finding that set the level. The demo's triage list
and the service's worklist both use `triage_findings` `triage_findings` and `sort_key`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from radlens.reports.vocabulary import load_vocabulary

URGENCY_LEVELS = ("critical", "urgent", "routine")
URGENCY_RANK = {level: rank for rank, level in enumerate(URGENCY_LEVELS)}
NO_FINDING = "none"
NO_FINDING_RANK = len(URGENCY_LEVELS)


@functools.cache
def _urgencies(vocab: str) -> dict[str, str]:
    """abnormality id -> urgency, from the labeler's vocabulary."""
    return {
        a: (e.urgency if e.urgency in URGENCY_RANK else "routine")
        for a, e in load_vocabulary(vocab).abnormalities.items()
    }


def urgency_of(abnormality: str, vocab: str = "chest_ct") -> str:
    """'critical' | 'urgent' | 'routine' for an abnormality id ('routine' if not in the vocab)."""
    return _urgencies(vocab).get(abnormality, "routine")


def status_of(score: float, threshold: float) -> str:
    """present (>= threshold), uncertain (>= threshold / 2) or absent."""
    if score >= threshold:
        return "present"
    return "uncertain" if score >= threshold / 2 else "absent"


@dataclass(frozen=True)
class ScoredFinding:
    """One model output: an abnormality (at a location, or None for the study level)."""

    abnormality: str
    location: str | None
    score: float
    threshold: float = 0.5


@dataclass(frozen=True)
class DerivedFinding:
    abnormality: str
    location: str | None
    status: str  # present | uncertain | absent
    score: float
    urgency: str
    threshold: float = 0.5


@dataclass(frozen=True)
class Triage:
    findings: list[DerivedFinding]  # most urgent first, then by score
    urgency_rank: int  # 0 critical, 1 urgent, 2 routine, 3 no finding
    top_score: float | None
    top_abnormality: str

    @property
    def urgency(self) -> str:
        return (*URGENCY_LEVELS, NO_FINDING)[self.urgency_rank]

    @property
    def present(self) -> list[DerivedFinding]:
        return [f for f in self.findings if f.status == "present"]


def triage_findings(findings: Iterable[ScoredFinding], vocab: str = "chest_ct") -> Triage:
    """One finding per abnormality (its best-scoring output; its threshold decides the status).
    The study's rank is its most urgent present finding; its top finding and score are that
    level's most probable present finding, else the most probable output."""
    best: dict[str, ScoredFinding] = {}
    for f in findings:
        if f.abnormality not in best or f.score > best[f.abnormality].score:
            best[f.abnormality] = f
    derived = [
        DerivedFinding(
            abnormality=a,
            location=f.location,
            status=status_of(f.score, f.threshold),
            score=f.score,
            urgency=urgency_of(a, vocab),
            threshold=f.threshold,
        )
        for a, f in best.items()
    ]
    present = [f for f in derived if f.status == "present"]
    rank = min((URGENCY_RANK[f.urgency] for f in present), default=NO_FINDING_RANK)
    derived.sort(key=lambda f: (URGENCY_RANK[f.urgency], -f.score))
    deciding = [f for f in present if URGENCY_RANK[f.urgency] == rank] or derived
    top = max(deciding, key=lambda f: f.score, default=None)
    return Triage(
        findings=derived,
        urgency_rank=rank,
        top_score=None if top is None else top.score,
        top_abnormality="" if top is None else top.abnormality,
    )


def sort_key(result: Triage, tie: object = "") -> tuple:
    """Reading order: urgency level, then the deciding score (high first), then `tie`."""
    return (result.urgency_rank, -(result.top_score or 0.0), tie)
