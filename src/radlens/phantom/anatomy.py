"""Normal chest anatomy of the CT phantom, with the geometric changes some findings cause.

`Habitus` holds one patient's body (sampled once, kept for all of their studies); `Modifiers`
carries findings that reshape anatomy (enlarged heart, pericardial or pleural fluid, pneumothorax,
volume loss); `render_anatomy` paints noiseless HU on a `Grid` and returns tissue masks, the lobe
label map (values `LOBE_CODES`) and landmarks used to place lesions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radlens.phantom.geometry import (
    Grid,
    Point,
    ellipsoid_norm,
    smooth_field,
    tube_distance,
    tube_mask,
)

LOBES: tuple[str, ...] = (
    "right_upper_lobe",
    "right_middle_lobe",
    "right_lower_lobe",
    "left_upper_lobe",
    "lingula",
    "left_lower_lobe",
)
#: Value of each lobe in the lobe label map (0 = not lung).
LOBE_CODES: dict[str, int] = {name: i + 1 for i, name in enumerate(LOBES)}
SIDES: tuple[str, ...] = ("right", "left")

HU = {
    "air": -1000.0,
    "fat": -95.0,
    "muscle": 45.0,
    "blood": 40.0,
    "fluid": 10.0,
    "liver": 58.0,
    "lung": -920.0,
    "trabecular": 230.0,
    "cortex": 800.0,
    "rib": 700.0,
    "disc": 85.0,
    "csf": 15.0,
}


@dataclass(frozen=True)
class Habitus:
    """One patient's body: sizes in mm, positions relative to the grid centre."""

    sex: str
    age: int
    body_ax: float
    body_ay: float
    fat_mm: float
    muscle_mm: float
    heart_shift: Point
    heart_axes: Point
    heart_angle: float
    dome_right: float
    dome_left_drop: float
    apex_z: float
    carina_z: float
    fissure_shift: Point
    texture_seed: int

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Habitus:
        """A plausible adult habitus."""
        sex = "female" if rng.random() < 0.45 else "male"
        scale = 0.93 if sex == "female" else 1.0
        return cls(
            sex=sex,
            age=int(rng.integers(34, 88)),
            body_ax=float(rng.uniform(145, 165) * scale),
            body_ay=float(rng.uniform(98, 114) * scale),
            fat_mm=float(rng.uniform(8, 24)),
            muscle_mm=float(rng.uniform(8, 13)),
            heart_shift=tuple(float(v) for v in rng.uniform(-6, 6, 3)),  # type: ignore[arg-type]
            heart_axes=(
                float(rng.uniform(50, 57)),
                float(rng.uniform(39, 45)),
                float(rng.uniform(42, 48)),
            ),
            heart_angle=float(rng.uniform(30, 45)),
            dome_right=float(rng.uniform(-55, -40)),
            dome_left_drop=float(rng.uniform(8, 16)),
            apex_z=float(rng.uniform(122, 135)),
            carina_z=float(rng.uniform(45, 58)),
            fissure_shift=tuple(float(v) for v in rng.uniform(-8, 8, 3)),  # type: ignore[arg-type]
            texture_seed=int(rng.integers(0, 2**31 - 1)),
        )


@dataclass(frozen=True)
class Modifiers:
    """Anatomy changes caused by findings (all zero for a normal chest)."""

    heart_scale: float = 1.0
    pericardial_fluid_mm: float = 0.0
    pleural_fluid_mm: dict[str, float] = field(default_factory=dict)
    pneumothorax_mm: dict[str, float] = field(default_factory=dict)
    diaphragm_raise_mm: dict[str, float] = field(default_factory=dict)


@dataclass
class Anatomy:
    """Noiseless HU plus the maps lesions and tests need."""

    grid: Grid
    hu: np.ndarray
    lobes: np.ndarray
    masks: dict[str, np.ndarray]
    landmarks: dict[str, Point]
    paths: dict[str, tuple[list[Point], float]]
    fields: dict[str, np.ndarray]


def _cavity_axes(h: Habitus, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body and thoracic-cavity semi-axes per slice, and the apex shrink factor."""
    top = np.clip((z - 110.0) / 50.0, 0.0, 1.0)
    ax_b = h.body_ax * (1 - 0.12 * top) * (1 + 0.04 * np.clip(-z / 150.0, 0, 1))
    ay_b = h.body_ay * (1 - 0.08 * top)
    start = h.apex_z - 55.0
    frac = np.clip((z - start) / (h.apex_z - start), 0.0, 1.01)
    shrink = np.sqrt(np.clip(1.0 - frac**2, 0.0, 1.0))
    return ax_b, ay_b, shrink


def render_anatomy(grid: Grid, h: Habitus, mods: Modifiers | None = None) -> Anatomy:
    """Paint a chest (noiseless HU, float32) on `grid` for habitus `h` changed by `mods`."""
    mods = mods or Modifiers()
    z, y, x = grid.axes()
    shape = grid.shape
    rng = np.random.default_rng(h.texture_seed)
    ax_b, ay_b, shrink = _cavity_axes(h, z)
    hu = np.full(shape, HU["air"], dtype=np.float32)

    # couch under the patient
    couch_y = h.body_ay + 12.0
    hu[:, (y[0, :, 0] > couch_y) & (y[0, :, 0] < couch_y + 6), :] = 120.0

    # body outline: superellipse flattened posteriorly; fat, then muscle, then cavity
    p = np.where(y > 0, 2.8, 2.0)
    rho_b = (np.abs(x / ax_b) ** p + np.abs(y / ay_b) ** p) ** (1 / p)
    body = rho_b <= 1.0
    if h.sex == "female":
        zb = h.carina_z - 60.0
        for side in (-1, 1):
            breast = ellipsoid_norm(grid, (side * 65.0, -h.body_ay + 12, zb), (55, 38, 50))
            body |= breast <= 1.0
            hu[breast <= 0.55] = 25.0
    hu[body & (hu == HU["air"])] = HU["fat"]
    ax_m, ay_m = ax_b - h.fat_mm, ay_b - 0.8 * h.fat_mm
    rho_m = (np.abs(x / ax_m) ** p + np.abs(y / ay_m) ** p) ** (1 / p)
    hu[rho_m <= 1.0] = HU["muscle"]
    rib_band = 11.0
    ax_c0 = ax_m - h.muscle_mm - rib_band
    ay_c0 = ay_m - h.muscle_mm - rib_band
    yc = 4.0
    ax_c, ay_c = ax_c0 * shrink + 1e-3, ay_c0 * shrink + 1e-3
    rho_c = np.sqrt((x / ax_c) ** 2 + ((y - yc) / ay_c) ** 2)
    cavity = (rho_c <= 1.0) & (shrink > 0.05)
    hu[cavity] = HU["fat"]  # mediastinal fat until organs are drawn

    # ribs: arcs in the band outside the cavity, sloping down anteriorly, 24 mm pitch
    rho_r = np.sqrt((x / (ax_c0 + rib_band)) ** 2 + ((y - yc) / (ay_c0 + rib_band)) ** 2)
    rho_in = np.sqrt((x / ax_c0) ** 2 + ((y - yc) / ay_c0) ** 2)
    phi = np.arctan2(np.abs(x), (y - yc))  # 0 posterior, pi anterior
    drop = 70.0 * (phi / np.pi)
    phase = (z + drop - h.carina_z) / 24.0
    frac = phase - np.floor(phase)
    rib_z_ok = (z + drop < h.apex_z + 10) & (z + drop > h.dome_right - 70)
    ribs = (rho_in > 1.0) & (rho_r <= 1.0) & (frac < 0.42) & (phi < 0.8 * np.pi) & rib_z_ok
    ribs &= np.abs(x) > 30
    hu[ribs] = HU["rib"]

    # spine: vertebral bodies with cortical rim, discs, canal, posterior elements, paraspinal muscle
    ay_ref = h.body_ay - 0.8 * h.fat_mm - h.muscle_mm - rib_band
    spine_y = yc + 0.6 * ay_ref
    canal_y = spine_y + 25.0
    rho_v = np.sqrt((x / 19.0) ** 2 + ((y - spine_y) / 16.0) ** 2) + 0 * z
    vph = (z - h.carina_z) / 26.0
    disc = (vph - np.floor(vph)) < 0.2
    paraspinal = np.minimum(
        np.sqrt(((x - 33) / 26.0) ** 2 + ((y - canal_y - 14) / 20.0) ** 2),
        np.sqrt(((x + 33) / 26.0) ** 2 + ((y - canal_y - 14) / 20.0) ** 2),
    )
    hu[(paraspinal <= 1.0) & body] = HU["muscle"]
    vert = rho_v <= 1.0
    hu[vert] = np.where(disc, HU["disc"], np.where(rho_v > 0.78, HU["cortex"], HU["trabecular"]))[
        vert
    ]
    r_canal = np.sqrt(x**2 + (y - canal_y) ** 2) + 0 * z
    arch = (r_canal > 8) & (r_canal <= 13) & (y > canal_y - 5) & ~disc
    spinous = (np.abs(x) < 4.5) & (y > canal_y + 10) & (y < canal_y + 24) & ~disc
    transverse = (np.abs(y - spine_y - 14) < 5) & (np.abs(x) > 12) & (np.abs(x) < 36) & ~disc
    hu[arch | spinous | transverse] = 600.0
    hu[r_canal <= 8] = HU["csf"]
    spine_keepout = ((np.abs(x) < 30) & (y > spine_y - 21)) | (paraspinal <= 1.05)

    # sternum
    ster = (np.abs(x) < 14) & (np.abs(y - (yc - ay_c0 - 8)) < 6)
    ster &= (z > h.dome_right + 10) & (z < h.apex_z - 5)
    ster = np.broadcast_to(ster, shape)
    hu[ster] = 450.0

    # diaphragm domes and upper abdomen
    dome = {
        "right": h.dome_right + mods.diaphragm_raise_mm.get("right", 0.0),
        "left": h.dome_right - h.dome_left_drop + mods.diaphragm_raise_mm.get("left", 0.0),
    }
    side_sign = np.sign(x)  # -1 right, +1 left
    dome_z = np.where(side_sign < 0, dome["right"], dome["left"])
    nx_ = (np.abs(x) - 0.45 * ax_c0) / ax_c0
    ny_ = (y - yc) / ay_c0
    diaphragm = dome_z - 75.0 * (nx_**2 + 0.8 * ny_**2) - 12.0 * np.clip(ny_, 0, 1)
    abdomen = cavity & (z <= diaphragm)
    liver = abdomen & (x < 35 - 0.2 * (y - yc))
    hu[liver] = HU["liver"]
    hu[abdomen & ~liver & (y - yc < 5)] = 28.0  # stomach
    hu[abdomen & ~liver & (y - yc >= 5)] = 45.0  # spleen
    gas = ellipsoid_norm(grid, (70.0, yc - 25.0, dome["left"] - 30.0), (22, 18, 14)) <= 1.0
    hu[gas & abdomen] = HU["air"]

    # heart with epicardial fat, pericardial fluid, pericardium and pericardial fat
    s = mods.heart_scale
    hx, hy, hz = h.heart_shift
    h_axes = tuple(a * s for a in h.heart_axes)
    h_center = (
        22.0 + hx + (s - 1) * 30.0,
        yc - 0.38 * ay_ref + hy + (s - 1) * 12.0,
        dome["left"] + 38.0 + hz + (s - 1) * 8.0,
    )
    rho_h = ellipsoid_norm(grid, h_center, h_axes, h.heart_angle)
    d_h = (rho_h - 1.0) * float(np.mean(h_axes))
    pf = mods.pericardial_fluid_mm
    heart = rho_h <= 1.0
    peri_fluid = (d_h > 2.5) & (d_h <= 2.5 + pf)
    sac = d_h <= 4.5 + pf
    hu[sac] = HU["fat"]
    hu[(d_h > 2.5 + pf) & sac] = 30.0
    hu[peri_fluid] = HU["fluid"]
    hu[heart] = HU["blood"]

    # airways, vessels and oesophagus
    ty = spine_y - 45.0
    cz = h.carina_z
    trachea = [(0.0, ty, 170.0), (0.0, ty, cz)]
    bronchi = {
        "right": [(0.0, ty, cz), (-28.0, ty + 8, cz - 18), (-48.0, ty + 14, cz - 40)],
        "left": [(0.0, ty, cz), (30.0, ty + 10, cz - 22), (52.0, ty + 18, cz - 48)],
    }
    asc_top = cz - 10.0
    aorta = [
        (-6.0, ty - 44, h_center[2] + 20),
        (-8.0, ty - 44, asc_top),
        (-4.0, ty - 36, cz + 20),
        (14.0, ty - 22, cz + 30),
        (30.0, ty + 2, cz + 26),
        (26.0, spine_y - 22, cz + 8),
        (24.0, spine_y - 22, dome["left"] - 20),
        (8.0, spine_y - 24, -170.0),
    ]
    pa = [(14.0, h_center[1] - 10, h_center[2] + 30), (6.0, ty - 24, cz - 8)]
    pa_r = [(6.0, ty - 24, cz - 8), (-46.0, ty + 2, cz - 22)]
    pa_l = [(6.0, ty - 24, cz - 8), (28.0, ty - 6, cz + 2), (48.0, ty + 8, cz - 14)]
    svc = [(-26.0, ty - 30, h_center[2] + 25), (-26.0, ty - 30, cz + 60)]
    eso = [(8.0, spine_y - 25, 170.0), (12.0, spine_y - 28, dome["left"] - 10)]
    paths = {
        "trachea": (trachea, 9.5),
        "right_main_bronchus": (bronchi["right"], 6.5),
        "left_main_bronchus": (bronchi["left"], 6.0),
        "aorta": (aorta, 13.5),
        "pulmonary_artery": (pa, 13.0),
        "right_pulmonary_artery": (pa_r, 9.0),
        "left_pulmonary_artery": (pa_l, 9.0),
        "svc": (svc, 9.0),
        "esophagus": (eso, 8.0),
    }
    # lobar pulmonary arteries running from the hila into the lungs (drawn, not kept out)
    lobar = {
        "right_upper_pa": ([pa_r[1], (-70.0, ty + 4, cz + 5), (-85.0, ty + 8, cz + 35)], 4.5),
        "right_lower_pa": ([pa_r[1], (-66.0, ty + 22, cz - 50), (-78.0, ty + 40, cz - 80)], 4.5),
        "left_upper_pa": ([pa_l[2], (72.0, ty + 8, cz + 5), (85.0, ty + 12, cz + 30)], 4.5),
        "left_lower_pa": ([pa_l[2], (66.0, ty + 26, cz - 50), (76.0, ty + 42, cz - 80)], 4.5),
    }
    keepout = spine_keepout | sac | np.broadcast_to(np.abs(x - 2.0) < 14.0, shape)
    keepout |= (d_h <= 8.0 + pf) & (y - yc < -0.2 * ay_c0)  # pericardial fat pad anteriorly
    # the superior vena cava borders the mediastinum on the right (fat between it and the midline)
    keepout |= (
        (x > -38) & (x < 2) & (np.abs(y - (ty - 30)) < 13) & (z > svc[0][2]) & (z < svc[1][2])
    )
    for name, (path, r) in paths.items():
        if name.startswith(("right_", "left_")) and "bronchus" not in name:
            keepout |= tube_mask(grid, path[:2], r, 2.0)
        elif "bronchus" not in name:
            keepout |= tube_mask(grid, path, r, 3.0)

    # lungs: cavity above the diaphragm outside the mediastinum
    lung_full = {
        "right": cavity & (x < 0) & (z > diaphragm) & ~keepout,
        "left": cavity & (x > 0) & (z > diaphragm) & ~keepout,
    }
    texture = smooth_field(rng, shape, (1.5, 2.0, 2.0))
    g1 = smooth_field(rng, shape, (1.0, 1.7, 1.7))
    g2 = smooth_field(rng, shape, (1.0, 1.7, 1.7))
    hila = {"right": (-48.0, ty + 10, cz - 30), "left": (50.0, ty + 14, cz - 36)}
    dist_h = np.minimum(
        *[np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2) for c in hila.values()]
    )
    width = 0.2 * np.clip(1.35 - dist_h / 140.0, 0.35, 1.3)
    vessels = np.exp(-(g1**2 + g2**2) / (2 * width**2))
    gradient = 45.0 * np.clip((y - yc + ay_c) / (2 * ay_c), 0, 1)
    lung_hu = HU["lung"] + gradient + 18.0 * texture
    lung_hu = lung_hu + vessels * (HU["blood"] - lung_hu) * 0.85

    # lobes: oblique fissures (both), horizontal fissure (right); lingula below a left plane
    fx, fy, fz = h.fissure_shift
    lobes = np.zeros(shape, dtype=np.uint8)
    fissure_w = np.zeros(shape, dtype=np.float32)
    for side in SIDES:
        top_z = cz + (18.0 if side == "right" else 28.0) + fz
        bot_z = dome[side] - 15.0
        y_top, y_bot = yc + 0.95 * ay_c0, yc - 0.45 * ay_c0 + fy
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
    lung_hu = lung_hu + np.clip(fissure_w, 0, 1) * 0.35 * (0.0 - lung_hu)

    # pleural fluid (dependent posterior crescent) and pneumothorax (non-dependent anterior rim)
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
    lungs = lung["right"] | lung["left"]
    hu[lungs] = lung_hu[lungs]
    for side in SIDES:
        hu[masks[f"pleural_fluid_{side}"]] = HU["fluid"]
        hu[masks[f"pneumothorax_{side}"]] = HU["air"]
    lobes[~lungs] = 0

    # tubes drawn over the lungs/mediastinum: vessels, oesophagus, then airways (air in a wall)
    for name in (
        "aorta",
        "pulmonary_artery",
        "right_pulmonary_artery",
        "left_pulmonary_artery",
        "svc",
        "esophagus",
    ):
        path, r = paths[name]
        hu[tube_mask(grid, path, r)] = HU["blood"]
    for path, r in lobar.values():
        hu[tube_mask(grid, path, r) & (lungs | keepout)] = HU["blood"]
    airway = np.zeros(shape, bool)
    for name in ("trachea", "right_main_bronchus", "left_main_bronchus"):
        path, r = paths[name]
        dist = tube_distance(grid, path, r + 3.0)
        hu[dist <= r + 1.8] = 35.0
        airway |= dist <= r
    hu[airway] = HU["air"]

    inner = (rho_m <= 1.0) | (paraspinal <= 1.0)
    masks.update(
        body=body,
        subcutaneous_fat=body & ~inner & (hu == HU["fat"]),
        chest_wall_muscle=inner & ~cavity & ~ribs & (hu == HU["muscle"]),
        lung_right=lung["right"],
        lung_left=lung["left"],
        pleural_space_right=lung_full["right"],
        pleural_space_left=lung_full["left"],
        heart=heart,
        pericardial_fluid=peri_fluid & (hu == HU["fluid"]),
        pericardial_sac=sac,
        airway=airway,
        ribs=ribs & (hu == HU["rib"]),
        spine=vert | arch | spinous | transverse,
        liver=liver,
        aorta=tube_mask(grid, aorta, 13.5),
    )
    landmarks: dict[str, Point] = {
        "carina": (0.0, ty, cz),
        "right_hilum": hila["right"],
        "left_hilum": hila["left"],
        "heart_center": h_center,
        "right_paratracheal": (-17.0, ty - 6, cz + 22),
        "subcarinal": (2.0, ty + 20, cz - 24),
        "aortopulmonary_window": (18.0, ty - 10, cz + 6),
    }
    fields = {"vessels": vessels.astype(np.float32), "g1": g1, "g2": g2}
    return Anatomy(grid, hu, lobes, masks, landmarks, paths, fields)
