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


def draft_findings(predictions: Iterable[Prediction], threshold: float) -> list[Prediction]:
    """One item per abnormality for the writer, so each gets one sentence: the abnormality's
    best score (the one triage ranks by), at the locations the model found it (located outputs
    at >= threshold / 2, and the best output's own location), else without a location.

    A scorer may give a study-level and located outputs for one abnormality; passed as they
    are, the writer states each at its own certainty ("Likely X. Possible X in the Y.")."""
    by_abnormality: dict[str, list[Prediction]] = {}
    for p in predictions:
        by_abnormality.setdefault(p.abnormality, []).append(p)
    out = []
    for abnormality, group in by_abnormality.items():
        best = max(group, key=lambda p: p.score)
        where = [p.location for p in group if p.location and p.score >= threshold / 2]
        if best.location and best.location not in where:
            where.insert(0, best.location)
        locations = list(dict.fromkeys(where)) or [None]
        out += [Prediction(abnormality, loc, best.score) for loc in locations]
    return out


def draft_report(predictions: Iterable[Prediction], threshold: float) -> str:
    """The draft report text from the model's predictions (`radlens.reports.writer`): one
    sentence per abnormality (`draft_findings`) with its locations and certainty, negatives for
    the key critical ones."""
    return write_draft(draft_findings(predictions, threshold)).text
