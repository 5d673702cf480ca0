"""Findings or model predictions -> a draft structured report (text a radiologist edits and signs).

Input items are anything with ``abnormality`` and ``location`` plus a ``score`` (model
probability) and/or a ``status`` ("present" / "uncertain" / "absent"): labeler `Finding`s, the
service's predictions and derived findings, or plain dicts. Per abnormality and certainty band, one
sentence names the finding and its locations ("Likely nodule in the right upper lobe and left lower
lobe."). Certainty comes from the status, else from score bands (`DEFAULT_BANDS`: >= 0.85
stated plainly, >= 0.6 "likely", >= 0.35 "possible", below: not found). Sentences are grouped
by organ system (the vocabulary's ``system``); the key critical findings that were assessed and not
found get a negative statement ("No pneumothorax."). An IMPRESSION lists the positive findings,
most urgent first. Names, systems and urgency come from the vocabulary (data, not code).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from radlens.errors import ReportError
from radlens.reports.triage import URGENCY_RANK
from radlens.reports.vocabulary import Vocabulary, load_vocabulary

#: (lowest score, certainty) from most to least certain; below the last band: not found.
DEFAULT_BANDS: tuple[tuple[float, str], ...] = (
    (0.85, "definite"),
    (0.6, "likely"),
    (0.35, "possible"),
)
CERTAINTIES: tuple[str, ...] = ("definite", "likely", "possible", "absent")
_PREFIX = {"definite": "", "likely": "Likely ", "possible": "Possible "}
SYSTEM_HEADINGS: dict[str, str] = {
    "lung": "Lungs",
    "airway": "Airways",
    "pleura": "Pleura",
    "heart": "Heart and pericardium",
    "vessels": "Vessels",
    "mediastinum": "Mediastinum and hila",
    "chest_wall": "Chest wall",
    "bones": "Bones",
    "abdomen": "Upper abdomen",
    "devices": "Lines and devices",
}
SYSTEM_ORDER: tuple[str, ...] = tuple(SYSTEM_HEADINGS)

__all__ = [
    "CERTAINTIES",
    "DEFAULT_BANDS",
    "DraftReport",
    "DraftSentence",
    "certainty_of",
    "draft_report_text",
    "write_draft",
]


@dataclass(frozen=True)
class DraftSentence:
    """One sentence of the draft: its organ system, abnormality, certainty and text."""

    system: str
    abnormality: str
    certainty: str  # definite | likely | possible | absent
    locations: tuple[str, ...]
    score: float | None
    urgency: str
    text: str


@dataclass(frozen=True)
class DraftReport:
    """The draft: sentences (positives and negatives) and the full text."""

    sentences: tuple[DraftSentence, ...]
    text: str
    positives: tuple[DraftSentence, ...] = field(default=())

    def __str__(self) -> str:
        return self.text


def _get(item: object, name: str) -> object:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def certainty_of(
    score: float | None = None,
    status: str | None = None,
    bands: Sequence[tuple[float, str]] = DEFAULT_BANDS,
) -> str:
    """'definite' / 'likely' / 'possible' / 'absent' from a labeler status or a model score.

    A status wins ("present" -> definite, "uncertain" -> possible, "absent" -> absent) unless a
    score is also given, which then places a present/uncertain finding in its band.
    """
    if status is not None and status not in ("present", "uncertain", "absent"):
        raise ReportError(
            f"finding status {status!r} unknown; expected 'present', 'uncertain' or 'absent'"
        )
    if status == "absent":
        return "absent"
    if score is None:
        if status is None:
            raise ReportError("a finding needs a score or a status; got neither")
        return "definite" if status == "present" else "possible"
    value = float(score)
    if not 0.0 <= value <= 1.0:
        raise ReportError(f"finding score {score!r} outside [0, 1]; expected a probability")
    for low, name in bands:
        if value >= low:
            return "possible" if status == "uncertain" and name == "definite" else name
    return "absent"


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _sentence(prefix: str, name: str, locations: Sequence[str]) -> str:
    where = f" in the {_join(list(locations))}" if locations else ""
    text = f"{prefix}{name}{where}."
    return text[0].upper() + text[1:]


@dataclass
class _Collected:
    """Per (abnormality, certainty): the top score and the location names; what was assessed
    (any status) and found (not absent)."""

    best: dict[tuple[str, str], tuple[float | None, list[str]]] = field(default_factory=dict)
    assessed: set[str] = field(default_factory=set)
    found: set[str] = field(default_factory=set)


def _collect(
    findings: Iterable[object], vocabulary: Vocabulary, bands: Sequence[tuple[float, str]]
) -> _Collected:
    got = _Collected()
    for item in findings:
        abn = _get(item, "abnormality")
        if not isinstance(abn, str) or abn not in vocabulary.abnormalities:
            raise ReportError(
                f"finding abnormality {abn!r} is not in vocabulary {vocabulary.name!r}"
            )
        raw_score, status = _get(item, "score"), _get(item, "status")
        score = None if raw_score is None else float(raw_score)
        level = certainty_of(
            score, status if isinstance(status, str) or status is None else str(status), bands
        )
        got.assessed.add(abn)
        if level == "absent":
            continue
        got.found.add(abn)
        loc = _get(item, "location")
        prev_score, locs = got.best.get((abn, level), (None, []))
        if isinstance(loc, str) and loc:
            name = (
                vocabulary.locations[loc].name
                if loc in vocabulary.locations
                else loc.replace("_", " ")
            )
            if name not in locs:
                locs.append(name)
        top = score if prev_score is None else max(prev_score, score or prev_score)
        got.best[(abn, level)] = (top, locs)
    return got


def _negatives(
    got: _Collected, vocabulary: Vocabulary, negate: Sequence[str], always_negate: Sequence[str]
) -> list[DraftSentence]:
    """ "No X." for the abnormalities not found that were assessed at a negated urgency, or are
    always negated."""
    names = sorted(
        a
        for a, e in vocabulary.abnormalities.items()
        if a not in got.found
        and ((a in got.assessed and e.urgency in negate) or a in always_negate)
    )
    out = []
    for abn in names:
        entry = vocabulary.abnormalities[abn]
        out.append(
            DraftSentence(entry.system, abn, "absent", (), None, entry.urgency, f"No {entry.name}.")
        )
    return out


def _render(title: str, sentences: Sequence[DraftSentence], positives: Sequence[DraftSentence]):
    """The text: one line per organ system, then the numbered IMPRESSION."""
    lines = [f"{title}:"]
    for system in dict.fromkeys(s.system for s in sentences):
        heading = SYSTEM_HEADINGS.get(system, system.replace("_", " ").capitalize())
        body = " ".join(s.text for s in sentences if s.system == system)
        lines.append(f"{heading}: {body}")
    if len(lines) == 1:
        lines.append("No findings assessed.")
    lines += ["", "IMPRESSION:"]
    if positives:
        for i, s in enumerate(positives, 1):
            flag = " [critical]" if s.urgency == "critical" else ""
            lines.append(f"{i}. {s.text}{flag}")
    else:
        lines.append("1. No acute abnormality identified by the model.")
    return "\n".join(lines) + "\n"


def write_draft(
    findings: Iterable[object],
    *,
    vocab: str | Vocabulary = "chest_ct",
    bands: Sequence[tuple[float, str]] = DEFAULT_BANDS,
    negate: Sequence[str] = ("critical",),
    always_negate: Sequence[str] = (),
    title: str = "FINDINGS (model draft, not reviewed)",
) -> DraftReport:
    """Write the draft report of one study.

    Args:
        findings: items with ``abnormality``, ``location`` and ``score`` and/or ``status``.
        bands: score bands (lowest score, certainty), most certain first.
        negate: urgency levels whose assessed-but-not-found abnormalities get "No X." sentences.
        always_negate: abnormality ids stated as absent whenever not found, even if not assessed.
    """
    vocabulary = load_vocabulary(vocab) if isinstance(vocab, str) else vocab
    got = _collect(findings, vocabulary, bands)
    sentences: list[DraftSentence] = []
    for (abn, level), (score, locs) in got.best.items():
        entry = vocabulary.abnormalities[abn]
        text = _sentence(_PREFIX[level], entry.name, locs)
        sentences.append(
            DraftSentence(entry.system, abn, level, tuple(locs), score, entry.urgency, text)
        )
    positives = sorted(
        sentences,
        key=lambda s: (
            URGENCY_RANK.get(s.urgency, len(URGENCY_RANK)),
            CERTAINTIES.index(s.certainty),
            -(s.score or 0.0),
            s.abnormality,
        ),
    )
    sentences += _negatives(got, vocabulary, negate, always_negate)
    order = {s: i for i, s in enumerate(SYSTEM_ORDER)}
    sentences.sort(
        key=lambda s: (
            order.get(s.system, len(order)),
            s.certainty == "absent",
            CERTAINTIES.index(s.certainty),
            s.abnormality,
        )
    )
    text = _render(title, sentences, positives)
    return DraftReport(tuple(sentences), text, tuple(positives))


def draft_report_text(findings: Iterable[object], **options: object) -> str:
    """`write_draft(...)`'s text."""
    return write_draft(findings, **options).text  # type: ignore[arg-type]
