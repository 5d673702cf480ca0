"""Abnormalities of the chest-CT phantom: what a study has, where, and its ground-truth mask.

A `FindingSpec` is one abnormality at one location with its size and geometry (kept across a
patient's studies so a nodule stays where it was). `sample_findings` draws a study's findings,
`evolve_findings` ages them for a follow-up study, `modifiers_for` turns the ones that reshape
anatomy into `Modifiers`, and `paint_findings` draws the rest into an `Anatomy`, returning one
boolean mask per (abnormality, location).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from radlens.phantom.anatomy import LOBE_CODES, LOBES, Anatomy, Modifiers
from radlens.phantom.geometry import Point, ball, capsule, ellipsoid_norm, smooth_field

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
    "arterial_wall_calcification": ("aorta",),
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


def _size(abnormality: str, rng: np.random.Generator) -> float:
    if abnormality == "nodule":
        return float(rng.uniform(6, 10) if rng.random() < 0.15 else rng.uniform(12, 30))
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
        "lymphadenopathy": (15, 26),  # short axis mm
        "arterial_wall_calcification": (8, 16),  # plaques
    }
    lo, hi = table[abnormality]
    return float(rng.uniform(lo, hi))


def _new(abnormality: str, location: str, rng: np.random.Generator) -> FindingSpec:
    return FindingSpec(abnormality, location, _size(abnormality, rng), int(rng.integers(2**31)))


def _locations(abnormality: str, rng: np.random.Generator) -> list[str]:
    options = LOCATIONS[abnormality]
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


def _place_in_lobe(anat: Anatomy, lobe: str, radius: float, rng: np.random.Generator) -> Point:
    """A point deep enough in `lobe` that a ball of `radius` mostly stays inside it."""
    code = LOBE_CODES[lobe]
    idx = np.argwhere(anat.lobes == code)
    if len(idx) == 0:
        idx = np.argwhere(anat.lobes > 0)
    best, best_frac = anat.grid.to_point(tuple(idx[0])), -1.0
    for _ in range(25):
        pt = anat.grid.to_point(tuple(idx[int(rng.integers(len(idx)))]))
        sl, d = ball(anat.grid, pt, radius)
        inside = d <= radius
        frac = float((anat.lobes[sl][inside] == code).mean()) if inside.any() else 0.0
        if frac > best_frac:
            best, best_frac = pt, frac
        if frac >= 0.85:
            break
    return best


def _lobulated(anat: Anatomy, center: Point, radius: float, rng: np.random.Generator, lobes: int):
    """Union of `lobes` balls around `center` (a lobulated mass); returns a full-size mask."""
    mask = np.zeros(anat.grid.shape, bool)
    for i in range(lobes):
        off = rng.normal(0, radius * 0.35, 3) if i else np.zeros(3)
        c = (center[0] + off[0], center[1] + off[1], center[2] + off[2])
        r = radius * (1.0 if i == 0 else float(rng.uniform(0.5, 0.75)))
        sl, d = ball(anat.grid, c, r)
        mask[sl] |= d <= r
    return mask


def _lung_of(anat: Anatomy, side: str) -> np.ndarray:
    return anat.masks[f"lung_{side}"]


def paint_findings(
    anat: Anatomy, specs: list[FindingSpec], rng_texture: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[FindingSpec]]:
    """Draw the findings into `anat.hu` (in place); return masks by key and the placed specs.

    Specs without geometry get it here (e.g. a nodule centre), so callers can keep the returned
    specs for the patient's follow-up studies.
    """
    grid, hu = anat.grid, anat.hu
    z, y, x = grid.axes()
    masks: dict[str, np.ndarray] = {}
    placed: list[FindingSpec] = []

    def add(spec: FindingSpec, mask: np.ndarray) -> None:
        masks[spec.key] = masks.get(spec.key, np.zeros(grid.shape, bool)) | mask
        placed.append(spec)

    order = {a: i for i, a in enumerate(ABNORMALITIES)}
    paint_order = ["emphysema", "ground_glass_opacity", "consolidation", "atelectasis"]
    ranked = sorted(
        specs,
        key=lambda s: (
            paint_order.index(s.abnormality)
            if s.abnormality in paint_order
            else 10 + order[s.abnormality]
        ),
    )
    for s in ranked:
        rng = np.random.default_rng(s.seed)
        a = s.abnormality
        params = dict(s.params)
        if (
            a in ("nodule", "mass", "ground_glass_opacity", "consolidation")
            and "center" not in params
        ):
            r = s.size / 2 if a in ("nodule", "mass") else 15.0
            params["center"] = _place_in_lobe(anat, s.location, r, rng)
        if a == "pleural_effusion":
            add(s, anat.masks[f"pleural_fluid_{s.side}"])
        elif a == "pneumothorax":
            add(s, anat.masks[f"pneumothorax_{s.side}"])
        elif a == "cardiomegaly":
            add(s, anat.masks["heart"])
        elif a == "pericardial_effusion":
            add(s, anat.masks["pericardial_fluid"])
        elif a == "emphysema":
            lobe = anat.lobes == LOBE_CODES[s.location]
            f = smooth_field(rng, grid.shape, (1.2, 2.2, 2.2))  # clusters of ~1-2 cm
            thr = np.quantile(f[lobe], 1 - s.size) if lobe.any() else np.inf
            m = lobe & (f > thr)
            hu[m] = -985.0 + 10.0 * rng.standard_normal(int(m.sum())).astype(np.float32)
            add(s, m)
        elif a in ("ground_glass_opacity", "consolidation"):
            lobe = anat.lobes == LOBE_CODES[s.location]
            c = params["center"]
            dist = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
            f = smooth_field(rng, grid.shape, (1.0, 2.0, 2.0))
            if a == "ground_glass_opacity":
                m = lobe & (dist + 8.0 * f < s.size)
                target = float(rng.uniform(-550, -300))
                hu[m] = hu[m] + 0.85 * (target - hu[m])
            else:
                reach = np.quantile(dist[lobe] + 10.0 * f[lobe], s.size) if lobe.any() else 0
                m = lobe & (dist + 10.0 * f <= reach)
                hu[m] = float(rng.uniform(15, 45)) + 6.0 * f[m]
                air = np.exp(-(anat.fields["g1"] ** 2 + anat.fields["g2"] ** 2) / (2 * 0.16**2))
                bronchogram = m & (air > 0.5) & (anat.fields["vessels"] < 0.3)
                hu[bronchogram] = -850.0
            add(s, m)
        elif a == "atelectasis":
            lobe = anat.lobes == LOBE_CODES[s.location]
            zz, yy = np.broadcast_to(z, grid.shape)[lobe], np.broadcast_to(y, grid.shape)[lobe]
            zl, yp = (np.quantile(zz, 0.02), np.quantile(yy, 0.98)) if lobe.any() else (0, 0)
            score = np.broadcast_to((z - zl) / (1.3 * s.size) + (yp - y) / s.size, grid.shape)
            limit = max(1.0, float(np.quantile(score[lobe], 0.03))) if lobe.any() else 1.0
            wedge = lobe & (score < limit)
            hu[wedge] = float(rng.uniform(20, 45)) + 5 * rng.standard_normal(int(wedge.sum()))
            add(s, wedge)
        elif a in ("nodule", "mass"):
            side_lung = _lung_of(anat, "left" if s.location in ("lingula",) else s.side)
            r = s.size / 2
            if a == "nodule":
                sl, d = ball(grid, params["center"], r)
                m = np.zeros(grid.shape, bool)
                m[sl] = d <= r
            else:
                m = _lobulated(anat, params["center"], r * 0.8, rng, 4)
            inside = m & (side_lung | anat.masks[f"pleural_space_{s.side}"])
            m = inside if inside.any() else m  # anatomy may have moved since it was placed
            hu[m] = float(rng.uniform(25, 55)) + 8.0 * rng.standard_normal(int(m.sum()))
            add(s, m)
        elif a == "lymphadenopathy":
            m = np.zeros(grid.shape, bool)
            stations = {
                "mediastinum": ["right_paratracheal", "subcarinal", "aortopulmonary_window"],
                "right_hilum": ["right_hilum"],
                "left_hilum": ["left_hilum"],
            }[s.location]
            n = min(len(stations), 2 + int(rng.integers(2)))
            for name in rng.choice(stations, size=n, replace=False):
                c0 = anat.landmarks[str(name)]
                c = tuple(c0[i] + float(rng.normal(0, 3)) for i in range(3))
                short = s.size * float(rng.uniform(0.85, 1.1))
                rho = ellipsoid_norm(grid, c, (short / 2, short / 2 * 1.2, short / 2 * 1.4))
                m |= rho <= 1.0
                m[grid.to_index(c)] = True  # a node is never smaller than one voxel
            m &= ~anat.masks["airway"]
            hu[m] = float(rng.uniform(30, 50))
            add(s, m)
        elif a == "arterial_wall_calcification":
            path, radius = anat.paths["aorta"]
            m = np.zeros(grid.shape, bool)
            for _ in range(round(s.size)):  # curvilinear plaques on the aortic wall
                k = int(rng.integers(1, len(path) - 1))
                a0, a1 = np.asarray(path[k], float), np.asarray(path[k + 1], float)
                seg = a1 - a0
                length = float(np.linalg.norm(seg)) or 1.0
                direction = seg / length
                v = rng.normal(size=3)
                v -= (v @ direction) * direction
                v /= np.linalg.norm(v) or 1.0
                t0 = float(rng.random())
                t1 = min(1.0, t0 + float(rng.uniform(8, 20)) / length)
                c0 = tuple((a0 + t0 * seg + v * radius).tolist())
                c1 = tuple((a0 + t1 * seg + v * radius).tolist())
                rr = float(rng.uniform(2.5, 3.5))
                sl, d = capsule(grid, c0, c1, rr)
                m[sl] |= d <= rr
                m[grid.to_index(c0)] = True
            m &= ~anat.masks["airway"]
            hu[m] = float(rng.uniform(1000, 1500))
            add(s, m)
        else:  # pragma: no cover - ABNORMALITIES is closed
            raise ValueError(a)
        if params != s.params:
            placed[-1] = replace(s, params=params)
    return masks, placed
