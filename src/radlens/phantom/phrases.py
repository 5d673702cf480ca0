"""Phrase bank of the phantom's reports: radiology vocabulary, noun phrases per abnormality.

Several templates and synonyms per abnormality ("ground-glass opacity", "GGO", "pulmonary nodule",
"enlarged heart", "mediastinal lymphadenopathy", ...), negated normal statements, incidental
remarks and history lines, used by `radlens.phantom.reports.write_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from radlens.phantom.lesions import FindingSpec, nodule_type

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


def _locations(specs: list[FindingSpec]) -> list[str]:
    return sorted({s.location for s in specs})


# Noun-phrase templates (str.format fields named in each phraser below). Where a template uses
# `{adj}` (the lobe as a modifier), its wording is drawn before the template is picked.
NODULE_GROUP = (
    "{n} nodules in the {lobe} measuring {sizes} mm",
    "multiple {lobe} pulmonary nodules, the largest {largest} mm",
)
NODULE_KINDS = ("solid ", "", "noncalcified ", "well-circumscribed ", "rounded ")  # by seed
NODULE = (
    "{tiny}{size} mm {kind}nodule in the {lobe}",
    "{size} mm {kind}{adj[0]} pulmonary nodule",  # adj[0], adj[1]: one draw per template
    "{kind}pulmonary nodule in the {lobe} measuring {size} mm",
    "{adj[1]} nodule measuring {size} mm",
)
#: Subsolid nodules: the type word always directly before "nodule" ("ground-glass pulmonary
#: nodule" would also read as a ground-glass opacity).
SUBSOLID_KINDS = {
    "ground_glass": ("ground-glass ", "pure ground-glass "),
    "part_solid": ("part-solid ", "subsolid "),
}
SUBSOLID_NODULE = (
    "{tiny}{size} mm {kind}nodule in the {lobe}",
    "{kind}nodule in the {lobe} measuring {size} mm",
)
MASS_KINDS = ("lobulated", "spiculated", "lobulated soft tissue", "irregular")  # by seed
MASS = (
    "{cm:.1f} cm {desc} mass in the {lobe}",
    "{adj} mass measuring {cm:.1f} x {cm2:.1f} cm",
    "{big}{desc} {adj} mass ({cm:.1f} cm)",
    "{desc} mass in the {lobe}, measuring up to {cm:.1f} cm",
)
AIR_BRONCHOGRAMS = (" with air bronchograms", "", "")
CONSOLIDATION = (
    "dense consolidation in the {lobe}{air}",
    "airspace consolidation of the {lobe}{air}",
    "{adj} consolidation{air}",
    "patchy consolidation involving the {lobe}",
)
GROUND_GLASS = (
    "ground-glass opacity in the {lobe}",
    "patchy ground-glass opacities in the {lobe}",
    "{adj} GGO",
    "area of ground glass attenuation in the {lobe}",
    "hazy ground-glass opacity involving the {lobe}",
)
ATELECTASIS_BOTH = (
    "bibasilar atelectasis",
    "atelectasis in both lower lobes",
    "bilateral lower lobe atelectasis with volume loss",
)
ATELECTASIS = (
    "atelectasis in the {lobe} with volume loss",
    "{adj} atelectasis",
    "wedge-shaped atelectasis at the {side} lung base",
    "{side} lower lobe collapse with volume loss",
)
#: Pleural findings: (word, short word, severity cuts in mm).
PLEURAL_WORDS = {
    "pleural_effusion": ("pleural effusion", "effusion", (25, 40)),
    "pneumothorax": ("pneumothorax", "pneumothorax", (18, 28)),
}
PLEURAL_BOTH = (
    "bilateral {word}s",
    "{sev} bilateral {word}s",
    "{sev} bilateral effusions, larger on the {larger}",
)
PLEURAL = ("{sev}{extra} {side} {word}", "{sev} {side}-sided {word}", "{sev} {side} {short}")
EMPHYSEMA_BOTH = (
    "{sev} centrilobular emphysema, upper lobe predominant",
    "{sev} bilateral upper lobe emphysema",
    "centrilobular emphysematous changes in both upper lobes",
    "{sev} emphysema in the upper lobes bilaterally",
)
EMPHYSEMA = (
    "{sev} centrilobular emphysema in the {lobe}",
    "emphysematous changes of the {lobe}",
    "{sev} paraseptal emphysema in the {lobe}",
)
CARDIOMEGALY = ("cardiomegaly", "{sev} cardiomegaly", "enlarged heart", "{sev} cardiac enlargement")
PERICARDIAL_EFFUSION = (
    "{sev} pericardial effusion",
    "pericardial effusion measuring up to {mm} mm",
    "{sev} circumferential pericardial effusion",
)
NODE_STATIONS = ("subcarinal", "right paratracheal", "aortopulmonary window")
LYMPHADENOPATHY = (
    "{where} lymphadenopathy",
    "enlarged {where} lymph nodes, the largest {size} mm in short axis",
)
ONE_STATION = "enlarged {station} lymph node measuring {size} mm in short axis"
CORONARY_CALCIFICATION = (
    "scattered coronary artery calcifications",
    "calcified plaques in the coronary arteries",
    "{sev} coronary artery calcification",
)
AORTIC_CALCIFICATION = (
    "atherosclerotic calcification of the aorta",
    "calcified atherosclerotic plaque in the thoracic aorta",
    "{sev} aortic wall calcifications",
    "{sev} calcification of the aortic arch and descending aorta",
    "atherosclerotic calcifications of the thoracic aorta",
)


def _nodule(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    out = []
    for loc in _locations(specs):
        sizes = sorted(round(s.size) for s in specs if s.location == loc)
        lobe = lobe_name(loc, rng)
        if len(sizes) > 1:
            sizes_text = " and ".join(map(str, sizes))
            fields = {"n": len(sizes), "lobe": lobe, "sizes": sizes_text, "largest": sizes[-1]}
            out.append(pick(rng, NODULE_GROUP).format(**fields))
            continue
        spec = next(s for s in specs if s.location == loc)
        adj = (lobe_adj(loc, rng), lobe_adj(loc, rng))
        tiny = "tiny " if sizes[0] < 6 else ""
        kinds = SUBSOLID_KINDS.get(nodule_type(spec))  # same words every time
        kind = kinds[spec.seed % len(kinds)] if kinds else NODULE_KINDS[spec.seed % 5]
        fields = {"tiny": tiny, "size": sizes[0], "kind": kind, "lobe": lobe, "adj": adj}
        out.append(pick(rng, SUBSOLID_NODULE if kinds else NODULE).format(**fields))
    return out


def _mass(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    out = []
    for s in specs:
        cm, cm2 = s.size / 10, s.size / 10 * float(rng.uniform(0.7, 0.95))
        lobe, adj = lobe_name(s.location, rng), lobe_adj(s.location, rng)
        desc, big = MASS_KINDS[s.seed % 4], "large " if s.size > 45 else ""
        fields = {"cm": cm, "cm2": cm2, "lobe": lobe, "adj": adj, "desc": desc, "big": big}
        out.append(pick(rng, MASS).format(**fields))
    return out


def _consolidation(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    out = []
    for loc in _locations(specs):
        lobe = lobe_name(loc, rng)
        air = pick(rng, AIR_BRONCHOGRAMS)
        adj = lobe_adj(loc, rng)
        out.append(pick(rng, CONSOLIDATION).format(lobe=lobe, air=air, adj=adj))
    return out


def _ground_glass(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    out = []
    for loc in _locations(specs):
        lobe = lobe_name(loc, rng)
        adj = lobe_adj(loc, rng)
        out.append(pick(rng, GROUND_GLASS).format(lobe=lobe, adj=adj))
    return out


def _atelectasis(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    locs = _locations(specs)
    if len(locs) == 2:
        return [pick(rng, ATELECTASIS_BOTH)]
    lobe, side = lobe_name(locs[0], rng), side_of(specs[0])
    adj = lobe_adj(locs[0], rng)
    return [pick(rng, ATELECTASIS).format(lobe=lobe, side=side, adj=adj)]


def _pleural(abn: str, specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    word, short, cuts = PLEURAL_WORDS[abn]
    sides = sorted({side_of(s) for s in specs}, reverse=True)
    sev = severity(max(s.size for s in specs), cuts)
    if len(sides) == 2:
        larger = max(specs, key=lambda s: s.size).location.split("_")[0]
        return [pick(rng, PLEURAL_BOTH).format(word=word, sev=sev, larger=larger)]
    extra = " anterior" if abn == "pneumothorax" and rng.random() < 0.4 else ""
    fields = {"sev": sev, "extra": extra, "side": sides[0], "word": word, "short": short}
    return [pick(rng, PLEURAL).format(**fields)]


def _pleural_effusion(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    return _pleural("pleural_effusion", specs, rng)


def _pneumothorax(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    return _pleural("pneumothorax", specs, rng)


def _emphysema(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    locs = _locations(specs)
    sev = severity(max(s.size for s in specs), (0.27, 0.34), ("mild", "moderate", "severe"))
    if len(locs) == 2:
        return [pick(rng, EMPHYSEMA_BOTH).format(sev=sev)]
    lobe = lobe_name(locs[0], rng, abbrev_ok=False)
    return [pick(rng, EMPHYSEMA).format(sev=sev, lobe=lobe)]


def _cardiomegaly(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    sev = severity(specs[0].size, (1.26, 1.31), ("mild", "moderate", "marked"))
    return [pick(rng, CARDIOMEGALY).format(sev=sev)]


def _pericardial_effusion(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    sev = severity(specs[0].size, (10, 13))
    return [pick(rng, PERICARDIAL_EFFUSION).format(sev=sev, mm=round(specs[0].size))]


def _lymphadenopathy(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    locs = _locations(specs)
    size = round(max(s.size for s in specs))
    sides = [loc.split("_")[0] for loc in locs if loc.endswith("hilum")]
    parts = (["mediastinal"] if "mediastinum" in locs else []) + (
        ["bilateral hilar"] if len(sides) == 2 else [f"{s} hilar" for s in sides]
    )
    station = pick(rng, NODE_STATIONS)
    options = LYMPHADENOPATHY + ((ONE_STATION,) if locs == ["mediastinum"] else ())
    return [pick(rng, options).format(where=" and ".join(parts), size=size, station=station)]


def _aortic_calcification(specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    """The aortic plaques, then the coronary ones (a sentence of their own) where present."""
    out = []
    for loc, words in (
        ("aorta", AORTIC_CALCIFICATION),
        ("coronary_arteries", CORONARY_CALCIFICATION),
    ):
        here = [s for s in specs if s.location == loc]
        if here:
            sev = severity(here[0].size, (8, 11), ("mild", "moderate", "extensive"))
            out.append(pick(rng, words).format(sev=sev))
    return out


PHRASERS: dict[str, Callable[[list[FindingSpec], np.random.Generator], list[str]]] = {
    "nodule": _nodule,
    "mass": _mass,
    "consolidation": _consolidation,
    "ground_glass_opacity": _ground_glass,
    "atelectasis": _atelectasis,
    "pleural_effusion": _pleural_effusion,
    "pneumothorax": _pneumothorax,
    "emphysema": _emphysema,
    "cardiomegaly": _cardiomegaly,
    "pericardial_effusion": _pericardial_effusion,
    "lymphadenopathy": _lymphadenopathy,
    "arterial_wall_calcification": _aortic_calcification,
}


def noun_phrases(abn: str, specs: list[FindingSpec], rng: np.random.Generator) -> list[str]:
    """Noun phrases (no article, lower case) describing the current `specs` of one abnormality."""
    phraser = PHRASERS.get(abn)
    return phraser(specs, rng) if phraser else []


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
        "Degenerative changes of the thoracic spine.", "No acute osseous abnormality.",
        "Mild degenerative endplate changes.", "Soft tissues are unremarkable.",
        "Old healed left rib fracture.",
    ),
    "abdomen": (
        "The visualized upper abdomen is unremarkable.", "Small hiatal hernia.",
        "Incidental 1.2 cm hypodense lesion in the liver, likely a cyst.", "Cholelithiasis.",
        "Unremarkable imaged portions of the upper abdomen.",
    ),
}  # fmt: skip
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
    "with cough.", "with shortness of breath.", "with chest pain.", "with fever and cough.",
    "with weight loss.", "with hemoptysis.", "referred for lung cancer screening.",
    "with dyspnea on exertion.",
)  # fmt: skip
INDICATIONS = (
    "Cough.", "Shortness of breath.", "Chest pain.", "Dyspnea on exertion.", "Fever and cough.",
    "Weight loss.", "Smoker, screening.", "Hemoptysis.",
)  # fmt: skip
