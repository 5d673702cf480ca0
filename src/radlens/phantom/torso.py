"""The phantom's torso outside the lungs: couch, body wall, ribs, spine, sternum, upper abdomen and
heart, each painted in place into a noiseless HU array (in this order: later paint wins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radlens.phantom.geometry import Grid, Point, ellipsoid_norm
from radlens.phantom.habitus import HU, Habitus, Modifiers

#: Depth (mm) of the band between chest-wall muscle and thoracic cavity that holds the ribs.
RIB_BAND = 11.0
#: Cavity centre (y mm, + posterior).
CAVITY_Y = 4.0


@dataclass
class Torso:
    """Body outline and thoracic cavity on one grid: coordinates and semi-axes are broadcastable
    (z (Z,1,1), y (1,Y,1), x (1,1,X); semi-axes vary per slice)."""

    z: np.ndarray
    y: np.ndarray
    x: np.ndarray
    body: np.ndarray  # inside the skin (breasts included)
    muscle: np.ndarray  # inside the subcutaneous fat
    cavity: np.ndarray  # thoracic cavity (and upper abdomen below the diaphragm)
    ax_c0: np.ndarray  # cavity semi-axes without the apical taper
    ay_c0: np.ndarray
    ax_c: np.ndarray  # cavity semi-axes, tapered towards the apex
    ay_c: np.ndarray
    ay_ref: float  # cavity semi-axis (y) at mid-chest, places the spine and the heart
    yc: float = CAVITY_Y


@dataclass
class Spine:
    """Vertebrae and their surroundings."""

    y: float  # centre (y mm) of the vertebral bodies
    bones: np.ndarray  # vertebral bodies, discs and posterior elements
    muscle: np.ndarray  # paraspinal muscle
    keepout: np.ndarray  # where the lungs may not reach


@dataclass
class Abdomen:
    """Diaphragm and the organs below it."""

    dome: dict[str, float]  # dome height (z mm) per side
    diaphragm: np.ndarray  # z (mm) of the diaphragm surface per (y, x)
    liver: np.ndarray


@dataclass
class Heart:
    """Heart, pericardium and pericardial fluid."""

    center: Point
    distance: np.ndarray  # mm outside the heart surface (negative inside)
    heart: np.ndarray
    fluid: np.ndarray
    sac: np.ndarray
    fluid_mm: float


def cavity_axes(h: Habitus, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body and thoracic-cavity semi-axes per slice, and the apex shrink factor."""
    top = np.clip((z - 110.0) / 50.0, 0.0, 1.0)
    ax_b = h.body_ax * (1 - 0.12 * top) * (1 + 0.04 * np.clip(-z / 150.0, 0, 1))
    ay_b = h.body_ay * (1 - 0.08 * top)
    start = h.apex_z - 55.0
    frac = np.clip((z - start) / (h.apex_z - start), 0.0, 1.01)
    shrink = np.sqrt(np.clip(1.0 - frac**2, 0.0, 1.0))
    return ax_b, ay_b, shrink


def paint_body(hu: np.ndarray, grid: Grid, h: Habitus) -> Torso:
    """Couch, body outline (superellipse flattened posteriorly), breasts, fat, muscle, cavity."""
    z, y, x = grid.axes()
    ax_b, ay_b, shrink = cavity_axes(h, z)
    couch_y = h.body_ay + 12.0
    hu[:, (y[0, :, 0] > couch_y) & (y[0, :, 0] < couch_y + 6), :] = 120.0

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
    ax_c0 = ax_m - h.muscle_mm - RIB_BAND
    ay_c0 = ay_m - h.muscle_mm - RIB_BAND
    yc = CAVITY_Y
    ax_c, ay_c = ax_c0 * shrink + 1e-3, ay_c0 * shrink + 1e-3
    rho_c = np.sqrt((x / ax_c) ** 2 + ((y - yc) / ay_c) ** 2)
    cavity = (rho_c <= 1.0) & (shrink > 0.05)
    hu[cavity] = HU["fat"]  # mediastinal fat until organs are drawn
    ay_ref = h.body_ay - 0.8 * h.fat_mm - h.muscle_mm - RIB_BAND
    return Torso(z, y, x, body, rho_m <= 1.0, cavity, ax_c0, ay_c0, ax_c, ay_c, ay_ref, yc)


def paint_ribs(hu: np.ndarray, t: Torso, h: Habitus) -> np.ndarray:
    """Rib arcs in the band outside the cavity, sloping down anteriorly, 24 mm pitch."""
    z, y, x, yc = t.z, t.y, t.x, t.yc
    rho_r = np.sqrt((x / (t.ax_c0 + RIB_BAND)) ** 2 + ((y - yc) / (t.ay_c0 + RIB_BAND)) ** 2)
    rho_in = np.sqrt((x / t.ax_c0) ** 2 + ((y - yc) / t.ay_c0) ** 2)
    phi = np.arctan2(np.abs(x), (y - yc))  # 0 posterior, pi anterior
    drop = 70.0 * (phi / np.pi)
    phase = (z + drop - h.carina_z) / 24.0
    frac = phase - np.floor(phase)
    rib_z_ok = (z + drop < h.apex_z + 10) & (z + drop > h.dome_right - 70)
    ribs = (rho_in > 1.0) & (rho_r <= 1.0) & (frac < 0.42) & (phi < 0.8 * np.pi) & rib_z_ok
    ribs &= np.abs(x) > 30
    hu[ribs] = HU["rib"]
    return ribs


def paint_spine(hu: np.ndarray, t: Torso, h: Habitus) -> Spine:
    """Vertebral bodies with cortical rim, discs, canal, posterior elements, paraspinal muscle."""
    z, y, x = t.z, t.y, t.x
    spine_y = t.yc + 0.6 * t.ay_ref
    canal_y = spine_y + 25.0
    rho_v = np.sqrt((x / 19.0) ** 2 + ((y - spine_y) / 16.0) ** 2) + 0 * z
    vph = (z - h.carina_z) / 26.0
    disc = (vph - np.floor(vph)) < 0.2
    paraspinal = np.minimum(
        np.sqrt(((x - 33) / 26.0) ** 2 + ((y - canal_y - 14) / 20.0) ** 2),
        np.sqrt(((x + 33) / 26.0) ** 2 + ((y - canal_y - 14) / 20.0) ** 2),
    )
    hu[(paraspinal <= 1.0) & t.body] = HU["muscle"]
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
    keepout = ((np.abs(x) < 30) & (y > spine_y - 21)) | (paraspinal <= 1.05)
    return Spine(spine_y, vert | arch | spinous | transverse, paraspinal <= 1.0, keepout)


def paint_sternum(hu: np.ndarray, t: Torso, h: Habitus) -> None:
    """The sternum, in front of the cavity between the diaphragm and the apex."""
    ster = (np.abs(t.x) < 14) & (np.abs(t.y - (t.yc - t.ay_c0 - 8)) < 6)
    ster &= (t.z > h.dome_right + 10) & (t.z < h.apex_z - 5)
    ster = np.broadcast_to(ster, hu.shape)
    hu[ster] = 450.0


def paint_abdomen(hu: np.ndarray, grid: Grid, t: Torso, h: Habitus, mods: Modifiers) -> Abdomen:
    """Diaphragm domes (raised by volume loss) and the liver, stomach, spleen and gas below."""
    z, y, x, yc = t.z, t.y, t.x, t.yc
    dome = {
        "right": h.dome_right + mods.diaphragm_raise_mm.get("right", 0.0),
        "left": h.dome_right - h.dome_left_drop + mods.diaphragm_raise_mm.get("left", 0.0),
    }
    side_sign = np.sign(x)  # -1 right, +1 left
    dome_z = np.where(side_sign < 0, dome["right"], dome["left"])
    nx_ = (np.abs(x) - 0.45 * t.ax_c0) / t.ax_c0
    ny_ = (y - yc) / t.ay_c0
    diaphragm = dome_z - 75.0 * (nx_**2 + 0.8 * ny_**2) - 12.0 * np.clip(ny_, 0, 1)
    abdomen = t.cavity & (z <= diaphragm)
    liver = abdomen & (x < 35 - 0.2 * (y - yc))
    hu[liver] = HU["liver"]
    hu[abdomen & ~liver & (y - yc < 5)] = 28.0  # stomach
    hu[abdomen & ~liver & (y - yc >= 5)] = 45.0  # spleen
    gas = ellipsoid_norm(grid, (70.0, yc - 25.0, dome["left"] - 30.0), (22, 18, 14)) <= 1.0
    hu[gas & abdomen] = HU["air"]
    return Abdomen(dome, diaphragm, liver)


def paint_heart(
    hu: np.ndarray, grid: Grid, t: Torso, h: Habitus, mods: Modifiers, dome_left: float
) -> Heart:
    """Heart (scaled by cardiomegaly) with epicardial fat, pericardial fluid, pericardium and
    pericardial fat."""
    s = mods.heart_scale
    hx, hy, hz = h.heart_shift
    h_axes = tuple(a * s for a in h.heart_axes)
    h_center = (
        22.0 + hx + (s - 1) * 30.0,
        t.yc - 0.38 * t.ay_ref + hy + (s - 1) * 12.0,
        dome_left + 38.0 + hz + (s - 1) * 8.0,
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
    return Heart(h_center, d_h, heart, peri_fluid, sac, pf)
