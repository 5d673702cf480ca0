"""Phrase bank of the phantom's reports: radiology vocabulary, noun phrases per abnormality.

Several templates and synonyms per abnormality ("ground-glass opacity", "GGO", "pulmonary nodule",
"enlarged heart", "mediastinal lymphadenopathy", ...), negated normal statements, incidental
remarks and history lines, used by `phantom_reports.write_report`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radlens.phantom.lesions import FindingSpec

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


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def a_an(phrase: str) -> str:
    first = phrase.split()[0].lower() if phrase else ""
    vowel = (
        first[:1] in "aeiou"
        or first.startswith(("8", "11", "18"))
        or first in ("rml", "rul", "rll", "lul", "lll")
    )
    return ("an " if vowel else "a ") + phrase


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def lobe_name(loc: str, rng: np.random.Generator, abbrev_ok: bool = True) -> str:
    full, short = LOBE_NAMES[loc]
    return short if abbrev_ok and rng.random() < 0.25 else full


def lobe_adj(loc: str, rng: np.random.Generator) -> str:
    """Lobe as a modifier before a noun ('right upper lobe', 'RUL', 'lingular')."""
    return "lingular" if loc == "lingula" else lobe_name(loc, rng)


def severity(value: float, cuts: tuple[float, float], words=("small", "moderate", "large")) -> str:
    return words[0] if value < cuts[0] else words[1] if value < cuts[1] else words[2]


def side_of(spec: FindingSpec) -> str:
    return spec.location.split("_")[0]


def noun_phrases(abn: str, specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    """Noun phrases (no article, lower case) describing the current `specs` of one abnormality."""

    def choose(*options: str) -> str:
        return pick(rng, options)

    locs = sorted({s.location for s in specs})
    out: list[str] = []
    if abn == "nodule":
        for loc in locs:
            sizes = sorted(round(s.size) for s in specs if s.location == loc)
            lobe = lobe_name(loc, rng)
            if len(sizes) > 1:
                out.append(
                    choose(
                        f"{len(sizes)} nodules in the {lobe} measuring "
                        f"{' and '.join(map(str, sizes))} mm",
                        f"multiple {lobe} pulmonary nodules, the largest {sizes[-1]} mm",
                    )
                )
                continue
            seed = next(s.seed for s in specs if s.location == loc)  # same words every time
            kind = ("solid ", "", "noncalcified ", "well-circumscribed ", "rounded ")[seed % 5]
            size = sizes[0]
            tiny = "tiny " if size < 6 else ""
            out.append(
                choose(
                    f"{tiny}{size} mm {kind}nodule in the {lobe}",
                    f"{size} mm {kind}{lobe_adj(loc, rng)} pulmonary nodule",
                    f"{kind}pulmonary nodule in the {lobe} measuring {size} mm",
                    f"{lobe_adj(loc, rng)} nodule measuring {size} mm",
                )
            )
    elif abn == "mass":
        for s in specs:
            cm, cm2 = s.size / 10, s.size / 10 * float(rng.uniform(0.7, 0.95))
            lobe, adj = lobe_name(s.location, rng), lobe_adj(s.location, rng)
            desc = ("lobulated", "spiculated", "lobulated soft tissue", "irregular")[s.seed % 4]
            big = "large " if s.size > 45 else ""
            out.append(
                choose(
                    f"{cm:.1f} cm {desc} mass in the {lobe}",
                    f"{adj} mass measuring {cm:.1f} x {cm2:.1f} cm",
                    f"{big}{desc} {adj} mass ({cm:.1f} cm)",
                    f"{desc} mass in the {lobe}, measuring up to {cm:.1f} cm",
                )
            )
    elif abn == "consolidation":
        for loc in locs:
            lobe = lobe_name(loc, rng)
            air = choose(" with air bronchograms", "", "")
            out.append(
                choose(
                    f"dense consolidation in the {lobe}{air}",
                    f"airspace consolidation of the {lobe}{air}",
                    f"{lobe_adj(loc, rng)} consolidation{air}",
                    f"patchy consolidation involving the {lobe}",
                )
            )
    elif abn == "ground_glass_opacity":
        for loc in locs:
            lobe = lobe_name(loc, rng)
            out.append(
                choose(
                    f"ground-glass opacity in the {lobe}",
                    f"patchy ground-glass opacities in the {lobe}",
                    f"{lobe_adj(loc, rng)} GGO",
                    f"area of ground glass attenuation in the {lobe}",
                    f"hazy ground-glass opacity involving the {lobe}",
                )
            )
    elif abn == "atelectasis":
        if len(locs) == 2:
            out.append(
                choose(
                    "bibasilar atelectasis",
                    "atelectasis in both lower lobes",
                    "bilateral lower lobe atelectasis with volume loss",
                )
            )
        else:
            lobe, side = lobe_name(locs[0], rng), side_of(specs[0])
            out.append(
                choose(
                    f"atelectasis in the {lobe} with volume loss",
                    f"{lobe_adj(locs[0], rng)} atelectasis",
                    f"wedge-shaped atelectasis at the {side} lung base",
                    f"{side} lower lobe collapse with volume loss",
                )
            )
    elif abn in ("pleural_effusion", "pneumothorax"):
        word = "pleural effusion" if abn == "pleural_effusion" else "pneumothorax"
        cuts = (25, 40) if abn == "pleural_effusion" else (18, 28)
        sides = sorted({side_of(s) for s in specs}, reverse=True)
        sev = severity(max(s.size for s in specs), cuts)
        if len(sides) == 2:
            out.append(
                choose(
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
                choose(
                    f"{sev}{extra} {side} {word}",
                    f"{sev} {side}-sided {word}",
                    f"{sev} {side} {short}",
                )
            )
    elif abn == "emphysema":
        sev = severity(max(s.size for s in specs), (0.27, 0.34), ("mild", "moderate", "severe"))
        if len(locs) == 2:
            out.append(
                choose(
                    f"{sev} centrilobular emphysema, upper lobe predominant",
                    f"{sev} bilateral upper lobe emphysema",
                    "centrilobular emphysematous changes in both upper lobes",
                    f"{sev} emphysema in the upper lobes bilaterally",
                )
            )
        else:
            lobe = lobe_name(locs[0], rng, abbrev_ok=False)
            out.append(
                choose(
                    f"{sev} centrilobular emphysema in the {lobe}",
                    f"emphysematous changes of the {lobe}",
                    f"{sev} paraseptal emphysema in the {lobe}",
                )
            )
    elif abn == "cardiomegaly":
        sev = severity(specs[0].size, (1.26, 1.31), ("mild", "moderate", "marked"))
        out.append(
            choose(
                "cardiomegaly",
                f"{sev} cardiomegaly",
                "enlarged heart",
                f"{sev} cardiac enlargement",
            )
        )
    elif abn == "pericardial_effusion":
        sev = severity(specs[0].size, (10, 13))
        out.append(
            choose(
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
        station = choose("subcarinal", "right paratracheal", "aortopulmonary window")
        options = [
            f"{where} lymphadenopathy",
            f"enlarged {where} lymph nodes, the largest {size} mm in short axis",
        ]
        if locs == ["mediastinum"]:
            options.append(f"enlarged {station} lymph node measuring {size} mm in short axis")
        out.append(choose(*options))
    elif abn == "arterial_wall_calcification":
        sev = severity(specs[0].size, (8, 11), ("mild", "moderate", "extensive"))
        out.append(
            choose(
                "atherosclerotic calcification of the aorta",
                "calcified atherosclerotic plaque in the thoracic aorta",
                f"{sev} aortic wall calcifications",
                f"{sev} calcification of the aortic arch and descending aorta",
                "atherosclerotic calcifications of the thoracic aorta",
            )
        )
    return out


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
