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
study is prepared with it.
"""

from __future__ import annotations

import logging
import statistics
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
    "cohort_spacing",
    "field_of_view",
    "load_volumes",
    "read_npz_volume",
    "source_paths",
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


def field_of_view(
    paths: Sequence[str], source: str, cache_dir: str | Path | None = None
) -> tuple[float, float, float]:
    """The median (S, P, L) extent in mm of the volumes (the lower median), rounded to
    `FOV_DECIMALS`; NIfTI / DICOM extents are read from the headers (kept in the `VolumeCache` of
    `cache_dir`)."""
    cache = VolumeCache(cache_dir) if cache_dir is not None else None
    extents = []
    for path in paths:
        if source == "npz":
            volume = read_npz_volume(path)
            extents.append(standard_extent(volume.shape[::-1], volume.affine))
        else:
            extents.append(cache.extent(path) if cache is not None else volume_extent(path))
    rounded = np.round(np.asarray(extents, dtype=np.float64), FOV_DECIMALS)
    return tuple(statistics.median_low(axis.tolist()) for axis in rounded.T)  # type: ignore[return-value]


def cohort_spacing(
    paths: Sequence[str], source: str, shape: Sequence[int], cache_dir: str | Path | None = None
) -> tuple[float, float, float]:
    """(z, y, x) mm that fits the cohort's field of view (`field_of_view`) into `shape`."""
    fov = field_of_view(paths, source, cache_dir)
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
