"""What the phantom's anatomy is drawn from: tissue HU, lobe names, one patient's body, and the
changes some findings make to it.

`Habitus` holds one patient's body (sampled once, kept for all of their studies); `Modifiers`
carries findings that reshape anatomy (enlarged heart, pericardial or pleural fluid, pneumothorax,
volume loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radlens.phantom.geometry import Point

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
