"""From a scorer's predictions to the study's triage and its draft report text.

The ranking is `radlens.reports.triage` (urgency per abnormality from the chest-CT vocabulary);
this module only turns the service's `Prediction`s into its `ScoredFinding`s, all with the
service's one finding threshold (`RADLENS_FINDING_THRESHOLD`).
"""

from __future__ import annotations

from collections.abc import Iterable

from radlens.reports import ScoredFinding, Triage, triage_findings, write_draft
from radlens.service.scoring import Prediction


def scored_findings(predictions: Iterable[Prediction], threshold: float) -> list[ScoredFinding]:
    """The predictions as `radlens.reports.triage.ScoredFinding`s at `threshold`."""
    return [ScoredFinding(p.abnormality, p.location, p.score, threshold) for p in predictions]


def triage_predictions(predictions: Iterable[Prediction], threshold: float) -> Triage:
    """The study's triage (`radlens.reports.triage.triage`): one finding per abnormality, present
    at >= threshold, uncertain at >= threshold / 2; ranked by its most urgent present finding."""
    return triage_findings(scored_findings(predictions, threshold))


def draft_report(predictions: Iterable[Prediction]) -> str:
    """The draft report text from the model's predictions (`radlens.reports.writer`): one
    sentence per finding with its locations and certainty, negatives for the key critical ones."""
    return write_draft(list(predictions)).text
