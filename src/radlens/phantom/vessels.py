"""The phantom's tubes: airways, great vessels, lobar pulmonary arteries and the oesophagus, as
polylines (LPS mm) with radii, the hila and mediastinal landmarks, and how the tubes are drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radlens.phantom.geometry import Grid, Point, tube_distance, tube_mask
from radlens.phantom.habitus import HU

Tube = tuple[list[Point], float]  # polyline and radius (mm)

#: Tubes drawn over lungs and mediastinum as blood/soft tissue (airways are drawn as air).
SOLID_TUBES: tuple[str, ...] = (
    "aorta",
    "pulmonary_artery",
    "right_pulmonary_artery",
    "left_pulmonary_artery",
    "svc",
    "esophagus",
)
AIRWAYS: tuple[str, ...] = ("trachea", "right_main_bronchus", "left_main_bronchus")


@dataclass
class Tubes:
    """Where the mediastinal tubes run for one patient."""

    ty: float  # y (mm) of the trachea
    cz: float  # z (mm) of the carina
    paths: dict[str, Tube]  # trachea, main bronchi, great vessels, oesophagus
    lobar: dict[str, Tube]  # lobar pulmonary arteries (drawn in the lungs, not kept out)
    hila: dict[str, Point]

    def landmarks(self, heart_center: Point) -> dict[str, Point]:
        """Named points lesions are placed at (lymph node stations, hila, carina, heart)."""
        ty, cz = self.ty, self.cz
        return {
            "carina": (0.0, ty, cz),
            "right_hilum": self.hila["right"],
            "left_hilum": self.hila["left"],
            "heart_center": heart_center,
            "right_paratracheal": (-17.0, ty - 6, cz + 22),
            "subcarinal": (2.0, ty + 20, cz - 24),
            "aortopulmonary_window": (18.0, ty - 10, cz + 6),
        }


def chest_tubes(spine_y: float, carina_z: float, heart_center: Point, dome_left: float) -> Tubes:
    """The tubes of a chest whose spine, carina, heart and left diaphragm dome are given."""
    ty = spine_y - 45.0
    cz = carina_z
    trachea = [(0.0, ty, 170.0), (0.0, ty, cz)]
    bronchi = {
        "right": [(0.0, ty, cz), (-28.0, ty + 8, cz - 18), (-48.0, ty + 14, cz - 40)],
        "left": [(0.0, ty, cz), (30.0, ty + 10, cz - 22), (52.0, ty + 18, cz - 48)],
    }
    asc_top = cz - 10.0
    aorta = [
        (-6.0, ty - 44, heart_center[2] + 20),
        (-8.0, ty - 44, asc_top),
        (-4.0, ty - 36, cz + 20),
        (14.0, ty - 22, cz + 30),
        (30.0, ty + 2, cz + 26),
        (26.0, spine_y - 22, cz + 8),
        (24.0, spine_y - 22, dome_left - 20),
        (8.0, spine_y - 24, -170.0),
    ]
    pa = [(14.0, heart_center[1] - 10, heart_center[2] + 30), (6.0, ty - 24, cz - 8)]
    pa_r = [(6.0, ty - 24, cz - 8), (-46.0, ty + 2, cz - 22)]
    pa_l = [(6.0, ty - 24, cz - 8), (28.0, ty - 6, cz + 2), (48.0, ty + 8, cz - 14)]
    svc = [(-26.0, ty - 30, heart_center[2] + 25), (-26.0, ty - 30, cz + 60)]
    eso = [(8.0, spine_y - 25, 170.0), (12.0, spine_y - 28, dome_left - 10)]
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
    lobar = {
        "right_upper_pa": ([pa_r[1], (-70.0, ty + 4, cz + 5), (-85.0, ty + 8, cz + 35)], 4.5),
        "right_lower_pa": ([pa_r[1], (-66.0, ty + 22, cz - 50), (-78.0, ty + 40, cz - 80)], 4.5),
        "left_upper_pa": ([pa_l[2], (72.0, ty + 8, cz + 5), (85.0, ty + 12, cz + 30)], 4.5),
        "left_lower_pa": ([pa_l[2], (66.0, ty + 26, cz - 50), (76.0, ty + 42, cz - 80)], 4.5),
    }
    hila = {"right": (-48.0, ty + 10, cz - 30), "left": (50.0, ty + 14, cz - 36)}
    return Tubes(ty, cz, paths, lobar, hila)


def tube_keepout(grid: Grid, tubes: Tubes) -> np.ndarray:
    """Where the mediastinal tubes (with a margin) keep the lungs out; bronchi do not."""
    keepout = np.zeros(grid.shape, bool)
    for name, (path, r) in tubes.paths.items():
        if name.startswith(("right_", "left_")) and "bronchus" not in name:
            keepout |= tube_mask(grid, path[:2], r, 2.0)
        elif "bronchus" not in name:
            keepout |= tube_mask(grid, path, r, 3.0)
    return keepout


def paint_tubes(
    hu: np.ndarray, grid: Grid, tubes: Tubes, lungs: np.ndarray, keepout: np.ndarray
) -> np.ndarray:
    """Draw vessels and oesophagus, lobar arteries (in lungs and mediastinum), then the airways
    (air in a soft-tissue wall); returns the airway lumen mask."""
    for name in SOLID_TUBES:
        path, r = tubes.paths[name]
        hu[tube_mask(grid, path, r)] = HU["blood"]
    for path, r in tubes.lobar.values():
        hu[tube_mask(grid, path, r) & (lungs | keepout)] = HU["blood"]
    airway = np.zeros(grid.shape, bool)
    for name in AIRWAYS:
        path, r = tubes.paths[name]
        dist = tube_distance(grid, path, r + 3.0)
        hu[dist <= r + 1.8] = 35.0  # airway wall
        airway |= dist <= r
    hu[airway] = HU["air"]
    return airway
