"""From a scorer's predictions to the study's triage and its draft report text.

The ranking is `radlens.reports.triage` (urgency per abnormality from the chest-CT vocabulary);
this module only turns the service's `Prediction`s into its `ScoredFinding`s, all with the
service's one finding threshold (`RADLENS_FINDING_THRESHOLD`).

Measurements (`measured_text`): where the segmentation or detector run found a candidate of a
finding the draft states, its sentence gets the largest such candidate's longest axial diameter,
measured on the image (a detector candidate without an edge to measure is not used): "5.9 cm
mass in the right upper lobe."; nodules in mm, everything else in cm; calcified plaques are
listed, not sized (`UNSIZED_FINDINGS`: a radiologist does not measure a plaque's diameter). When
the sentence names sided locations, only a candidate on one of those sides is used (none there:
no measurement), so a size never comes from the other lung.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from radlens.reports import ScoredFinding, Triage, load_vocabulary, triage_findings, write_draft
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


#: findings measured in millimetres in the draft (the rest in centimetres)
MM_FINDINGS = frozenset({"nodule"})
#: findings whose sentence never takes a measured size
UNSIZED_FINDINGS = frozenset({"arterial_wall_calcification"})
MEASURED_NOTE = (
    "Sizes: longest axial diameter of the lesion model's largest candidate, measured on the image."
)


def size_text(finding: str, diameter_mm: float) -> str:
    """'7 mm' for a nodule, else '5.9 cm'."""
    if finding in MM_FINDINGS:
        return f"{round(diameter_mm):d} mm"
    return f"{diameter_mm / 10.0:.1f} cm"


def _sides(locations: Sequence[str]) -> set[str]:
    return {side for loc in locations for side in ("right", "left") if loc.startswith(side)}


def measured_text(draft: Any, lesions: Sequence[Any]) -> str:
    """The text of `draft` (`radlens.reports.write_draft`'s DraftReport) with measured sizes in
    its sentences (module's rules); `lesions` have finding, side and diameter_mm
    (`radlens.deploy.StudyLesion`)."""
    text, names, used = draft.text, load_vocabulary("chest_ct").abnormalities, False
    for sentence in draft.sentences:
        if (sentence.certainty == "absent" or sentence.abnormality not in names
                or sentence.abnormality in UNSIZED_FINDINGS):  # fmt: skip
            continue
        sides = _sides(sentence.locations)
        cands = [les for les in lesions if les.finding == sentence.abnormality
                 and getattr(les, "measured", True)
                 and (not sides or les.side in sides)]  # fmt: skip
        name = names[sentence.abnormality].name
        at = sentence.text.lower().find(name.lower())
        if not cands or at < 0:
            continue
        size = size_text(sentence.abnormality, max(les.diameter_mm for les in cands))
        body = sentence.text[at:]
        body = body[0].lower() + body[1:] if at == 0 else body
        text = text.replace(sentence.text, f"{sentence.text[:at]}{size} {body}")
        used = True
    return text.rstrip("\n") + f"\n{MEASURED_NOTE}\n" if used else text


def draft_report(
    predictions: Iterable[Prediction], threshold: float, lesions: Sequence[Any] = ()
) -> str:
    """The draft report text from the model's predictions (`radlens.reports.writer`): one
    sentence per abnormality (`draft_findings`) with its locations and certainty, negatives for
    the key critical ones; with the segmentation run's `lesions`, measured sizes
    (`measured_text`)."""
    draft = write_draft(draft_findings(predictions, threshold))
    return measured_text(draft, lesions) if lesions else draft.text
