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

from radlens.data.phantom_lesions import ABNORMALITIES, FindingSpec

LOBE_NAMES = {
    "right_upper_lobe": ("right upper lobe", "RUL"),
    "right_middle_lobe": ("right middle lobe", "RML"),
    "right_lower_lobe": ("right lower lobe", "RLL"),
    "left_upper_lobe": ("left upper lobe", "LUL"),
    "lingula": ("lingula", "lingula"),
    "left_lower_lobe": ("left lower lobe", "LLL"),
}
SECTION_OF = {
    "nodule": "lungs", "mass": "lungs", "consolidation": "lungs",
    "ground_glass_opacity": "lungs", "atelectasis": "lungs", "emphysema": "lungs",
    "pleural_effusion": "pleura", "pneumothorax": "pleura",
    "cardiomegaly": "heart", "pericardial_effusion": "heart",
    "lymphadenopathy": "nodes", "arterial_wall_calcification": "vessels",
}  # fmt: skip
HEADINGS = {
    "lungs": ("Lungs and airways", "Lungs"),
    "pleura": ("Pleura", "Pleural spaces"),
    "heart": ("Heart and pericardium", "Heart"),
    "nodes": ("Mediastinum and hila", "Lymph nodes"),
    "vessels": ("Vessels", "Thoracic aorta"),
    "other": ("Bones and soft tissues", "Chest wall and bones"),
    "abdomen": ("Upper abdomen", "Visualized upper abdomen"),
}
#: Impression order: critical first, then urgent, then routine.
IMPRESSION_ORDER = (
    "pneumothorax", "mass", "consolidation", "pleural_effusion", "pericardial_effusion",
    "lymphadenopathy", "ground_glass_opacity", "atelectasis", "nodule", "cardiomegaly",
    "emphysema", "arterial_wall_calcification",
)  # fmt: skip


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


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _a(phrase: str) -> str:
    first = phrase.split()[0].lower() if phrase else ""
    vowel = (
        first[:1] in "aeiou"
        or first.startswith(("8", "11", "18"))
        or first in ("rml", "rul", "rll", "lul", "lll")
    )
    return ("an " if vowel else "a ") + phrase


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _lobe(loc: str, rng: np.random.Generator, abbrev_ok: bool = True) -> str:
    full, short = LOBE_NAMES[loc]
    return short if abbrev_ok and rng.random() < 0.25 else full


def _lobe_adj(loc: str, rng: np.random.Generator) -> str:
    """Lobe as a modifier before a noun ('right upper lobe', 'RUL', 'lingular')."""
    return "lingular" if loc == "lingula" else _lobe(loc, rng)


def _sev(value: float, cuts: tuple[float, float], words=("small", "moderate", "large")) -> str:
    return words[0] if value < cuts[0] else words[1] if value < cuts[1] else words[2]


def _side_of(spec: FindingSpec) -> str:
    return spec.location.split("_")[0]


def _phrase(abn: str, specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    """Noun phrases (no article, lower case) describing the current `specs` of one abnormality."""
    pick = lambda *o: _pick(rng, o)  # noqa: E731
    locs = sorted({s.location for s in specs})
    out: list[str] = []
    if abn == "nodule":
        for loc in locs:
            sizes = sorted(round(s.size) for s in specs if s.location == loc)
            lobe = _lobe(loc, rng)
            if len(sizes) > 1:
                out.append(
                    pick(
                        f"{len(sizes)} nodules in the {lobe} measuring "
                        f"{' and '.join(map(str, sizes))} mm",
                        f"multiple {lobe} pulmonary nodules, the largest {sizes[-1]} mm",
                    )
                )
                continue
            kind = pick("solid ", "", "noncalcified ", "well-circumscribed ", "rounded ")
            size = sizes[0]
            tiny = "tiny " if size < 6 else ""
            out.append(
                pick(
                    f"{tiny}{size} mm {kind}nodule in the {lobe}",
                    f"{size} mm {kind}{_lobe_adj(loc, rng)} pulmonary nodule",
                    f"{kind}pulmonary nodule in the {lobe} measuring {size} mm",
                    f"{_lobe_adj(loc, rng)} nodule measuring {size} mm",
                )
            )
    elif abn == "mass":
        for s in specs:
            cm, cm2 = s.size / 10, s.size / 10 * float(rng.uniform(0.7, 0.95))
            lobe, adj = _lobe(s.location, rng), _lobe_adj(s.location, rng)
            desc = pick("lobulated", "spiculated", "lobulated soft tissue", "irregular")
            big = "large " if s.size > 45 else ""
            out.append(
                pick(
                    f"{cm:.1f} cm {desc} mass in the {lobe}",
                    f"{adj} mass measuring {cm:.1f} x {cm2:.1f} cm",
                    f"{big}{desc} {adj} mass ({cm:.1f} cm)",
                    f"{desc} mass in the {lobe}, measuring up to {cm:.1f} cm",
                )
            )
    elif abn == "consolidation":
        for loc in locs:
            lobe = _lobe(loc, rng)
            air = pick(" with air bronchograms", "", "")
            out.append(
                pick(
                    f"dense consolidation in the {lobe}{air}",
                    f"airspace consolidation of the {lobe}{air}",
                    f"{_lobe_adj(loc, rng)} consolidation{air}",
                    f"patchy consolidation involving the {lobe}",
                )
            )
    elif abn == "ground_glass_opacity":
        for loc in locs:
            lobe = _lobe(loc, rng)
            out.append(
                pick(
                    f"ground-glass opacity in the {lobe}",
                    f"patchy ground-glass opacities in the {lobe}",
                    f"{_lobe_adj(loc, rng)} GGO",
                    f"area of ground glass attenuation in the {lobe}",
                    f"hazy ground-glass opacity involving the {lobe}",
                )
            )
    elif abn == "atelectasis":
        if len(locs) == 2:
            out.append(
                pick(
                    "bibasilar atelectasis",
                    "atelectasis in both lower lobes",
                    "bilateral lower lobe atelectasis with volume loss",
                )
            )
        else:
            lobe, side = _lobe(locs[0], rng), _side_of(specs[0])
            out.append(
                pick(
                    f"atelectasis in the {lobe} with volume loss",
                    f"{_lobe_adj(locs[0], rng)} atelectasis",
                    f"wedge-shaped atelectasis at the {side} lung base",
                    f"{side} lower lobe collapse with volume loss",
                )
            )
    elif abn in ("pleural_effusion", "pneumothorax"):
        word = "pleural effusion" if abn == "pleural_effusion" else "pneumothorax"
        cuts = (25, 40) if abn == "pleural_effusion" else (18, 28)
        sides = sorted({_side_of(s) for s in specs}, reverse=True)
        sev = _sev(max(s.size for s in specs), cuts)
        if len(sides) == 2:
            out.append(
                pick(
                    f"bilateral {word}s",
                    f"{sev} bilateral {word}s",
                    f"{sev} bilateral effusions, larger on the "
                    f"{max(specs, key=lambda s: s.size).location.split('_')[0]}",
                )
            )
        else:
            side = sides[0]
            extra = " anterior" if abn == "pneumothorax" and rng.random() < 0.4 else ""
            short = "effusion" if abn == "pleural_effusion" else "pneumothorax"
            out.append(
                pick(
                    f"{sev}{extra} {side} {word}",
                    f"{sev} {side}-sided {word}",
                    f"{sev} {side} {short}",
                )
            )
    elif abn == "emphysema":
        sev = _sev(max(s.size for s in specs), (0.27, 0.34), ("mild", "moderate", "severe"))
        if len(locs) == 2:
            out.append(
                pick(
                    f"{sev} centrilobular emphysema, upper lobe predominant",
                    f"{sev} bilateral upper lobe emphysema",
                    "centrilobular emphysematous changes in both upper lobes",
                    f"{sev} emphysema in the upper lobes bilaterally",
                )
            )
        else:
            lobe = _lobe(locs[0], rng, abbrev_ok=False)
            out.append(
                pick(
                    f"{sev} centrilobular emphysema in the {lobe}",
                    f"emphysematous changes of the {lobe}",
                    f"{sev} paraseptal emphysema in the {lobe}",
                )
            )
    elif abn == "cardiomegaly":
        sev = _sev(specs[0].size, (1.26, 1.31), ("mild", "moderate", "marked"))
        out.append(
            pick(
                "cardiomegaly",
                f"{sev} cardiomegaly",
                "enlarged heart",
                f"{sev} cardiac enlargement",
            )
        )
    elif abn == "pericardial_effusion":
        sev = _sev(specs[0].size, (10, 13))
        out.append(
            pick(
                f"{sev} pericardial effusion",
                f"pericardial effusion measuring up to {round(specs[0].size)} mm",
                f"{sev} circumferential pericardial effusion",
            )
        )
    elif abn == "lymphadenopathy":
        size = round(max(s.size for s in specs))
        sides = [loc.split("_")[0] for loc in locs if loc.endswith("hilum")]
        parts = (["mediastinal"] if "mediastinum" in locs else []) + (
            ["bilateral hilar"] if len(sides) == 2 else [f"{s} hilar" for s in sides]
        )
        where = " and ".join(parts)
        station = pick("subcarinal", "right paratracheal", "aortopulmonary window")
        options = [
            f"{where} lymphadenopathy",
            f"enlarged {where} lymph nodes, the largest {size} mm in short axis",
        ]
        if locs == ["mediastinum"]:
            options.append(f"enlarged {station} lymph node measuring {size} mm in short axis")
        out.append(pick(*options))
    elif abn == "arterial_wall_calcification":
        sev = _sev(specs[0].size, (8, 11), ("mild", "moderate", "extensive"))
        out.append(
            pick(
                "atherosclerotic calcification of the aorta",
                "calcified atherosclerotic plaque in the thoracic aorta",
                f"{sev} aortic wall calcifications",
                f"{sev} calcification of the aortic arch and descending aorta",
                "atherosclerotic calcifications of the thoracic aorta",
            )
        )
    return out


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
        return _pick(
            rng,
            (
                f"Possible {np_}.",
                f"Findings may represent {np_}.",
                f"Cannot exclude {np_}.",
                f"Questionable {np_}.",
            ),
        )
    if status == "new":
        return _pick(
            rng,
            (
                f"New {np_}.",
                f"Interval development of {_a(np_)}.",
                f"{_cap(np_)}, new since the prior examination.",
            ),
        )
    if status == "unchanged":
        return _pick(
            rng, (f"Unchanged {np_}.", f"Stable {np_}.", f"{_cap(np_)}, unchanged from prior.")
        )
    if status == "increased":
        return _pick(
            rng,
            (
                f"Interval increase in size of {np_}.",
                f"{_cap(np_)}, increased in size since the prior study.",
            ),
        )
    if plural:
        return _pick(rng, (f"{_cap(np_)}.", f"There are {np_}."))
    if not head.endswith(("nodule", "mass", "effusion", "pneumothorax", "lymph node")) and not (
        head.split()[-1].startswith("(")
    ):
        return _pick(rng, (f"{_cap(np_)}.", f"{_cap(np_)} is noted.", f"There is {np_}."))
    return _pick(
        rng,
        (
            f"{_cap(np_)}.",
            f"There is {_a(np_)}.",
            f"{_cap(_a(np_))} is noted.",
            f"{_cap(_a(np_))} is present.",
        ),
    )


def _resolved(abn: str, prior: list[FindingSpec], rng: np.random.Generator) -> str:
    np_ = _phrase(abn, prior, rng)[0]
    np_ = np_.split(" measuring")[0]
    return _pick(
        rng,
        (
            f"Interval resolution of the previously seen {np_}.",
            f"The previously noted {np_} has resolved.",
            f"The {np_} seen on the prior study is no longer present.",
        ),
    )


NEGATIONS = {
    "lungs_mass": (
        "No suspicious pulmonary nodules or masses.",
        "No pulmonary nodule or mass.",
        "No focal lung lesion.",
    ),
    "lungs_air": (
        "No focal consolidation.",
        "No airspace consolidation or ground-glass opacity.",
        "No consolidation.",
    ),
    "pleura": (
        "No pleural effusion or pneumothorax.",
        "No pleural effusion. No pneumothorax.",
        "The pleural spaces are clear.",
    ),
    "pleural_effusion": ("No pleural effusion.", "No effusion."),
    "pneumothorax": ("No pneumothorax.",),
    "cardiomegaly": ("Heart size is normal.", "Normal heart size.", "The heart is not enlarged."),
    "pericardial_effusion": ("No pericardial effusion.", "The pericardium is unremarkable."),
    "lymphadenopathy": (
        "No mediastinal or hilar lymphadenopathy.",
        "No enlarged mediastinal, hilar or axillary lymph nodes.",
        "Lymph nodes are not enlarged by CT size criteria.",
    ),
    "arterial_wall_calcification": (
        "The thoracic aorta is normal in caliber.",
        "No aortic calcification.",
        "Normal caliber thoracic aorta without calcification.",
    ),
    "emphysema": ("No emphysema.",),
}
INCIDENTAL = {
    "other": (
        "Degenerative changes of the thoracic spine.",
        "No acute osseous abnormality.",
        "Mild degenerative endplate changes.",
        "Soft tissues are unremarkable.",
        "Old healed left rib fracture.",
    ),
    "abdomen": (
        "The visualized upper abdomen is unremarkable.",
        "Small hiatal hernia.",
        "Incidental 1.2 cm hypodense lesion in the liver, likely a cyst.",
        "Cholelithiasis.",
        "Unremarkable imaged portions of the upper abdomen.",
    ),
}
HISTORY = {
    "pneumothorax": (
        "History of {side} pneumothorax.",
        "Prior {side} pneumothorax, status post chest tube.",
    ),
    "pleural_effusion": ("History of pleural effusion.", "Prior {side} pleural effusion."),
    "consolidation": ("Recent pneumonia, treated.", "History of {side} lower lobe pneumonia."),
    "pericardial_effusion": ("History of pericardial effusion, status post pericardiocentesis.",),
    "mass": ("History of breast cancer.", "History of colon cancer, status post resection."),
}
REASONS = (
    "with cough.",
    "with shortness of breath.",
    "with chest pain.",
    "with fever and cough.",
    "with weight loss.",
    "with hemoptysis.",
    "referred for lung cancer screening.",
    "with dyspnea on exertion.",
)
INDICATIONS = (
    "Cough.",
    "Shortness of breath.",
    "Chest pain.",
    "Dyspnea on exertion.",
    "Fever and cough.",
    "Weight loss.",
    "Smoker, screening.",
    "Hemoptysis.",
)


def write_report(ctx: ReportContext, rng: np.random.Generator) -> str:
    """One free-text report for the study described by `ctx`."""
    now: dict[str, list[FindingSpec]] = {}
    for s in ctx.findings:
        now.setdefault(s.abnormality, []).append(s)
    before: dict[str, list[FindingSpec]] = {}
    for s in ctx.prior or ():
        before.setdefault(s.abnormality, []).append(s)
    follow_up = ctx.prior is not None

    sections: dict[str, list[str]] = {k: [] for k in HEADINGS}
    impression: list[tuple[int, str]] = []
    for abn in ABNORMALITIES:
        specs, prior = now.get(abn, []), before.get(abn, [])
        if specs:
            status = ""
            if follow_up:
                grew = any(s.size > p.size * 1.1 for s in specs for p in prior if s.seed == p.seed)
                status = (
                    "new"
                    if not prior
                    else "increased"
                    if grew
                    else ("unchanged" if rng.random() < 0.8 else "")
                )
            hedgeable = abn in (
                "nodule",
                "ground_glass_opacity",
                "consolidation",
                "atelectasis",
                "lymphadenopathy",
            ) and (abn != "nodule" or specs[0].size < 9)
            for np_ in _phrase(abn, specs, rng):
                hedge = hedgeable and rng.random() < 0.1
                sections[SECTION_OF[abn]].append(_sentence(np_, rng, status, hedge))
            imp_np = _phrase(abn, specs, rng)[0]
            tail = ""
            if abn == "nodule":
                tail = _pick(
                    rng,
                    (
                        "",
                        ". Recommend follow-up CT in 6-12 months",
                        ", follow-up per Fleischner Society guidelines",
                    ),
                )
            elif abn == "mass":
                tail = _pick(
                    rng,
                    (
                        ", concerning for malignancy",
                        ". Tissue sampling recommended",
                        ", suspicious for primary lung cancer",
                    ),
                )
            elif abn == "consolidation":
                tail = _pick(rng, ("", ", compatible with pneumonia", ", likely infectious"))
            word = {"new": "New ", "unchanged": "Unchanged ", "increased": "Enlarging "}.get(
                status, ""
            )
            impression.append(
                (
                    IMPRESSION_ORDER.index(abn),
                    f"{word}{imp_np}{tail}." if word else f"{_cap(imp_np)}{tail}.",
                )
            )
        elif prior:
            sentence = _resolved(abn, prior, rng)
            sections[SECTION_OF[abn]].append(sentence)
            if rng.random() < 0.5:
                impression.append((20, sentence))
    # negated normal findings (most of them, not always all)
    present = set(now)
    neg: list[tuple[str, str]] = []
    if not present & {"nodule", "mass"}:
        neg.append(("lungs", _pick(rng, NEGATIONS["lungs_mass"])))
    if not present & {"consolidation", "ground_glass_opacity"}:
        neg.append(("lungs", _pick(rng, NEGATIONS["lungs_air"])))
    if not present & {"pleural_effusion", "pneumothorax"}:
        neg.append(("pleura", _pick(rng, NEGATIONS["pleura"])))
    else:
        for abn in ("pleural_effusion", "pneumothorax"):
            if abn not in present:
                neg.append(("pleura", _pick(rng, NEGATIONS[abn])))
    for abn in (
        "cardiomegaly",
        "pericardial_effusion",
        "lymphadenopathy",
        "arterial_wall_calcification",
        "emphysema",
    ):
        if abn not in present and (abn != "emphysema" or rng.random() < 0.3):
            neg.append((SECTION_OF[abn], _pick(rng, NEGATIONS[abn])))
    for section, sentence in neg:
        if rng.random() < 0.88:
            sections[section].append(sentence)
    if not any(now.get(a) for a in ("nodule", "mass")) and rng.random() < 0.05:
        lobe = _lobe(str(rng.choice(list(LOBE_NAMES))), rng)
        sections["lungs"].append(f"A 2 mm focus in the {lobe}; cannot exclude a tiny nodule.")
    sections["lungs"].insert(
        0,
        _pick(rng, ("The central airways are patent.", "", "Trachea and main bronchi are patent.")),
    )
    for section in ("other", "abdomen"):
        sections[section].append(_pick(rng, INCIDENTAL[section]))
    if rng.random() < 0.04:
        sections["other"].append(f"Incidental {int(rng.integers(8, 16))} mm left thyroid nodule.")

    # header sections
    sex = "man" if ctx.sex == "male" else "woman"
    clinical = f"{ctx.age}-year-old {_pick(rng, (sex, 'patient', sex))}"
    if follow_up and before:
        abn0 = str(rng.choice(sorted(before)))
        clinical += f" for follow-up of {_phrase(abn0, before[abn0], rng)[0]}."
    else:
        clinical += " " + _pick(rng, REASONS)
    if ctx.history and ctx.history not in present:
        side = _pick(rng, ("right", "left"))
        clinical += " " + _pick(rng, HISTORY[ctx.history]).format(side=side)
    if rng.random() < 0.3:
        clinical += " " + _pick(
            rng,
            (
                "Former smoker, 30 pack-years.",
                "History of hypertension.",
                "Never smoker.",
                "History of diabetes.",
            ),
        )
    indication = "Follow-up." if follow_up and rng.random() < 0.5 else _pick(rng, INDICATIONS)
    thick = f"{ctx.slice_mm:.2f}".rstrip("0").rstrip(".")
    technique = _pick(
        rng,
        (
            f"Axial CT images of the chest were obtained without intravenous contrast and "
            f"reconstructed at {thick} mm.",
            f"Non-contrast helical CT of the chest with {thick} mm slices ({ctx.kernel} kernel).",
            f"CT chest without contrast, {thick} mm axial reconstructions. Multiplanar reformats "
            "were reviewed.",
        ),
    )
    if follow_up:
        comparison = _pick(
            rng,
            (
                f"CT chest {ctx.prior_date}.",
                f"Prior CT dated {ctx.prior_date}.",
                f"Comparison is made with CT of {ctx.prior_date}.",
            ),
        )
    else:
        comparison = _pick(rng, ("None.", "None available.", "No prior imaging."))

    lines = [
        f"CLINICAL HISTORY: {clinical}",
        f"INDICATION: {indication}",
        f"TECHNIQUE: {technique}",
        f"COMPARISON: {comparison}",
        "",
        "FINDINGS:",
    ]
    headed = rng.random() < 0.6
    for key, sentences in sections.items():
        text = " ".join(s for s in sentences if s)
        if text:
            lines.append(f"{_pick(rng, HEADINGS[key])}: {text}" if headed else text)
    lines += ["", "IMPRESSION:"]
    items = [text for _, text in sorted(impression, key=lambda t: t[0])]
    if not now:
        items = items or [
            _pick(
                rng,
                (
                    "No acute cardiopulmonary abnormality.",
                    "Normal CT of the chest.",
                    "No acute intrathoracic process.",
                ),
            )
        ]
    if len(items) > 1 and rng.random() < 0.75:
        lines += [f"{i}. {_cap(t)}" for i, t in enumerate(items, 1)]
    else:
        lines.append(" ".join(_cap(t) for t in items))
    return "\n".join(lines) + "\n"
