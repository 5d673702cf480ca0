"""Abnormalities drawn into a phantom's anatomy: HU changed in place, one ground-truth mask each.

`paint_findings` paints a study's `FindingSpec`s in a fixed order (emphysema, ground glass,
consolidation and atelectasis first, so denser findings paint over them) with one painter per
abnormality; every spec draws from its own seed, so adding a finding never moves another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from radlens.phantom.anatomy import Anatomy
from radlens.phantom.geometry import Point, ball, capsule, ellipsoid_norm, smooth_field
from radlens.phantom.habitus import LOBE_CODES
from radlens.phantom.lesions import ABNORMALITIES, FindingSpec

#: Painted first, in this order; the others follow in vocabulary order.
PAINT_FIRST: tuple[str, ...] = ("emphysema", "ground_glass_opacity", "consolidation", "atelectasis")
#: Abnormalities placed around a centre inside their lobe (kept in `FindingSpec.params`).
CENTRED: tuple[str, ...] = ("nodule", "mass", "ground_glass_opacity", "consolidation")
#: Lymph node stations of each lymphadenopathy location (names of `Anatomy.landmarks`).
STATIONS: dict[str, list[str]] = {
    "mediastinum": ["right_paratracheal", "subcarinal", "aortopulmonary_window"],
    "right_hilum": ["right_hilum"],
    "left_hilum": ["left_hilum"],
}

Painter = Callable[[Anatomy, FindingSpec, dict, np.random.Generator], np.ndarray]


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


def _anatomy_mask(name: str) -> Painter:
    """A finding that is an anatomy change already painted: its mask is the anatomy's `name`
    mask (`{side}` is the finding's side)."""

    def paint(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
        return anat.masks[name.format(side=s.side)]

    return paint


def _emphysema(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """Low-attenuation clusters (~1-2 cm) over `s.size` of the lobe."""
    lobe = anat.lobes == LOBE_CODES[s.location]
    f = smooth_field(rng, anat.grid.shape, (1.2, 2.2, 2.2))
    thr = np.quantile(f[lobe], 1 - s.size) if lobe.any() else np.inf
    m = lobe & (f > thr)
    anat.hu[m] = -985.0 + 10.0 * rng.standard_normal(int(m.sum())).astype(np.float32)
    return m


def _airspace(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """Ground glass (a hazy blob of radius `s.size`) or consolidation (`s.size` of the lobe,
    dense, with air bronchograms) around the placed centre."""
    grid, hu = anat.grid, anat.hu
    z, y, x = grid.axes()
    lobe = anat.lobes == LOBE_CODES[s.location]
    c = params["center"]
    dist = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
    f = smooth_field(rng, grid.shape, (1.0, 2.0, 2.0))
    if s.abnormality == "ground_glass_opacity":
        m = lobe & (dist + 8.0 * f < s.size)
        target = float(rng.uniform(-550, -300))
        hu[m] = hu[m] + 0.85 * (target - hu[m])
        return m
    reach = np.quantile(dist[lobe] + 10.0 * f[lobe], s.size) if lobe.any() else 0
    m = lobe & (dist + 10.0 * f <= reach)
    hu[m] = float(rng.uniform(15, 45)) + 6.0 * f[m]
    air = np.exp(-(anat.fields["g1"] ** 2 + anat.fields["g2"] ** 2) / (2 * 0.16**2))
    bronchogram = m & (air > 0.5) & (anat.fields["vessels"] < 0.3)
    hu[bronchogram] = -850.0
    return m


def _atelectasis(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """A dense wedge of depth `s.size` in the posterior base of the lobe."""
    grid = anat.grid
    z, y, _ = grid.axes()
    lobe = anat.lobes == LOBE_CODES[s.location]
    zz, yy = np.broadcast_to(z, grid.shape)[lobe], np.broadcast_to(y, grid.shape)[lobe]
    zl, yp = (np.quantile(zz, 0.02), np.quantile(yy, 0.98)) if lobe.any() else (0, 0)
    score = np.broadcast_to((z - zl) / (1.3 * s.size) + (yp - y) / s.size, grid.shape)
    limit = max(1.0, float(np.quantile(score[lobe], 0.03))) if lobe.any() else 1.0
    wedge = lobe & (score < limit)
    anat.hu[wedge] = float(rng.uniform(20, 45)) + 5 * rng.standard_normal(int(wedge.sum()))
    return wedge


def _solid_lesion(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """A nodule (a ball of diameter `s.size`) or a lobulated mass, kept within its pleural space."""
    grid = anat.grid
    side_lung = anat.masks[f"lung_{'left' if s.location in ('lingula',) else s.side}"]
    r = s.size / 2
    if s.abnormality == "nodule":
        sl, d = ball(grid, params["center"], r)
        m = np.zeros(grid.shape, bool)
        m[sl] = d <= r
    else:
        m = _lobulated(anat, params["center"], r * 0.8, rng, 4)
    inside = m & (side_lung | anat.masks[f"pleural_space_{s.side}"])
    m = inside if inside.any() else m  # anatomy may have moved since it was placed
    anat.hu[m] = float(rng.uniform(25, 55)) + 8.0 * rng.standard_normal(int(m.sum()))
    return m


def _lymph_nodes(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """Two or three enlarged nodes (short axis ~`s.size`) at the location's stations."""
    grid = anat.grid
    m = np.zeros(grid.shape, bool)
    stations = STATIONS[s.location]
    n = min(len(stations), 2 + int(rng.integers(2)))
    for name in rng.choice(stations, size=n, replace=False):
        c0 = anat.landmarks[str(name)]
        c = tuple(c0[i] + float(rng.normal(0, 3)) for i in range(3))
        short = s.size * float(rng.uniform(0.85, 1.1))
        rho = ellipsoid_norm(grid, c, (short / 2, short / 2 * 1.2, short / 2 * 1.4))
        m |= rho <= 1.0
        m[grid.to_index(c)] = True  # a node is never smaller than one voxel
    m &= ~anat.masks["airway"]
    anat.hu[m] = float(rng.uniform(30, 50))
    return m


def _aortic_calcification(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """`s.size` curvilinear plaques on the aortic wall."""
    grid = anat.grid
    path, radius = anat.paths["aorta"]
    m = np.zeros(grid.shape, bool)
    for _ in range(round(s.size)):
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
    anat.hu[m] = float(rng.uniform(1000, 1500))
    return m


PAINTERS: dict[str, Painter] = {
    "nodule": _solid_lesion,
    "mass": _solid_lesion,
    "consolidation": _airspace,
    "ground_glass_opacity": _airspace,
    "atelectasis": _atelectasis,
    "pleural_effusion": _anatomy_mask("pleural_fluid_{side}"),
    "pneumothorax": _anatomy_mask("pneumothorax_{side}"),
    "emphysema": _emphysema,
    "cardiomegaly": _anatomy_mask("heart"),
    "pericardial_effusion": _anatomy_mask("pericardial_fluid"),
    "lymphadenopathy": _lymph_nodes,
    "arterial_wall_calcification": _aortic_calcification,
}


def _paint_rank(spec: FindingSpec) -> int:
    if spec.abnormality in PAINT_FIRST:
        return PAINT_FIRST.index(spec.abnormality)
    return 10 + ABNORMALITIES.index(spec.abnormality)


def paint_findings(
    anat: Anatomy, specs: list[FindingSpec]
) -> tuple[dict[str, np.ndarray], list[FindingSpec]]:
    """Draw the findings into `anat.hu` (in place); return masks by key and the placed specs.

    Specs without geometry get it here (e.g. a nodule centre), so callers can keep the returned
    specs for the patient's follow-up studies.
    """
    masks: dict[str, np.ndarray] = {}
    placed: list[FindingSpec] = []
    for s in sorted(specs, key=_paint_rank):
        painter = PAINTERS.get(s.abnormality)
        if painter is None:  # pragma: no cover - ABNORMALITIES is closed
            raise ValueError(s.abnormality)
        rng = np.random.default_rng(s.seed)
        params = dict(s.params)
        if s.abnormality in CENTRED and "center" not in params:
            r = s.size / 2 if s.abnormality in ("nodule", "mass") else 15.0
            params["center"] = _place_in_lobe(anat, s.location, r, rng)
        mask = painter(anat, s, params, rng)
        masks[s.key] = masks.get(s.key, np.zeros(anat.grid.shape, bool)) | mask
        placed.append(s if params == s.params else replace(s, params=params))
    return masks, placed
