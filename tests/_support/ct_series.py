"""Small synthetic chest CT volumes and DICOM series for the fitness, series-choice and
cohort-import tests (radlens.data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from radlens.data.volumes import Volume, write_dicom_series


def chest_volume(
    n_slices: int = 64, gap: float = 2.5, pixel: float = 0.8, size: int = 48
) -> Volume:
    """A synthetic chest: air around a soft-tissue body holding two air-filled lungs and bone."""
    z, y, x = np.meshgrid(
        np.arange(n_slices), np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij"
    )
    hu = np.full(z.shape, -1000.0, dtype=np.float32)
    hu[(x**2 / 0.8 + y**2 / 0.5) < 1] = 40.0
    hu[((np.abs(x) - 0.4) ** 2 / 0.08 + y**2 / 0.2) < 1] = -850.0
    hu[(x**2 + (y - 0.55) ** 2) < 0.01] = 900.0
    return Volume(hu, (gap, pixel, pixel), (0.0, 0.0, 0.0), metadata={"modality": "CT"})


def write_series(folder: Path, volume: Volume, **kwargs: Any) -> str:
    """Write `volume` as a CT series into `folder`; returns its SeriesInstanceUID."""
    paths = write_dicom_series(volume, folder, **{"patient_id": "P1", **kwargs})
    return str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)


def set_tag(paths: list[Path], keyword: str, value: Any) -> None:
    """Rewrite one attribute in every file (e.g. Modality "MR")."""
    for path in paths:
        ds = pydicom.dcmread(path)
        setattr(ds, keyword, value)
        ds.save_as(path)
