"""Abnormalities of the chest-CT phantom: which ones a study has, where, and how large.

A `FindingSpec` is one abnormality at one location with its size and geometry (kept across a
patient's studies so a nodule stays where it was). `sample_findings` draws a study's findings,
`parse_findings` builds requested ones, `evolve_findings` ages them for a follow-up study and
`modifiers_for` turns the ones that reshape anatomy into `Modifiers`; `radlens.phantom.painting`
draws the rest into an `Anatomy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from radlens.core import look_up_option
from radlens.errors import ConfigError
from radlens.phantom.habitus import LOBES, Modifiers

ABNORMALITIES: tuple[str, ...] = (
    "nodule",
    "mass",
    "consolidation",
    "ground_glass_opacity",
    "atelectasis",
    "pleural_effusion",
    "pneumothorax",
    "emphysema",
    "cardiomegaly",
    "pericardial_effusion",
    "lymphadenopathy",
    "arterial_wall_calcification",
)
LOCATIONS: dict[str, tuple[str, ...]] = {
    "nodule": LOBES,
    "mass": LOBES,
    "consolidation": LOBES,
    "ground_glass_opacity": LOBES,
    "atelectasis": ("right_lower_lobe", "left_lower_lobe"),
    "pleural_effusion": ("right_pleura", "left_pleura"),
    "pneumothorax": ("right_pleura", "left_pleura"),
    "emphysema": ("right_upper_lobe", "left_upper_lobe"),
    "cardiomegaly": ("heart",),
    "pericardial_effusion": ("pericardium",),
    "lymphadenopathy": ("mediastinum", "right_hilum", "left_hilum"),
    "arterial_wall_calcification": ("aorta", "coronary_arteries"),
}
#: Findings that come and go between studies; the rest persist (and may grow).
TRANSIENT = {
    "consolidation",
    "ground_glass_opacity",
    "atelectasis",
    "pleural_effusion",
    "pneumothorax",
    "pericardial_effusion",
}
#: Probability that a first study has each abnormality (tuned so 60-120 patients give enough
#: positives of every kind; ground glass and consolidation share lobes, so GGO is drawn more often).
PREVALENCE = 0.27
_BOOST = {"ground_glass_opacity": 1.3, "pneumothorax": 1.1, "cardiomegaly": 1.1}
#: Nodule diameters (mm), drawn log-uniformly: as many 4-8 mm nodules as 15-30 mm ones.
NODULE_MM: tuple[float, float] = (4.0, 30.0)
#: Enlarged lymph nodes by short axis (mm, log-uniform): >= 10 mm is the CT size criterion.
NODE_SHORT_AXIS_MM: tuple[float, float] = (10.0, 24.0)
#: Nodule attenuation types and how often each is drawn (Fleischner categories).
NODULE_TYPES: dict[str, float] = {"solid": 0.65, "part_solid": 0.15, "ground_glass": 0.20}


@dataclass(frozen=True)
class FindingSpec:
    """One abnormality at one location: `size` in mm (or a scale factor), geometry in `params`."""

    abnormality: str
    location: str
    size: float
    seed: int
    params: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """Mask key, e.g. 'nodule@right_upper_lobe'."""
        return f"{self.abnormality}@{self.location}"

    @property
    def side(self) -> str:
        """'right' / 'left' for lateralised locations, '' otherwise."""
        return (
            self.location.split("_")[0]
            if self.location.startswith(("right", "left"))
            else ("left" if self.location == "lingula" else "")
        )


def unique_findings(specs: list[FindingSpec]) -> list[dict[str, str]]:
    """Unique {abnormality, location} pairs of `specs`, in vocabulary order."""
    keys = {(s.abnormality, s.location) for s in specs}
    ordered = sorted(keys, key=lambda k: (ABNORMALITIES.index(k[0]), k[1]))
    return [{"abnormality": a, "location": loc} for a, loc in ordered]


def nodule_type(spec: FindingSpec) -> str:
    """'solid', 'part_solid' or 'ground_glass', drawn from the nodule's own seed (so a nodule
    keeps its type across a patient's studies and the report and the image agree)."""
    u = float(np.random.default_rng([spec.seed, 11]).random())
    cum = np.cumsum(list(NODULE_TYPES.values()))
    return list(NODULE_TYPES)[min(int(np.searchsorted(cum, u, side="right")), len(cum) - 1)]


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw whose logarithm is uniform on [log lo, log hi] (small sizes as common as large)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _size(abnormality: str, rng: np.random.Generator) -> float:
    if abnormality == "nodule":
        return log_uniform(rng, *NODULE_MM)
    if abnormality == "lymphadenopathy":
        return log_uniform(rng, *NODE_SHORT_AXIS_MM)
    table = {
        "mass": (35, 65),
        "consolidation": (0.55, 0.9),  # fraction of the lobe
        "ground_glass_opacity": (34, 52),  # blob radius mm
        "atelectasis": (35, 55),  # wedge depth mm
        "pleural_effusion": (18, 50),  # depth mm
        "pneumothorax": (16, 38),  # depth mm
        "emphysema": (0.3, 0.5),  # fraction of the lobe
        "cardiomegaly": (1.2, 1.35),  # scale of the heart
        "pericardial_effusion": (7, 15),  # rim mm
        "arterial_wall_calcification": (3, 14),  # plaques
    }
    lo, hi = table[abnormality]
    return float(rng.uniform(lo, hi))


def _new(abnormality: str, location: str, rng: np.random.Generator) -> FindingSpec:
    return FindingSpec(abnormality, location, _size(abnormality, rng), int(rng.integers(2**31)))


def parse_findings(
    findings: Sequence[str | tuple[str, str]], rng: np.random.Generator
) -> list[FindingSpec]:
    """Specs of the requested abnormality ids or (id, location) pairs; where no location is given,
    one of the abnormality's locations at random."""
    specs = []
    for item in findings:
        abn, loc = (item, None) if isinstance(item, str) else item
        abn = look_up_option(abn, ABNORMALITIES, what="abnormality")
        options = LOCATIONS[abn]
        if loc is None:
            loc = options[int(rng.integers(len(options)))]
        if loc not in options:
            raise ConfigError(
                f"abnormality {abn!r} cannot be placed at {loc!r}; expected one of {list(options)}"
            )
        specs.append(_new(abn, loc, rng))
    return specs


def _locations(abnormality: str, rng: np.random.Generator) -> list[str]:
    options = LOCATIONS[abnormality]
    if abnormality == "arterial_wall_calcification":  # coronary plaques come with aortic ones
        return ["aorta", "coronary_arteries"] if rng.random() < 0.5 else ["aorta"]
    if len(options) == 1:
        return [options[0]]
    if abnormality in ("emphysema", "pleural_effusion", "atelectasis"):
        both = {"emphysema": 0.6, "pleural_effusion": 0.35, "atelectasis": 0.25}[abnormality]
        return list(options) if rng.random() < both else [options[int(rng.integers(2))]]
    n = 1 if abnormality in ("mass", "pneumothorax") or rng.random() < 0.7 else 2
    return sorted(rng.choice(options, size=n, replace=False).tolist())


def _resolve_conflicts(specs: list[FindingSpec]) -> list[FindingSpec]:
    """Drop combinations that cannot coexist (pneumothorax with fluid on the same side, ...)."""
    fluid = {s.side for s in specs if s.abnormality == "pleural_effusion"}
    taken: set[str] = set()
    out = []
    for s in specs:
        if s.abnormality == "pneumothorax" and s.side in fluid:
            continue
        if s.abnormality in ("consolidation", "ground_glass_opacity"):
            if s.location in taken:
                continue
            taken.add(s.location)
        out.append(s)
    return out


def sample_findings(rng: np.random.Generator, prevalence: float = PREVALENCE) -> list[FindingSpec]:
    """A first study's findings: each abnormality present with `prevalence`, 1-2 locations."""
    specs: list[FindingSpec] = []
    for abn in ABNORMALITIES:
        if rng.random() < prevalence * _BOOST.get(abn, 1.0):
            for loc in _locations(abn, rng):
                specs.append(_new(abn, loc, rng))
                if abn == "nodule" and rng.random() < 0.35:
                    specs.append(_new(abn, loc, rng))
    return _resolve_conflicts(specs)


def evolve_findings(
    prior: list[FindingSpec], rng: np.random.Generator, new_rate: float = 0.12
) -> list[FindingSpec]:
    """Findings of a follow-up: transient ones may resolve, others persist or grow; some are new."""
    out: list[FindingSpec] = []
    for s in prior:
        if s.abnormality in TRANSIENT and rng.random() < 0.55:
            continue  # resolved
        if s.abnormality == "lymphadenopathy" and rng.random() < 0.2:
            continue
        grow = rng.random()
        if s.abnormality in ("nodule", "mass") and grow < 0.35:
            cap = 30.0 if s.abnormality == "nodule" else 90.0
            s = replace(s, size=min(s.size * float(rng.uniform(1.15, 1.4)), cap))
        out.append(s)
    present = {s.abnormality for s in out}
    for abn in ABNORMALITIES:
        chronic = abn in ("emphysema", "arterial_wall_calcification")  # slow to appear
        if abn not in present and rng.random() < new_rate * (0.25 if chronic else 1.0):
            out.extend(_new(abn, loc, rng) for loc in _locations(abn, rng))
    return _resolve_conflicts(out)


def modifiers_for(specs: list[FindingSpec]) -> Modifiers:
    """Anatomy changes implied by the findings."""
    fluid, ptx, raise_ = {}, {}, {}
    heart, peri = 1.0, 0.0
    for s in specs:
        if s.abnormality == "pleural_effusion":
            fluid[s.side] = s.size
        elif s.abnormality == "pneumothorax":
            ptx[s.side] = s.size
        elif s.abnormality == "atelectasis":
            raise_[s.side] = 0.35 * s.size
        elif s.abnormality == "cardiomegaly":
            heart = s.size
        elif s.abnormality == "pericardial_effusion":
            peri = s.size
    return Modifiers(heart, peri, fluid, ptx, raise_)
