"""From predictions to findings, urgency and a draft report text.

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
    >= threshold / 2, absent below. The study's rank is its most urgent present finding."""
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
    top = max(best.values(), key=lambda p: p.score, default=None)
    findings.sort(key=lambda f: (URGENCY_RANK[f.urgency], -f.score))
    return Triage(
        findings=findings,
        urgency_rank=rank,
        top_score=None if top is None else top.score,
        top_abnormality="" if top is None else top.abnormality,
    )


def _words(identifier: str) -> str:
    return identifier.replace("_", " ")


def draft_report(findings: Iterable[DerivedFinding]) -> str:
    """A draft IMPRESSION: one sentence per present/uncertain finding with its location, then
    explicit negatives for the critical abnormalities the model scored absent."""
    findings = list(findings)
    lines: list[str] = []
    for f in findings:
        where = f" in the {_words(f.location)}" if f.location else ""
        if f.status == "present":
            lines.append(f"{_words(f.abnormality).capitalize()}{where}.")
        elif f.status == "uncertain":
            lines.append(f"Possible {_words(f.abnormality)}{where}.")
    negatives = sorted(
        f.abnormality for f in findings if f.status == "absent" and f.urgency == "critical"
    )
    if negatives:
        lines.append("No " + " or ".join(_words(a) for a in negatives) + ".")
    if not lines:
        lines.append("No acute abnormality identified by the model.")
    body = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))
    return "IMPRESSION (model draft, not reviewed):\n" + body + "\n"
