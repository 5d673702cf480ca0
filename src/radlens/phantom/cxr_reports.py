"""Chest X-ray reports of phantom studies: what a frontal radiograph shows, and its report text.

`cxr_findings(specs)` turns a study's true CT findings (`FindingSpec`s) into what a radiologist
sees on a frontal chest radiograph, as `chest_xr` vocabulary observations with CXR locations
(zones, pleurae, heart, mediastinum):

| CT finding                          | on the radiograph                                        |
|-------------------------------------|----------------------------------------------------------|
| nodule >= VISIBLE_NODULE_MM, mass   | lung_lesion in the lobe's zone (smaller nodules and pure |
|                                     |   ground-glass nodules unseen)                           |
| consolidation                       | consolidation in the lobe's zone                         |
| ground-glass opacity                | lung_opacity in the lobe's zone                          |
| atelectasis (lower lobes)           | atelectasis, lower zone of that side                     |
| pleural effusion / pneumothorax     | the same observation, that side's pleura                 |
| cardiomegaly; pericardial effusion  | cardiomegaly (an enlarged cardiac silhouette); the       |
|   with a rim >= VISIBLE_PERICARDIAL_MM | pericardial fluid itself cannot be told apart on a CXR |
| lymphadenopathy, short axis         | enlarged_cardiomediastinum (mediastinal widening, hila); |
|   >= VISIBLE_NODE_MM                |   smaller nodes hide in the mediastinum and hila          |
| emphysema, aortic calcification     | described (hyperinflation, calcified aortic knob), no    |
|                                     | CheXpert observation                                     |

`no_finding` is true when none of the other observations is. `write_cxr_report` writes the
report (EXAMINATION, INDICATION, COMPARISON, FINDINGS, IMPRESSION) from the same findings with
phrase variety, normal statements and negations of what is absent; the templates are this
module's own, written in the style of chest radiograph reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radlens.phantom.cxr_phrases import (
    EXAMS,
    FINDING_TEMPLATES,
    IMPRESSION_NORMAL,
    IMPRESSION_TEMPLATES,
    INCIDENTAL_CXR,
    INDICATIONS_CXR,
    NEGATIVES,
    NORMAL_BONES,
    NORMAL_HEART,
    NORMAL_LUNGS,
    ZONE_WORDS,
)
from radlens.phantom.lesions import FindingSpec, nodule_type
from radlens.phantom.phrases import cap, pick, severity

#: The 14 observations of the `chest_xr` vocabulary, in its order.
CXR_OBSERVATIONS: tuple[str, ...] = (
    "no_finding", "enlarged_cardiomediastinum", "cardiomegaly", "lung_lesion", "lung_opacity",
    "edema", "consolidation", "pneumonia", "atelectasis", "pneumothorax", "pleural_effusion",
    "pleural_other", "fracture", "support_devices",
)  # fmt: skip
#: Smallest nodule (mm) reported as seen on a frontal radiograph.
VISIBLE_NODULE_MM: float = 10.0
#: Smallest lymph node short axis (mm) that widens the mediastinum or enlarges a hilum visibly.
VISIBLE_NODE_MM: float = 20.0
#: Smallest pericardial effusion rim (mm) that enlarges the cardiac silhouette visibly.
VISIBLE_PERICARDIAL_MM: float = 10.0
#: Lobe -> radiographic zone.
LOBE_ZONES: dict[str, str] = {
    "right_upper_lobe": "right_upper_zone",
    "right_middle_lobe": "right_middle_zone",
    "right_lower_lobe": "right_lower_zone",
    "left_upper_lobe": "left_upper_zone",
    "lingula": "left_middle_zone",
    "left_lower_lobe": "left_lower_zone",
}
_DIRECT = {
    "consolidation": "consolidation",
    "ground_glass_opacity": "lung_opacity",
    "atelectasis": "atelectasis",
    "mass": "lung_lesion",
}
# Impression order: critical, urgent, then routine.
_ORDER = (
    "pneumothorax", "lung_lesion", "consolidation", "pleural_effusion", "lung_opacity",
    "enlarged_cardiomediastinum", "cardiomegaly", "atelectasis",
)  # fmt: skip


def cxr_view(spec: FindingSpec) -> tuple[str, str] | None:
    """(observation, CXR location) of one CT finding as seen on a frontal radiograph, or None
    when it has no CheXpert observation or is too small to see (module docstring)."""
    abn, loc = spec.abnormality, spec.location
    if abn == "nodule":
        seen = spec.size >= VISIBLE_NODULE_MM and nodule_type(spec) != "ground_glass"
        return ("lung_lesion", LOBE_ZONES[loc]) if seen else None
    if abn in _DIRECT:
        return _DIRECT[abn], LOBE_ZONES[loc]
    if abn in ("pleural_effusion", "pneumothorax"):
        return abn, loc
    if abn == "cardiomegaly":
        return "cardiomegaly", "heart"
    if abn == "pericardial_effusion":
        return ("cardiomegaly", "heart") if spec.size >= VISIBLE_PERICARDIAL_MM else None
    if abn == "lymphadenopathy":
        seen = spec.size >= VISIBLE_NODE_MM
        return ("enlarged_cardiomediastinum", "mediastinum") if seen else None
    return None


def cxr_findings(specs: Sequence[FindingSpec]) -> list[dict[str, str]]:
    """Unique visible {observation, location} pairs of a study, in `CXR_OBSERVATIONS` order
    (`no_finding` @ '' when nothing is visible)."""
    seen = {v for v in map(cxr_view, specs) if v is not None}
    if not seen:
        return [{"observation": "no_finding", "location": ""}]
    order = sorted(seen, key=lambda v: (CXR_OBSERVATIONS.index(v[0]), v[1]))
    return [{"observation": o, "location": loc} for o, loc in order]


def cxr_labels(specs: Sequence[FindingSpec]) -> dict[str, int]:
    """0/1 per `CXR_OBSERVATIONS` entry: the study's radiograph truth."""
    present = {f["observation"] for f in cxr_findings(specs)}
    return {o: int(o in present) for o in CXR_OBSERVATIONS}


def _zone(location: str, rng: np.random.Generator) -> str:
    return pick(rng, ZONE_WORDS[location]) if location in ZONE_WORDS else location


def _side(location: str) -> str:
    return location.split("_")[0]


def _grouped(specs: Sequence[FindingSpec]) -> dict[str, list[tuple[FindingSpec, str]]]:
    """Visible findings by observation: [(spec, CXR location)], largest first."""
    out: dict[str, list[tuple[FindingSpec, str]]] = {}
    for spec in sorted(specs, key=lambda s: (-s.size, s.abnormality, s.location)):
        view = cxr_view(spec)
        if view is not None:
            out.setdefault(view[0], []).append((spec, view[1]))
    return out


def _fields(obs: str, spec: FindingSpec, location: str, rng: np.random.Generator) -> dict:
    """str.format fields of a finding sentence."""
    fields = {"zone": _zone(location, rng), "side": _side(location)}
    if obs == "lung_lesion":
        size_mm = spec.size
        fields["size"] = (
            f"{size_mm / 10:.1f} cm"
            if size_mm >= 20 and rng.random() < 0.6
            else f"{size_mm:.0f} mm"
        )
        fields["kind"] = (
            "mass"
            if spec.abnormality == "mass"
            else pick(rng, ("nodule", "nodule", "nodular opacity"))
        )
    if obs == "pleural_effusion":
        fields["sev"] = severity(spec.size, (26.0, 40.0))
    if obs == "pneumothorax":
        fields["sev"] = severity(spec.size, (22.0, 32.0))
    return fields


def _finding_sentences(obs: str, items: list[tuple[FindingSpec, str]], rng) -> list[str]:
    """One sentence per location of an observation; bilateral pleural / basal findings merged."""
    by_loc: dict[str, FindingSpec] = {}
    for spec, loc in items:
        by_loc.setdefault(loc, spec)
    sides = {_side(loc) for loc in by_loc}
    if obs in ("pleural_effusion", "atelectasis") and sides == {"right", "left"}:
        spec = max(by_loc.values(), key=lambda s: s.size)
        key = f"{obs}_both"
        return [
            cap(pick(rng, FINDING_TEMPLATES[key]).format(**_fields(obs, spec, _first(by_loc), rng)))
        ]
    if obs in ("cardiomegaly", "enlarged_cardiomediastinum"):
        spec = next(iter(by_loc.values()))
        key = obs
        if obs == "enlarged_cardiomediastinum":
            hila = sorted({s.location for s, _ in items if s.location.endswith("hilum")})
            key = "hilar_both" if len(hila) == 2 else "hilar" if hila else obs
            loc = hila[0] if len(hila) == 1 else "mediastinum"
            return [cap(pick(rng, FINDING_TEMPLATES[key]).format(side=_side(loc)))]
        return [cap(pick(rng, FINDING_TEMPLATES[key]))]
    return [
        cap(pick(rng, FINDING_TEMPLATES[obs]).format(**_fields(obs, spec, loc, rng)))
        for loc, spec in by_loc.items()
    ]


def _first(by_loc: dict[str, FindingSpec]) -> str:
    return next(iter(by_loc))


def _impression(groups: dict, rng: np.random.Generator) -> str:
    items = []
    for obs in _ORDER:
        if obs not in groups:
            continue
        spec, loc = groups[obs][0]
        fields = _fields(obs, spec, loc, rng)
        if obs == "enlarged_cardiomediastinum":
            fields = {"side": ""}
        items.append(cap(pick(rng, IMPRESSION_TEMPLATES[obs]).format(**fields)))
    if not items:
        return pick(rng, IMPRESSION_NORMAL)
    if len(items) > 1 and rng.random() < 0.5:
        return " ".join(f"{i}. {t}" for i, t in enumerate(items, 1))
    return " ".join(items)


def _negatives(groups: dict, rng: np.random.Generator) -> list[str]:
    """Pertinent negatives of what is absent (two to four of them)."""
    absent = [k for k in NEGATIVES if not set(k.split("+")) & set(groups)]
    rng.shuffle(absent)
    n = min(len(absent), int(rng.integers(2, 5)))
    return [pick(rng, NEGATIVES[k]) for k in absent[:n]]


def write_cxr_report(
    specs: Sequence[FindingSpec],
    rng: np.random.Generator,
    *,
    comparison: str = "",
) -> str:
    """A frontal chest radiograph report of a study's true findings (`cxr_findings`).

    `comparison`: the prior study's date ('' -> "None."). Findings too small to see on a
    projection (`VISIBLE_NODULE_MM`) are not reported.
    """
    groups = _grouped(specs)
    present = {s.abnormality for s in specs}
    lines = [f"EXAMINATION: {pick(rng, EXAMS)}", f"INDICATION: {pick(rng, INDICATIONS_CXR)}"]
    lines.append(f"COMPARISON: {comparison}." if comparison else "COMPARISON: None.")
    body: list[str] = []
    heart = [s for o in ("cardiomegaly", "enlarged_cardiomediastinum") if o in groups
             for s in _finding_sentences(o, groups[o], rng)]  # fmt: skip
    body.extend(heart or [pick(rng, NORMAL_HEART)])
    lung_obs = [
        o for o in _ORDER if o in groups and o not in ("cardiomegaly", "enlarged_cardiomediastinum")
    ]
    lungs = [s for o in lung_obs for s in _finding_sentences(o, groups[o], rng)]
    for abn in ("emphysema", "arterial_wall_calcification"):
        if abn in present:
            lungs.append(pick(rng, INCIDENTAL_CXR[abn]))
    if not lungs:
        body.append(pick(rng, NORMAL_LUNGS))
    body.extend(lungs)
    body.extend(_negatives(groups, rng))
    body.append(pick(rng, NORMAL_BONES))
    lines.append("FINDINGS: " + " ".join(body))
    lines.append("IMPRESSION: " + _impression(groups, rng))
    return "\n".join(lines) + "\n"
