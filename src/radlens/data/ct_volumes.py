"""A cohort's CT volumes -> one (N, C, D, H, W) uint8 array, prepared as every radlens CT input.

Each volume is read from its NIfTI file, DICOM folder or radlens ``.npz`` (``hu``, ``spacing``,
``origin``: (z, y, x) axial), reoriented, resampled to one spacing and centre crop/padded to one
shape in HU (`radlens.data.volumes.preprocess`, with its disk cache for NIfTI / DICOM), then
windowed into one uint8 channel per HU window (`prepare_ct_volume` / `window_channels`).

The default spacing fits the cohort's field of view into the shape: per axis the median extent
(voxels x spacing, read from the headers; the lower median, so always one study's extent) over
all volumes, rounded to 0.01 mm (headers store float32 spacings), divided by the shape. Every
volume gets that one spacing, so a voxel has the same size in every study (as nnU-Net resamples
to a cohort's median spacing); a volume longer than the median is centre-cropped, a shorter one
padded. The spacing goes to the dataset's ``extra`` and from there to the run's plan, so a new
study is prepared with it. Each study's own extent (`study_extents`) is its field of view: what its
lesion masks span (`radlens.explain.masks`).
"""

from __future__ import annotations

import logging
import statistics
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radlens.data.cohort_table import IMAGE_COLUMNS
from radlens.data.volumes import (
    Volume,
    VolumeCache,
    prepare_ct_volume,
    standard_extent,
    volume_extent,
    window_channels,
)
from radlens.errors import DataError

logger = logging.getLogger(__name__)

#: where a cohort's volumes can be read from (the image columns of the cohort table)
SOURCES: tuple[str, ...] = tuple(IMAGE_COLUMNS)
#: the field of view is rounded to this many decimals (mm)
FOV_DECIMALS = 2

__all__ = [
    "SOURCES",
    "cohort_extents",
    "cohort_spacing",
    "field_of_view",
    "load_volumes",
    "median_extent",
    "npz_extent",
    "read_npz_volume",
    "source_paths",
    "study_extents",
]


def source_paths(table: pd.DataFrame, source: str) -> list[str]:
    """The volume path of every row for `source` ("nifti", "dicom" or "npz")."""
    column = IMAGE_COLUMNS[source]
    paths = []
    for _, row in table.iterrows():
        path = str(row.get(column, "") or "")
        if not path:
            raise DataError(
                f"cohort row {row.get('study_id', '?')}: no {column} (source {source!r}); "
                f"synthesize the cohort with that format or choose another source of {SOURCES}"
            )
        paths.append(path)
    return paths


def read_npz_volume(path: str | Path) -> Volume:
    """A radlens ``.npz`` volume (``hu`` (z, y, x), ``spacing`` (z, y, x) mm, ``origin``)."""
    with np.load(path) as data:
        return Volume(
            data["hu"].astype(np.float32),
            tuple(float(v) for v in data["spacing"]),
            tuple(float(v) for v in data["origin"]),
            np.eye(3),
            {"modality": "CT"},
        )


def npz_extent(path: str | Path) -> tuple[float, float, float]:
    """The (S, P, L) mm a radlens ``.npz`` volume covers (``hu`` voxels x ``spacing``), read from
    the array header of ``hu`` without decompressing the voxels."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("hu.npy") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape = read_header(stream)[0]
        with np.load(path) as data:
            spacing = tuple(float(v) for v in data["spacing"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: unreadable radlens .npz volume ({type(exc).__name__}: {exc}); expected "
            "arrays 'hu' (z, y, x) and 'spacing' (z, y, x) mm"
        ) from exc
    if len(shape) != 3 or len(spacing) != 3:
        raise DataError(f"{path}: 'hu' of shape {shape} and 'spacing' {spacing}; expected 3-D")
    affine = np.eye(4)
    affine[:3, :3] = np.eye(3) * np.array(spacing[::-1])[None, :]  # as `read_npz_volume`'s
    return standard_extent(shape[::-1], affine)


def study_extents(
    paths: Sequence[str], source: str, cache_dir: str | Path | None = None
) -> np.ndarray:
    """(N, 3) float64: the (S, P, L) = (z, y, x) mm each volume covers (voxels x spacing per
    axis once reoriented as `radlens.data.volumes.preprocess` does), from the headers only
    (NIfTI / DICOM extents kept in the `VolumeCache` of `cache_dir`)."""
    cache = VolumeCache(cache_dir) if cache_dir is not None else None
    extents = []
    for path in paths:
        if source == "npz":
            extents.append(npz_extent(path))
        else:
            extents.append(cache.extent(path) if cache is not None else volume_extent(path))
    return np.asarray(extents, dtype=np.float64).reshape(len(extents), 3)


def cohort_extents(table: pd.DataFrame, cache_dir: str | Path | None = None) -> np.ndarray:
    """`study_extents` of a cohort table's rows, each read from its first image column that is
    filled, in the order NIfTI, NPZ, DICOM (the cheapest headers first)."""
    order = ("nifti", "npz", "dicom")
    out = np.zeros((len(table), 3), dtype=np.float64)
    for i, (_, row) in enumerate(table.iterrows()):
        found = [s for s in order if str(row.get(IMAGE_COLUMNS[s], "") or "")]
        if not found:
            columns = [IMAGE_COLUMNS[s] for s in order]
            raise DataError(
                f"cohort row {row.get('study_id', '?')}: no image path in {columns}; expected "
                "one volume per study"
            )
        out[i] = study_extents([str(row[IMAGE_COLUMNS[found[0]]])], found[0], cache_dir)[0]
    return out


def median_extent(extents: np.ndarray) -> tuple[float, float, float]:
    """The median (S, P, L) of `study_extents` (the lower median, so one study's), rounded to
    `FOV_DECIMALS`."""
    rounded = np.round(np.asarray(extents, dtype=np.float64), FOV_DECIMALS)
    return tuple(statistics.median_low(axis.tolist()) for axis in rounded.T)  # type: ignore[return-value]


def field_of_view(
    paths: Sequence[str], source: str, cache_dir: str | Path | None = None
) -> tuple[float, float, float]:
    """The cohort's field of view: `median_extent` of the volumes' `study_extents`."""
    return median_extent(study_extents(paths, source, cache_dir))


def cohort_spacing(extents: np.ndarray, shape: Sequence[int]) -> tuple[float, float, float]:
    """(z, y, x) mm that fits the cohort's field of view (`median_extent` of the volumes'
    `study_extents`) into `shape`."""
    fov = median_extent(extents)
    return tuple(f / int(n) for f, n in zip(fov, shape, strict=True))  # type: ignore[return-value]


def load_volumes(
    paths: Sequence[str],
    *,
    shape: tuple[int, int, int],
    windows: Sequence[tuple[float, float]],
    spacing: tuple[float, float, float],
    cache_dir: str | Path,
    source: str = "nifti",
    progress: bool = True,
) -> np.ndarray:
    """(N, C, D, H, W) uint8: each volume resampled to `spacing`, crop/padded to `shape`
    (NIfTI / DICOM cached as HU under `cache_dir`), then one channel per HU window."""
    cache = VolumeCache(cache_dir)
    out = np.zeros((len(paths), len(windows), *shape), dtype=np.uint8)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        job = bar.add_task("loading CT volumes", total=len(paths))
        for i, path in enumerate(paths):
            if source == "npz":
                out[i] = prepare_ct_volume(read_npz_volume(path), shape, spacing, windows)
            else:
                hu = cache.get(path, target_spacing=spacing, shape=shape)[0]
                out[i] = window_channels(hu, windows)
            bar.advance(job)
    logger.info("volumes: %d loaded, cache hits %d misses %d", len(paths), cache.hits, cache.misses)
    return out
