"""Abnormalities drawn into a phantom's anatomy: HU changed in place, one ground-truth mask each.

`paint_findings` paints a study's `FindingSpec`s in a fixed order (emphysema, ground glass,
consolidation and atelectasis first, so denser findings paint over them) with one painter per
abnormality; every spec draws from its own seed, so adding a finding never moves another.
Nodules (solid, part-solid, ground-glass), lymph nodes and calcified plaques (aorta, coronary
arteries) are drawn with partial volume (`radlens.phantom.geometry.occupancy`): a voxel moves
towards the lesion's HU by the fraction of it the lesion covers, so a 4 mm nodule in a 5 mm
slice is faint, as on real scans; their masks are the voxels at least half covered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from radlens.phantom.anatomy import Anatomy
from radlens.phantom.geometry import (
    Point,
    ball,
    capsule_occupancy,
    ellipsoid_occupancy,
    fraction_mask,
    smooth_field,
)
from radlens.phantom.habitus import LOBE_CODES
from radlens.phantom.lesions import ABNORMALITIES, FindingSpec, nodule_type

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


def _blend(anat: Anatomy, sl, frac: np.ndarray, target, keep_denser: bool = False) -> np.ndarray:
    """Partial volume: move each voxel of box `sl` towards `target` HU by its covered fraction
    (`keep_denser`: never lower a voxel, e.g. a vessel under a ground-glass nodule); returns
    the object's mask on the full grid (`fraction_mask`)."""
    hu = anat.hu[sl]
    mixed = hu + frac * (np.asarray(target, np.float32) - hu)
    anat.hu[sl] = np.maximum(hu, mixed) if keep_denser else mixed
    m = np.zeros(anat.grid.shape, bool)
    m[sl] = fraction_mask(frac)
    return m


def _nodule(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """A nodule of diameter `s.size`, drawn with partial volume: solid (soft tissue), ground
    glass (hazy, vessels show through) or part-solid (ground glass with a solid core)."""
    kind, c, r = nodule_type(s), params["center"], s.size / 2
    sl, frac = ellipsoid_occupancy(anat.grid, c, (r, r, r))
    if kind == "solid":
        target = float(rng.uniform(25, 55)) + 8.0 * rng.standard_normal(frac.shape)
        return _blend(anat, sl, frac, target)
    m = _blend(anat, sl, frac, float(rng.uniform(-650, -450)), keep_denser=True)
    if kind == "part_solid":
        rc = r * float(rng.uniform(0.35, 0.6))
        off = rng.normal(0, 0.25 * (r - rc), 3)
        core = (c[0] + off[0], c[1] + off[1], c[2] + off[2])
        sl_c, frac_c = ellipsoid_occupancy(anat.grid, core, (rc, rc, rc))
        m |= _blend(anat, sl_c, frac_c, float(rng.uniform(20, 50)))
    return m


def _solid_lesion(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """A nodule (`_nodule`) or a lobulated mass, kept within its pleural space."""
    side_lung = anat.masks[f"lung_{'left' if s.location in ('lingula',) else s.side}"]
    if s.abnormality == "nodule":
        m = _nodule(anat, s, params, rng)
    else:
        m = _lobulated(anat, params["center"], s.size / 2 * 0.8, rng, 4)
        anat.hu[m] = float(rng.uniform(25, 55)) + 8.0 * rng.standard_normal(int(m.sum()))
    inside = m & (side_lung | anat.masks[f"pleural_space_{s.side}"])
    return inside if inside.any() else m  # anatomy may have moved since it was placed


def _lymph_nodes(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """Two or three enlarged nodes at the location's stations, the largest with short axis
    `s.size` (the others 75-100 % of it), drawn with partial volume."""
    m = np.zeros(anat.grid.shape, bool)
    stations = STATIONS[s.location]
    n = min(len(stations), 2 + int(rng.integers(2)))
    hu = float(rng.uniform(30, 50))
    for i, name in enumerate(rng.choice(stations, size=n, replace=False)):
        c0 = anat.landmarks[str(name)]
        c = tuple(c0[k] + float(rng.normal(0, 3)) for k in range(3))
        short = s.size * (1.0 if i == 0 else float(rng.uniform(0.75, 1.0)))
        radii = (short / 2, short / 2 * float(rng.uniform(1.1, 1.4)), short / 2 * 1.4)
        sl, frac = ellipsoid_occupancy(anat.grid, c, radii)  # type: ignore[arg-type]
        m |= _blend(anat, sl, frac, hu)
    return m & ~anat.masks["airway"]


def _plaque(
    anat: Anatomy, a: np.ndarray, b: np.ndarray, rr: float, rng: np.random.Generator
) -> np.ndarray:
    """One small dense calcified plaque of radius `rr` along the segment a-b (mm), with
    partial volume."""
    sl, frac = capsule_occupancy(anat.grid, tuple(a.tolist()), tuple(b.tolist()), rr)
    return _blend(anat, sl, frac, float(rng.uniform(700, 1500)))


def _unit_normal_to(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    v -= (v @ direction) * direction
    return v / (np.linalg.norm(v) or 1.0)


def _aortic_plaques(anat: Anatomy, s: FindingSpec, rng: np.random.Generator) -> np.ndarray:
    """`s.size` short plaques (2-10 mm long, 2-5 mm thick) on the aortic wall."""
    path, radius = anat.paths["aorta"]
    m = np.zeros(anat.grid.shape, bool)
    for _ in range(round(s.size)):
        k = int(rng.integers(1, len(path) - 1))
        a0, a1 = np.asarray(path[k], float), np.asarray(path[k + 1], float)
        seg = a1 - a0
        length = float(np.linalg.norm(seg)) or 1.0
        v = _unit_normal_to(seg / length, rng)
        t0 = float(rng.random())
        t1 = min(1.0, t0 + float(rng.uniform(2, 10)) / length)
        rr = float(rng.uniform(1.0, 2.5))
        m |= _plaque(anat, a0 + t0 * seg + v * radius, a0 + t1 * seg + v * radius, rr, rng)
    return m


def _coronary_plaques(anat: Anatomy, s: FindingSpec, rng: np.random.Generator) -> np.ndarray:
    """About `s.size` / 2 small plaques in the epicardial fat of the heart's basal half, where
    the coronary arteries run (1.5 mm outside the heart surface)."""
    heart = anat.masks["heart"]
    grid, centre = anat.grid, np.asarray(anat.landmarks["heart_center"], float)
    surface = np.argwhere(heart & ~ndi.binary_erosion(heart))
    pts = np.array([grid.to_point(tuple(i)) for i in surface]) if len(surface) else centre[None]
    basal = pts[pts[:, 2] >= centre[2] - 10.0]
    pts = basal if len(basal) else pts
    m = np.zeros(grid.shape, bool)
    for _ in range(max(2, round(s.size / 2))):
        p = pts[int(rng.integers(len(pts)))]
        out = (p - centre) / (np.linalg.norm(p - centre) or 1.0)
        a = p + 1.5 * out
        b = a + float(rng.uniform(1, 6)) * _unit_normal_to(out, rng)
        m |= _plaque(anat, a, b, float(rng.uniform(0.8, 2.0)), rng)
    return m


def _calcification(anat: Anatomy, s: FindingSpec, params: dict, rng: np.random.Generator):
    """Calcified plaques of the aortic wall or of the coronary arteries."""
    if s.location == "coronary_arteries":
        m = _coronary_plaques(anat, s, rng)
    else:
        m = _aortic_plaques(anat, s, rng)
    return m & ~anat.masks["airway"]


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
    "arterial_wall_calcification": _calcification,
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
