"""Normal chest anatomy of the CT phantom, with the geometric changes some findings cause.

`render_anatomy` paints noiseless HU on a `Grid` for a `Habitus` changed by `Modifiers` and
returns tissue masks, the lobe label map (values `LOBE_CODES`) and landmarks used to place lesions.
The torso outside the lungs is painted by `radlens.phantom.torso`, the airways and vessels by
`radlens.phantom.vessels`; the lungs, lobes and pleural spaces are painted here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radlens.phantom.geometry import Grid, Point, smooth_field, tube_mask
from radlens.phantom.habitus import HU, LOBE_CODES, SIDES, Habitus, Modifiers
from radlens.phantom.torso import (
    Heart,
    Spine,
    Torso,
    paint_abdomen,
    paint_body,
    paint_heart,
    paint_ribs,
    paint_spine,
    paint_sternum,
)
from radlens.phantom.vessels import Tube, Tubes, chest_tubes, paint_tubes, tube_keepout


@dataclass
class Anatomy:
    """Noiseless HU plus the maps lesions and tests need."""

    grid: Grid
    hu: np.ndarray
    lobes: np.ndarray
    masks: dict[str, np.ndarray]
    landmarks: dict[str, Point]
    paths: dict[str, Tube]
    fields: dict[str, np.ndarray]


def _mediastinum(t: Torso, spine: Spine, heart: Heart, tubes: Tubes, grid: Grid) -> np.ndarray:
    """Where the lungs may not reach: spine, pericardium and its fat pad, midline, SVC, tubes."""
    z, y, x, yc = t.z, t.y, t.x, t.yc
    keepout = spine.keepout | heart.sac | np.broadcast_to(np.abs(x - 2.0) < 14.0, grid.shape)
    keepout |= (heart.distance <= 8.0 + heart.fluid_mm) & (y - yc < -0.2 * t.ay_c0)  # fat pad
    # the superior vena cava borders the mediastinum on the right (fat between it and the midline)
    svc = tubes.paths["svc"][0]
    keepout |= (
        (x > -38) & (x < 2) & (np.abs(y - (tubes.ty - 30)) < 13) & (z > svc[0][2]) & (z < svc[1][2])
    )
    return keepout | tube_keepout(grid, tubes)


def _parenchyma(
    rng: np.random.Generator, grid: Grid, t: Torso, hila: dict[str, Point]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Lung HU (texture, gravity gradient, vessels denser near the hila) and the random fields
    (`vessels`, `g1`, `g2`) that lesions reuse."""
    z, y, x, shape = t.z, t.y, t.x, grid.shape
    texture = smooth_field(rng, shape, (1.5, 2.0, 2.0))
    g1 = smooth_field(rng, shape, (1.0, 1.7, 1.7))
    g2 = smooth_field(rng, shape, (1.0, 1.7, 1.7))
    dist_h = np.minimum(
        *[np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) for c in hila.values()]
    )
    width = 0.2 * np.clip(1.35 - dist_h / 140.0, 0.35, 1.3)
    vessels = np.exp(-(g1**2 + g2**2) / (2 * width**2))
    gradient = 45.0 * np.clip((y - t.yc + t.ay_c) / (2 * t.ay_c), 0, 1)
    lung_hu = HU["lung"] + gradient + 18.0 * texture
    lung_hu = lung_hu + vessels * (HU["blood"] - lung_hu) * 0.85
    return lung_hu, {"vessels": vessels.astype(np.float32), "g1": g1, "g2": g2}


def _lobes(
    t: Torso,
    h: Habitus,
    dome: dict[str, float],
    lung_full: dict[str, np.ndarray],
    lung_hu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Lobe label map from the oblique fissures (both sides), the horizontal fissure (right) and
    the lingula below a left plane; returns it and the lung HU with the fissures drawn."""
    z, y, x, yc, cz = t.z, t.y, t.x, t.yc, h.carina_z
    fx, fy, fz = h.fissure_shift
    lobes = np.zeros(lung_hu.shape, dtype=np.uint8)
    fissure_w = np.zeros(lung_hu.shape, dtype=np.float32)
    for side in SIDES:
        top_z = cz + (18.0 if side == "right" else 28.0) + fz
        bot_z = dome[side] - 15.0
        y_top, y_bot = yc + 0.95 * t.ay_c0, yc - 0.45 * t.ay_c0 + fy
        slope = (y_top - y_bot) / (top_z - bot_z)
        d_obl = (y - (y_bot + (z - bot_z) * slope) - 0.08 * (np.abs(x) - 60)) / np.hypot(1, slope)
        lower = d_obl > 0
        zh = cz - 28.0 + fx + 0.12 * (y - yc)
        lm = lung_full[side]
        if side == "right":
            lobes[lm & lower] = LOBE_CODES["right_lower_lobe"]
            lobes[lm & ~lower & (z < zh)] = LOBE_CODES["right_middle_lobe"]
            lobes[lm & ~lower & (z >= zh)] = LOBE_CODES["right_upper_lobe"]
            fissure_w += (lm & ~lower) * np.exp(-((z - zh) ** 2) / (2 * 1.3**2))
        else:
            lobes[lm & lower] = LOBE_CODES["left_lower_lobe"]
            lobes[lm & ~lower & (z < zh + 4)] = LOBE_CODES["lingula"]
            lobes[lm & ~lower & (z >= zh + 4)] = LOBE_CODES["left_upper_lobe"]
        fissure_w += lm * np.exp(-(d_obl**2) / (2 * 1.3**2))
    return lobes, lung_hu + np.clip(fissure_w, 0, 1) * 0.35 * (0.0 - lung_hu)


def _pleural_changes(
    t: Torso,
    mods: Modifiers,
    dome: dict[str, float],
    lung_full: dict[str, np.ndarray],
    lung_hu: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Pleural fluid (dependent posterior crescent) and pneumothorax (non-dependent anterior rim)
    per side: (aerated lung per side, masks `pleural_fluid_<side>` / `pneumothorax_<side>`, lung
    HU with the compressed lung and the pleural line drawn)."""
    z, y, x, yc, ax_c, ay_c = t.z, t.y, t.x, t.yc, t.ax_c, t.ay_c
    shape = lung_hu.shape
    masks: dict[str, np.ndarray] = {}
    lung = {s_: lung_full[s_].copy() for s_ in SIDES}
    half = np.sqrt(np.clip(1 - (x / ax_c) ** 2, 0, 1))
    post_wall, ant_wall = yc + ay_c * half, yc - ay_c * half
    for side in SIDES:
        depth = mods.pleural_fluid_mm.get(side, 0.0)
        fluid = np.zeros(shape, bool)
        if depth > 0:
            z_top = dome[side] + 45.0 + 2.5 * depth
            taper = np.sqrt(np.clip((z_top - z) / (z_top - dome[side] + 1e-3), 0, 1))
            level = post_wall - depth * taper - 0.6 * depth * (x / ax_c) ** 4
            fluid = lung_full[side] & (y > level)
            near = lung_full[side] & ~fluid & (y > level - 6.0)
            lung_hu = np.where(near, lung_hu + 0.5 * (-300.0 - lung_hu), lung_hu)
            lung[side] &= ~fluid
        masks[f"pleural_fluid_{side}"] = fluid
        depth = mods.pneumothorax_mm.get(side, 0.0)
        ptx = np.zeros(shape, bool)
        if depth > 0:
            taper = np.clip((z - dome[side]) / 60.0, 0.3, 1.0)
            edge = ant_wall + depth * taper + 0.4 * depth * (x / ax_c) ** 2
            ptx = lung_full[side] & (y < edge)
            pleural_line = lung_full[side] & ~ptx & (y < edge + 3.0)
            lung_hu = np.where(lung_full[side] & ~ptx, lung_hu + 35.0, lung_hu)
            lung_hu = np.where(pleural_line, -250.0, lung_hu)
            lung[side] &= ~ptx
        masks[f"pneumothorax_{side}"] = ptx
    return lung, masks, lung_hu


@dataclass
class _Parts:
    """What `render_anatomy` painted, for the tissue masks."""

    torso: Torso
    ribs: np.ndarray
    spine: Spine
    heart: Heart
    liver: np.ndarray
    lung: dict[str, np.ndarray]
    lung_full: dict[str, np.ndarray]
    airway: np.ndarray


def _tissue_masks(hu: np.ndarray, grid: Grid, p: _Parts, tubes: Tubes) -> dict[str, np.ndarray]:
    """Normal-anatomy masks of the finished chest (tissue HU decides what overlapping paint
    left of the fat, muscle, ribs and pericardial fluid)."""
    t = p.torso
    inner = t.muscle | p.spine.muscle
    return {
        "body": t.body,
        "subcutaneous_fat": t.body & ~inner & (hu == HU["fat"]),
        "chest_wall_muscle": inner & ~t.cavity & ~p.ribs & (hu == HU["muscle"]),
        "lung_right": p.lung["right"],
        "lung_left": p.lung["left"],
        "pleural_space_right": p.lung_full["right"],
        "pleural_space_left": p.lung_full["left"],
        "heart": p.heart.heart,
        "pericardial_fluid": p.heart.fluid & (hu == HU["fluid"]),
        "pericardial_sac": p.heart.sac,
        "airway": p.airway,
        "ribs": p.ribs & (hu == HU["rib"]),
        "spine": p.spine.bones,
        "liver": p.liver,
        "aorta": tube_mask(grid, tubes.paths["aorta"][0], 13.5),
    }


def render_anatomy(grid: Grid, h: Habitus, mods: Modifiers | None = None) -> Anatomy:
    """Paint a chest (noiseless HU, float32) on `grid` for habitus `h` changed by `mods`."""
    mods = mods or Modifiers()
    rng = np.random.default_rng(h.texture_seed)
    hu = np.full(grid.shape, HU["air"], dtype=np.float32)
    t = paint_body(hu, grid, h)
    ribs = paint_ribs(hu, t, h)
    spine = paint_spine(hu, t, h)
    paint_sternum(hu, t, h)
    belly = paint_abdomen(hu, grid, t, h, mods)
    heart = paint_heart(hu, grid, t, h, mods, belly.dome["left"])
    tubes = chest_tubes(spine.y, h.carina_z, heart.center, belly.dome["left"])
    keepout = _mediastinum(t, spine, heart, tubes, grid)

    # lungs: cavity above the diaphragm outside the mediastinum
    above = t.cavity & (t.z > belly.diaphragm) & ~keepout
    lung_full = {"right": above & (t.x < 0), "left": above & (t.x > 0)}
    lung_hu, fields = _parenchyma(rng, grid, t, tubes.hila)
    lobes, lung_hu = _lobes(t, h, belly.dome, lung_full, lung_hu)
    lung, masks, lung_hu = _pleural_changes(t, mods, belly.dome, lung_full, lung_hu)
    lungs = lung["right"] | lung["left"]
    hu[lungs] = lung_hu[lungs]
    for side in SIDES:
        hu[masks[f"pleural_fluid_{side}"]] = HU["fluid"]
        hu[masks[f"pneumothorax_{side}"]] = HU["air"]
    lobes[~lungs] = 0
    airway = paint_tubes(hu, grid, tubes, lungs, keepout)

    parts = _Parts(t, ribs, spine, heart, belly.liver, lung, lung_full, airway)
    masks.update(_tissue_masks(hu, grid, parts, tubes))
    landmarks = tubes.landmarks(heart.center)
    return Anatomy(grid, hu, lobes, masks, landmarks, tubes.paths, fields)
