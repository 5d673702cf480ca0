"""Which series of a study folder to train on: the rules, from the DICOM headers only.

A study folder often holds several series (scout, thick and thin reconstructions, other
kernels, contrast phases, dose reports). `choose_series` keeps the candidates that are

1. CT (Modality),
2. axial (slice normal within `FitnessRules.max_tilt_deg` of the body z axis),
3. complete (the slices form one regular stack: no missing slice, no duplicate position, no
   uneven gap; the checks of `radlens.data.volumes.load_dicom_series`),

and of those takes the thinnest slices (smallest gap along the normal), then the most slices,
then the lowest SeriesNumber (then SeriesInstanceUID) so the choice is deterministic. A
SeriesInstanceUID given for the study overrides the rules (the series must still exist and be
readable). Every series that was left out is listed with why, in `SeriesChoice.notes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radlens.data.volumes import (
    DEFAULT_FITNESS,
    FitnessRules,
    SeriesInfo,
    list_series,
    series_geometry,
)
from radlens.errors import DataError

__all__ = ["SeriesCandidate", "SeriesChoice", "choose_series"]


@dataclass(frozen=True)
class SeriesCandidate:
    """One series with the geometry the rules compare."""

    info: SeriesInfo
    slice_gap_mm: float
    n_slices: int
    tilt_deg: float

    @property
    def sort_key(self) -> tuple:
        number = self.info.series_number
        return (
            round(self.slice_gap_mm, 3),
            -self.n_slices,
            number is None,
            number or 0,
            self.info.series_uid,
        )


@dataclass
class SeriesChoice:
    """The chosen series of a folder and why the others were not chosen."""

    series_uid: str
    candidate: SeriesCandidate | None
    overridden: bool = False
    notes: list[str] = field(default_factory=list)


def _label(info: SeriesInfo) -> str:
    text = f"series {info.series_number}" if info.series_number is not None else "series"
    described = f" {info.description!r}" if info.description else ""
    return f"{text}{described} ({info.modality or 'no modality'}, {info.n_slices} slices)"


def _candidate(folder: Path, info: SeriesInfo) -> SeriesCandidate:
    shape_xyz, affine = series_geometry(folder, info.series_uid)
    normal = np.asarray(affine[:3, 2], dtype=np.float64)
    gap = float(np.linalg.norm(normal))
    tilt = math.degrees(math.acos(min(1.0, abs(float(normal[2]) / gap))))
    return SeriesCandidate(info, gap, int(shape_xyz[2]), tilt)


def choose_series(
    folder: str | Path,
    series_uid: str | None = None,
    rules: FitnessRules = DEFAULT_FITNESS,
) -> SeriesChoice:
    """The series of `folder` to use (see the module docstring for the rules); DataError naming
    every series and why it was left out when none qualifies."""
    folder = Path(folder)
    infos = list_series(folder)
    if series_uid:
        if series_uid not in {i.series_uid for i in infos}:
            found = ", ".join(f"{i.series_uid} = {_label(i)}" for i in infos)
            raise DataError(
                f"{folder}: no series with SeriesInstanceUID {series_uid}; found {found}"
            )
        return SeriesChoice(series_uid, None, overridden=True)
    notes: list[str] = []
    kept: list[SeriesCandidate] = []
    modalities = {m.upper() for m in rules.modalities}
    for info in infos:
        if info.modality.upper() not in modalities:
            notes.append(f"{_label(info)}: not {' or '.join(rules.modalities)}")
            continue
        try:
            candidate = _candidate(folder, info)
        except DataError as exc:
            notes.append(f"{_label(info)}: incomplete ({_short(exc, folder)})")
            continue
        if candidate.tilt_deg > rules.max_tilt_deg:
            notes.append(f"{_label(info)}: not axial ({candidate.tilt_deg:.1f} degrees)")
            continue
        kept.append(candidate)
    if not kept:
        raise DataError(f"no usable CT series: {'; '.join(notes)}")
    kept.sort(key=lambda c: c.sort_key)
    best = kept[0]
    for other in kept[1:]:
        notes.append(
            f"{_label(other.info)}: not chosen ({other.slice_gap_mm:.3g} mm gap, "
            f"{other.n_slices} slices vs {best.slice_gap_mm:.3g} mm, {best.n_slices})"
        )
    return SeriesChoice(best.info.series_uid, best, notes=notes)


def _short(exc: Exception, folder: Path) -> str:
    """The error text with the study folder left out of file names."""
    return str(exc).replace(f"{folder}/", "")
