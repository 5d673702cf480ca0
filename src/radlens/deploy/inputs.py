"""What `radlens predict` is asked to score: files, folders and CSV listings -> `PredictInput`s.

An input is a PNG / JPEG / DICOM image (2D runs), a DICOM series folder, a DICOM file or a NIfTI
file (3D CT runs), or a CSV that lists such paths in a ``path`` column (optional ``id`` column;
relative paths are taken from the CSV's folder). Each input's id is the CSV's ``id`` or the path
as given. The kind (2D image or 3D volume) follows from the path and the run's dimensionality:
an input of the wrong kind for the run is kept with the reason and never scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radlens.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "NIFTI_SUFFIXES",
    "PredictInput",
    "collect_inputs",
    "input_kind",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm", ".dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class PredictInput:
    """One thing to score: its id, its path, and why it cannot be scored (None: it can)."""

    id: str
    path: Path
    problem: str | None = None


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def input_kind(path: Path) -> str:
    """ "image" (PNG/JPEG), "dicom" (a DICOM file: a radiograph or a one-file series),
    "volume" (a series folder or a NIfTI file) or "unknown"."""
    if path.is_dir() or _is_nifti(path):
        return "volume"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in DICOM_SUFFIXES or suffix == "":
        return "dicom"
    return "unknown"


def _problem(path: Path, spatial_dims: int) -> str | None:
    """Why `path` cannot be an input of a `spatial_dims`-D run (None: it can)."""
    if not path.exists():
        return "no such file or folder"
    kind = input_kind(path)
    if kind == "unknown":
        return (
            f"unknown file type {path.suffix!r}; expected PNG/JPEG/DICOM images, DICOM series "
            "folders or NIfTI (.nii, .nii.gz) files"
        )
    if spatial_dims == 2 and kind == "volume":
        return "a 3D volume (series folder or NIfTI); this run scores 2D images"
    if spatial_dims == 3 and kind == "image":
        return f"a 2D {path.suffix} image; this run scores 3D CT volumes"
    return None


def _from_csv(csv_path: Path) -> list[tuple[str, Path]]:
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"input list {csv_path}: not a readable CSV ({exc})") from None
    if "path" not in frame.columns:
        raise DataError(
            f"input list {csv_path}: no 'path' column (has {list(frame.columns)}); expected a "
            "CSV with a 'path' column and an optional 'id' column"
        )
    empty = [i + 2 for i, p in enumerate(frame["path"]) if not p.strip()]
    if empty:
        raise DataError(f"input list {csv_path}: empty 'path' on line(s) {empty[:10]}")
    out = []
    for i, raw in enumerate(frame["path"]):
        path = Path(raw.strip())
        path = path if path.is_absolute() else csv_path.parent / path
        ident = frame["id"].iloc[i].strip() if "id" in frame.columns else ""
        out.append((ident or raw.strip(), path))
    return out


def collect_inputs(inputs: Sequence[str | Path], spatial_dims: int) -> list[PredictInput]:
    """The inputs of a `spatial_dims`-D run, CSV listings expanded, in the order given. Ids must
    be unique (DataError naming the repeated ones); an input that cannot be one of this run's
    inputs keeps its reason in `problem`."""
    if not inputs:
        raise DataError("no inputs: give image files, DICOM series folders, NIfTI files or a CSV")
    pairs: list[tuple[str, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            pairs.extend(_from_csv(path))
        else:
            pairs.append((str(item), path))
    repeated = sorted(i for i, n in Counter(i for i, _ in pairs).items() if n > 1)
    if repeated:
        raise DataError(f"input ids must be unique; repeated: {repeated[:10]}")
    return [PredictInput(i, p, _problem(p, spatial_dims)) for i, p in pairs]
