"""The cohort-table format: one row per imaging study, shared by every producer and consumer.

A cohort folder holds ``cohort.parquet`` (or ``cohort.csv``) with at least ``patient_id``,
``study_id`` and ``report_text``, and one image column: ``nifti_path``, ``dicom_dir`` or
``npz_path`` (paths relative to the folder). Optional: ``site``, ``mask_path`` (an ``.npz`` of
bool masks keyed ``abnormality@location``), ``true_findings`` (JSON list) and one ``true:<id>``
column per abnormality (0/1 ground truth, synthetic cohorts only). The synthetic phantom
(`radlens.phantom`) writes this format; `radlens.data.ct_cohort` reads it. Mask keys and label
names join abnormality and location with `LOCATION_SEP` (from `radlens.reports.vocabulary`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radlens.errors import DataError
from radlens.reports import LOCATION_SEP

__all__ = [
    "IMAGE_COLUMNS",
    "LOCATION_SEP",
    "PATH_COLUMNS",
    "REQUIRED_COLUMNS",
    "TRUTH_PREFIX",
    "cohort_table_path",
    "load_masks",
    "read_cohort",
    "truth_names",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("patient_id", "study_id", "report_text")
PATH_COLUMNS: tuple[str, ...] = ("dicom_dir", "nifti_path", "npz_path", "mask_path", "report_path")
#: image source name -> its path column
IMAGE_COLUMNS: dict[str, str] = {"nifti": "nifti_path", "dicom": "dicom_dir", "npz": "npz_path"}
TRUTH_PREFIX = "true:"


def cohort_table_path(path: str | Path) -> Path:
    """cohort.parquet (preferred) or cohort.csv inside a folder, or the file itself."""
    path = Path(path)
    if path.is_dir():
        parquet = path / "cohort.parquet"
        path = parquet if parquet.exists() else path / "cohort.csv"
    return path


def read_cohort(path: str | Path) -> pd.DataFrame:
    """Read cohort.parquet/.csv (or its folder) with path columns made absolute."""
    path = cohort_table_path(path)
    if not path.is_file():
        raise DataError(f"{path}: no cohort table (expected cohort.parquet or cohort.csv)")
    table = (
        pd.read_parquet(path)
        if path.suffix == ".parquet"
        else pd.read_csv(path, keep_default_na=False)
    )
    base = path.parent.absolute()  # absolute even for a relative --cohort (callers join again)
    for col in PATH_COLUMNS:
        if col in table:
            table[col] = [str(base / v) if v else "" for v in table[col]]
    return table


def truth_names(table: pd.DataFrame) -> tuple[str, ...]:
    """The abnormalities with a ground-truth column (``true:<id>``), in column order."""
    return tuple(c[len(TRUTH_PREFIX) :] for c in table.columns if c.startswith(TRUTH_PREFIX))


def load_masks(mask_path: str | Path) -> dict[str, np.ndarray]:
    """Masks of one study: {'abnormality@location': bool array, 'lobes': uint8 label map}."""
    path = Path(mask_path)
    if not path.is_file():
        raise DataError(f"mask file {path} not found (column mask_path of the cohort table)")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
