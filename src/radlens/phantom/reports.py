"""Free-text chest-CT reports written from a phantom study's findings, with varied phrasing.

Reports have the usual sections (CLINICAL HISTORY, INDICATION, TECHNIQUE, COMPARISON, FINDINGS,
IMPRESSION), negated normal findings, hedged statements, history that is not a current finding,
comparison with the prior study ("unchanged", "new", "resolved") and incidental remarks. The text
is written the way radiologists write, from the true findings; nothing is tuned to a labeler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radlens.phantom.lesions import ABNORMALITIES, FindingSpec
from radlens.phantom.phrases import (
    HEADINGS,
    HISTORY,
    IMPRESSION_ORDER,
    INCIDENTAL,
    INDICATIONS,
    LOBE_NAMES,
    NEGATIONS,
    REASONS,
    SECTION_OF,
    a_an,
    cap,
    lobe_name,
    noun_phrases,
    pick,
)


@dataclass(frozen=True)
class ReportContext:
    """What the report is written from: current findings, the prior study's, and the patient."""

    findings: Sequence[FindingSpec]
    age: int
    sex: str
    slice_mm: float
    kernel: str
    prior: Sequence[FindingSpec] | None = None
    prior_date: str = ""
    history: str = ""  # an abnormality id the patient had in the past (not now), or ""


def _sentence(np_: str, rng: np.random.Generator, status: str, hedge: bool) -> str:
    """Wrap a noun phrase into a sentence that carries the comparison status or a hedge."""
    head = np_.split(",")[0].split(" in ")[0].split(" of ")[0].split(" measuring")[0]
    head = head.split(" involving")[0].split(" at the")[0].split(" with")[0]
    plural = head.endswith(
        (
            "nodules",
            "opacities",
            "effusions",
            "nodes",
            "calcifications",
            "changes",
            "pneumothoraces",
        )
    )
    if hedge:
        return pick(
            rng,
            (
                f"Possible {np_}.",
                f"Findings may represent {np_}.",
                f"Cannot exclude {np_}.",
                f"Questionable {np_}.",
            ),
        )
    if status == "new":
        return pick(
            rng,
            (
                f"New {np_}.",
                f"Interval development of {a_an(np_)}.",
                f"{cap(np_)}, new since the prior examination.",
            ),
        )
    if status == "unchanged":
        return pick(
            rng, (f"Unchanged {np_}.", f"Stable {np_}.", f"{cap(np_)}, unchanged from prior.")
        )
    if status == "increased":
        return pick(
            rng,
            (
                f"Interval increase in size of {np_}.",
                f"{cap(np_)}, increased in size since the prior study.",
            ),
        )
    if plural:
        return pick(rng, (f"{cap(np_)}.", f"There are {np_}."))
    if not head.endswith(("nodule", "mass", "effusion", "pneumothorax", "lymph node")) and not (
        head.split()[-1].startswith("(")
    ):
        return pick(rng, (f"{cap(np_)}.", f"{cap(np_)} is noted.", f"There is {np_}."))
    return pick(
        rng,
        (
            f"{cap(np_)}.",
            f"There is {a_an(np_)}.",
            f"{cap(a_an(np_))} is noted.",
            f"{cap(a_an(np_))} is present.",
        ),
    )


def _resolved(abn: str, prior: list[FindingSpec], rng: np.random.Generator) -> str:
    np_ = noun_phrases(abn, prior, rng)[0]
    np_ = np_.split(" measuring")[0]
    return pick(
        rng,
        (
            f"Interval resolution of the previously seen {np_}.",
            f"The previously noted {np_} has resolved.",
            f"The {np_} seen on the prior study is no longer present.",
        ),
    )


#: Impression tails of some abnormalities ("" = none), picked at random.
IMPRESSION_TAILS: dict[str, tuple[str, ...]] = {
    "nodule": (
        "",
        ". Recommend follow-up CT in 6-12 months",
        ", follow-up per Fleischner Society guidelines",
    ),
    "mass": (
        ", concerning for malignancy",
        ". Tissue sampling recommended",
        ", suspicious for primary lung cancer",
    ),
    "consolidation": ("", ", compatible with pneumonia", ", likely infectious"),
}
STATUS_WORDS = {"new": "New ", "unchanged": "Unchanged ", "increased": "Enlarging "}
#: Abnormalities a report may hedge on ("possible ..."); nodules only when small.
HEDGEABLE = ("nodule", "ground_glass_opacity", "consolidation", "atelectasis", "lymphadenopathy")
#: Abnormalities negated on their own when absent (emphysema only sometimes).
NEGATED_ALONE = (
    "cardiomegaly",
    "pericardial_effusion",
    "lymphadenopathy",
    "arterial_wall_calcification",
    "emphysema",
)
AIRWAYS = ("The central airways are patent.", "", "Trachea and main bronchi are patent.")
RISK_FACTORS = (
    "Former smoker, 30 pack-years.",
    "History of hypertension.",
    "Never smoker.",
    "History of diabetes.",
)
TECHNIQUES = (
    "Axial CT images of the chest were obtained without intravenous contrast and "
    "reconstructed at {thick} mm.",
    "Non-contrast helical CT of the chest with {thick} mm slices ({kernel} kernel).",
    "CT chest without contrast, {thick} mm axial reconstructions. Multiplanar reformats "
    "were reviewed.",
)
COMPARISONS = (
    "CT chest {date}.",
    "Prior CT dated {date}.",
    "Comparison is made with CT of {date}.",
)
NO_COMPARISON = ("None.", "None available.", "No prior imaging.")
NORMAL_IMPRESSIONS = (
    "No acute cardiopulmonary abnormality.",
    "Normal CT of the chest.",
    "No acute intrathoracic process.",
)


def _by_abnormality(specs: Sequence[FindingSpec]) -> dict[str, list[FindingSpec]]:
    out: dict[str, list[FindingSpec]] = {}
    for s in specs:
        out.setdefault(s.abnormality, []).append(s)
    return out


def _status(
    specs: list[FindingSpec], prior: list[FindingSpec], follow_up: bool, rng: np.random.Generator
) -> str:
    """Comparison with the prior study: 'new', 'increased', 'unchanged' or '' (not said)."""
    if not follow_up:
        return ""
    if not prior:
        return "new"
    if any(s.size > p.size * 1.1 for s in specs for p in prior if s.seed == p.seed):
        return "increased"
    return "unchanged" if rng.random() < 0.8 else ""


def _present(
    abn: str,
    specs: list[FindingSpec],
    prior: list[FindingSpec],
    follow_up: bool,
    rng: np.random.Generator,
) -> tuple[list[str], str]:
    """Findings sentences and the impression line of an abnormality the study has."""
    status = _status(specs, prior, follow_up, rng)
    hedgeable = abn in HEDGEABLE and (abn != "nodule" or specs[0].size < 9)
    sentences = []
    for np_ in noun_phrases(abn, specs, rng):
        hedge = hedgeable and rng.random() < 0.1
        sentences.append(_sentence(np_, rng, status, hedge))
    imp_np = noun_phrases(abn, specs, rng)[0]
    tail = pick(rng, IMPRESSION_TAILS[abn]) if abn in IMPRESSION_TAILS else ""
    word = STATUS_WORDS.get(status, "")
    return sentences, f"{word}{imp_np}{tail}." if word else f"{cap(imp_np)}{tail}."


def _findings(
    now: dict[str, list[FindingSpec]],
    before: dict[str, list[FindingSpec]],
    follow_up: bool,
    rng: np.random.Generator,
) -> tuple[dict[str, list[str]], list[tuple[int, str]]]:
    """Sentences per section and (rank, line) impression items for present and resolved
    abnormalities."""
    sections: dict[str, list[str]] = {k: [] for k in HEADINGS}
    impression: list[tuple[int, str]] = []
    for abn in ABNORMALITIES:
        specs, prior = now.get(abn, []), before.get(abn, [])
        if specs:
            sentences, line = _present(abn, specs, prior, follow_up, rng)
            sections[SECTION_OF[abn]].extend(sentences)
            impression.append((IMPRESSION_ORDER.index(abn), line))
        elif prior:
            sentence = _resolved(abn, prior, rng)
            sections[SECTION_OF[abn]].append(sentence)
            if rng.random() < 0.5:
                impression.append((20, sentence))
    return sections, impression


def _negations(present: set[str], rng: np.random.Generator) -> list[tuple[str, str]]:
    """(section, sentence) negating normal findings the study does not have."""
    neg: list[tuple[str, str]] = []
    if not present & {"nodule", "mass"}:
        neg.append(("lungs", pick(rng, NEGATIONS["lungs_mass"])))
    if not present & {"consolidation", "ground_glass_opacity"}:
        neg.append(("lungs", pick(rng, NEGATIONS["lungs_air"])))
    if not present & {"pleural_effusion", "pneumothorax"}:
        neg.append(("pleura", pick(rng, NEGATIONS["pleura"])))
    else:
        for abn in ("pleural_effusion", "pneumothorax"):
            if abn not in present:
                neg.append(("pleura", pick(rng, NEGATIONS[abn])))
    for abn in NEGATED_ALONE:
        if abn not in present and (abn != "emphysema" or rng.random() < 0.3):
            neg.append((SECTION_OF[abn], pick(rng, NEGATIONS[abn])))
    return neg


def _add_normal_findings(
    sections: dict[str, list[str]], now: dict[str, list[FindingSpec]], rng: np.random.Generator
) -> None:
    """Most negations (not always all), a hedged tiny focus, airways and incidental remarks."""
    for section, sentence in _negations(set(now), rng):
        if rng.random() < 0.88:
            sections[section].append(sentence)
    if not any(now.get(a) for a in ("nodule", "mass")) and rng.random() < 0.05:
        lobe = lobe_name(str(rng.choice(list(LOBE_NAMES))), rng)
        sections["lungs"].append(f"A 2 mm focus in the {lobe}; cannot exclude a tiny nodule.")
    sections["lungs"].insert(0, pick(rng, AIRWAYS))
    for section in ("other", "abdomen"):
        sections[section].append(pick(rng, INCIDENTAL[section]))
    if rng.random() < 0.04:
        sections["other"].append(f"Incidental {int(rng.integers(8, 16))} mm left thyroid nodule.")


def _clinical_history(
    ctx: ReportContext,
    before: dict[str, list[FindingSpec]],
    present: set[str],
    rng: np.random.Generator,
) -> str:
    sex = "man" if ctx.sex == "male" else "woman"
    clinical = f"{ctx.age}-year-old {pick(rng, (sex, 'patient', sex))}"
    if ctx.prior is not None and before:
        abn0 = str(rng.choice(sorted(before)))
        clinical += f" for follow-up of {noun_phrases(abn0, before[abn0], rng)[0]}."
    else:
        clinical += " " + pick(rng, REASONS)
    if ctx.history and ctx.history not in present:
        side = pick(rng, ("right", "left"))
        clinical += " " + pick(rng, HISTORY[ctx.history]).format(side=side)
    if rng.random() < 0.3:
        clinical += " " + pick(rng, RISK_FACTORS)
    return clinical


def _header(
    ctx: ReportContext,
    before: dict[str, list[FindingSpec]],
    present: set[str],
    rng: np.random.Generator,
) -> list[str]:
    """CLINICAL HISTORY, INDICATION, TECHNIQUE and COMPARISON lines."""
    follow_up = ctx.prior is not None
    clinical = _clinical_history(ctx, before, present, rng)
    indication = "Follow-up." if follow_up and rng.random() < 0.5 else pick(rng, INDICATIONS)
    thick = f"{ctx.slice_mm:.2f}".rstrip("0").rstrip(".")
    technique = pick(rng, TECHNIQUES).format(thick=thick, kernel=ctx.kernel)
    if follow_up:
        comparison = pick(rng, COMPARISONS).format(date=ctx.prior_date)
    else:
        comparison = pick(rng, NO_COMPARISON)
    return [
        f"CLINICAL HISTORY: {clinical}",
        f"INDICATION: {indication}",
        f"TECHNIQUE: {technique}",
        f"COMPARISON: {comparison}",
    ]


def _findings_lines(sections: dict[str, list[str]], rng: np.random.Generator) -> list[str]:
    """One paragraph per non-empty section, with a heading most of the time."""
    lines = []
    headed = rng.random() < 0.6
    for key, sentences in sections.items():
        text = " ".join(s for s in sentences if s)
        if text:
            lines.append(f"{pick(rng, HEADINGS[key])}: {text}" if headed else text)
    return lines


def _impression_lines(
    impression: list[tuple[int, str]], normal: bool, rng: np.random.Generator
) -> list[str]:
    """Impression items, most urgent first: numbered (usually) or one paragraph."""
    items = [text for _, text in sorted(impression, key=lambda t: t[0])]
    if normal:
        items = items or [pick(rng, NORMAL_IMPRESSIONS)]
    if len(items) > 1 and rng.random() < 0.75:
        return [f"{i}. {cap(t)}" for i, t in enumerate(items, 1)]
    return [" ".join(cap(t) for t in items)]


def write_report(ctx: ReportContext, rng: np.random.Generator) -> str:
    """One free-text report for the study described by `ctx`."""
    now, before = _by_abnormality(ctx.findings), _by_abnormality(ctx.prior or ())
    sections, impression = _findings(now, before, ctx.prior is not None, rng)
    _add_normal_findings(sections, now, rng)
    lines = _header(ctx, before, set(now), rng)
    lines += ["", "FINDINGS:", *_findings_lines(sections, rng)]
    lines += ["", "IMPRESSION:", *_impression_lines(impression, not now, rng)]
    return "\n".join(lines) + "\n"
