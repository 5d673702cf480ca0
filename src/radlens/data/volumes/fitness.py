"""Is this volume a chest CT a model may score? Fitness checks with their thresholds as data.

`fitness_problems(volume, rules)` runs every check and returns one short reason per failure,
with the measured value and the limit ("1 slice; a chest CT needs >= 40"); `check_fitness`
raises `NotScorableError` carrying them all. The thresholds are a `FitnessRules` (defaults in
`DEFAULT_FITNESS`, a YAML/JSON mapping through `FitnessRules.from_mapping` / `load_fitness_rules`).

Checks, in order (defaults in brackets):

- modality: the DICOM Modality is one of `modalities` [CT]; a volume without one (NIfTI) fails
  unless `allow_missing_modality` [false].
- body part: BodyPartExamined, compared without case, spaces or punctuation, is one of
  `body_parts` [CHEST, THORAX, LUNG, CHEST_ABDOMEN, CHEST_ABDOMEN_PELVIS, ...]; a missing body
  part passes (many scanners leave it empty).
- slices: at least `min_slices` [40] slices.
- coverage: at least `min_z_extent_mm` [150] mm along the body axis (slices x slice gap).
- slice gap / thickness: at most `max_slice_spacing_mm` [5] / `max_slice_thickness_mm` [5].
- pixel spacing: at most `max_pixel_spacing_mm` [1.5] in the slice plane.
- orientation: the slice normal within `max_tilt_deg` [10] degrees of the body's z axis
  (axial); from the acquisition's ImageOrientationPatient (``slice_normal`` in the metadata of
  `load_dicom_series`), else from the volume's own z axis.
- HU range: air present (the 1st percentile at most `air_hu` [-900]: a chest CT holds lung and
  the air around the body near -1000) and the 99.9th percentile at most `max_hu` [4000] (higher
  means wrong rescale / raw stored values). Percentiles of a strided sample of voxels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from radlens.core import look_up_option
from radlens.data.volumes.volume import Volume
from radlens.errors import ConfigError, NotScorableError

__all__ = [
    "DEFAULT_FITNESS",
    "FitnessRules",
    "check_fitness",
    "fitness_problems",
    "load_fitness_rules",
]

_SAMPLE_VOXELS = 2_000_000  # voxels read for the HU percentiles
_AIR_PERCENTILE = 1.0
_MAX_PERCENTILE = 99.9


@dataclass(frozen=True)
class FitnessRules:
    """Thresholds of the fitness checks (see the module docstring)."""

    modalities: tuple[str, ...] = ("CT",)
    allow_missing_modality: bool = False
    body_parts: tuple[str, ...] = (
        "CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_ABDOMEN", "CHEST_ABDOMEN_PELVIS",
        "CHESTABDOMEN", "CHESTABDPELVIS", "THORAX_ABDOMEN", "HEART", "CARDIAC", "WHOLEBODY",
        "NECK_CHEST", "NECKCHEST", "NECK_CHEST_ABDOMEN_PELVIS", "HEADNECKCHEST",
    )  # fmt: skip
    min_slices: int = 40
    min_z_extent_mm: float = 150.0
    max_slice_spacing_mm: float = 5.0
    max_slice_thickness_mm: float = 5.0
    max_pixel_spacing_mm: float = 1.5
    max_tilt_deg: float = 10.0
    air_hu: float = -900.0
    max_hu: float = 4000.0

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, source: str = "fitness rules"
    ) -> FitnessRules:
        """Rules from a mapping of field -> value (others keep their defaults); an unknown key is
        a ConfigError naming it with the closest field."""
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{source}: expected a mapping of rule -> value, got {mapping!r}")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            name = look_up_option(str(key), known, what=f"{source}: rule")
            values[name] = _coerce(name, value, cls.__dataclass_fields__[name].default, source)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Field -> value (tuples as lists), as `from_mapping` reads it back."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in fields(self)
        }


def _coerce(name: str, value: Any, default: Any, source: str) -> Any:
    expected = type(default).__name__
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, tuple):
            items = [value] if isinstance(value, str) else list(value)
            return tuple(str(v).strip().upper() for v in items)
        number = type(default)(value)
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError
        return number
    except (TypeError, ValueError):
        expected = "a list of names" if isinstance(default, tuple) else expected
        raise ConfigError(f"{source}: rule {name} = {value!r}; expected {expected}") from None


DEFAULT_FITNESS = FitnessRules()


def load_fitness_rules(path: str | Path) -> FitnessRules:
    """`FitnessRules.from_mapping` of a YAML (or JSON) file; an empty file gives the defaults."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read fitness rules ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return FitnessRules.from_mapping(loaded or {}, source=str(path))


def _norm(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(text).upper())


def _mm(value: float) -> str:
    return f"{value:.4g}"


def _slice_normal(volume: Volume) -> np.ndarray:
    normal = volume.metadata.get("slice_normal")
    if normal is not None and len(normal) == 3:
        vec = np.asarray(normal, dtype=np.float64)
        if np.linalg.norm(vec) > 0:
            return vec / np.linalg.norm(vec)
    return np.asarray(volume.direction, dtype=np.float64)[:, 2]


def _tilt_deg(volume: Volume) -> float:
    """Angle (degrees) between the slice normal and the body's z (S-I) axis."""
    cosine = min(1.0, abs(float(_slice_normal(volume)[2])))
    return math.degrees(math.acos(cosine))


def _hu_percentiles(array: np.ndarray) -> tuple[float, float]:
    step = max(1, round((array.size / _SAMPLE_VOXELS) ** (1 / 3)))
    sample = array[::step, ::step, ::step]
    low, high = np.percentile(sample, [_AIR_PERCENTILE, _MAX_PERCENTILE])
    return float(low), float(high)


def _header_problems(volume: Volume, rules: FitnessRules) -> list[str]:
    meta = volume.metadata
    problems = []
    modality = str(meta.get("modality") or "").strip().upper()
    expected = " or ".join(rules.modalities)
    if not modality:
        if not rules.allow_missing_modality:
            problems.append(f"modality missing; expected {expected}")
    elif modality not in {m.upper() for m in rules.modalities}:
        problems.append(f"modality {modality}; expected {expected}")
    body = str(meta.get("body_part") or "").strip()
    if body and _norm(body) not in {_norm(b) for b in rules.body_parts}:
        problems.append(f"body part {body}; expected one of {', '.join(rules.body_parts)}")
    return problems


def _geometry_problems(volume: Volume, rules: FitnessRules) -> list[str]:
    problems = []
    n_slices = int(volume.metadata.get("n_slices") or volume.shape[0])
    if n_slices < rules.min_slices:
        word = "slice" if n_slices == 1 else "slices"
        problems.append(f"{n_slices} {word}; a chest CT needs >= {rules.min_slices}")
    gap = float(volume.spacing[0])
    extent = volume.shape[0] * gap
    if extent < rules.min_z_extent_mm:
        problems.append(f"z extent {_mm(extent)} mm; needs >= {_mm(rules.min_z_extent_mm)} mm")
    if gap > rules.max_slice_spacing_mm:
        problems.append(f"slice gap {_mm(gap)} mm; needs <= {_mm(rules.max_slice_spacing_mm)} mm")
    thickness = volume.metadata.get("slice_thickness")
    if thickness and float(thickness) > rules.max_slice_thickness_mm:
        problems.append(
            f"slice thickness {_mm(float(thickness))} mm; "
            f"needs <= {_mm(rules.max_slice_thickness_mm)} mm"
        )
    pixel = max(float(volume.spacing[1]), float(volume.spacing[2]))
    if pixel > rules.max_pixel_spacing_mm:
        problems.append(
            f"pixel spacing {_mm(pixel)} mm; needs <= {_mm(rules.max_pixel_spacing_mm)} mm"
        )
    tilt = _tilt_deg(volume)
    if tilt > rules.max_tilt_deg:
        problems.append(
            f"slices {tilt:.1f} degrees from axial; needs <= {_mm(rules.max_tilt_deg)} degrees"
        )
    return problems


def _hu_problems(volume: Volume, rules: FitnessRules) -> list[str]:
    if volume.array.size == 0:
        return ["no voxels"]
    low, high = _hu_percentiles(volume.array)
    problems = []
    if low > rules.air_hu:
        problems.append(
            f"no air: 1st HU percentile {low:.0f}; a chest CT needs <= {rules.air_hu:.0f} "
            "(lung and air near -1000)"
        )
    if high > rules.max_hu:
        problems.append(
            f"99.9th HU percentile {high:.0f}; needs <= {rules.max_hu:.0f} "
            "(values not in HU? check the rescale)"
        )
    return problems


def fitness_problems(volume: Volume, rules: FitnessRules = DEFAULT_FITNESS) -> list[str]:
    """Every failed fitness check of `volume` as a short reason (measured value and limit);
    empty when the volume passes."""
    return [
        *_header_problems(volume, rules),
        *_geometry_problems(volume, rules),
        *_hu_problems(volume, rules),
    ]


def check_fitness(volume: Volume, rules: FitnessRules = DEFAULT_FITNESS) -> None:
    """Raise `NotScorableError` (with `.reasons`) unless `volume` passes `fitness_problems`."""
    problems = fitness_problems(volume, rules)
    if problems:
        source = volume.metadata.get("source") or "volume"
        raise NotScorableError(f"{source}: not scorable as a chest CT", problems)
