"""Image–report pairs from any cohort table (a folder with cohort.parquet/.csv, or the file).

The table needs an image-path column and a report-text column (named by the caller); paths are
relative to the table's folder unless absolute. PNG / JPEG / DICOM files are 2D radiographs
(`radlens.data.radiographs.load_radiograph`: display-normalised, padded to size x size, uint8);
NIfTI files and DICOM series folders are CT volumes (`radlens.data.volumes`: reoriented,
resampled, windowed, cropped/padded to a shape, float in [0, 1]). One table holds one kind.
Splits: the table's ``split`` column when it has one, else by patient
(`radlens.data.assign_splits`, seeded). Every row whose image is missing or whose report is empty
is listed in one error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radlens.core import suggest
from radlens.data import assign_splits, read_cohort
from radlens.data.radiographs import load_radiograph
from radlens.data.volumes import load_volume, preprocess_volume
from radlens.errors import DataError

__all__ = ["RADIOGRAPH_SUFFIXES", "Pairs", "load_pairs", "pair_problems"]

RADIOGRAPH_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
MAX_LISTED = 50


@dataclass
class Pairs:
    """Images (N, C, *spatial) with their reports and row metadata, all in table order."""

    images: torch.Tensor
    texts: list[str]
    ids: np.ndarray
    patient_ids: np.ndarray
    splits: np.ndarray
    sites: np.ndarray
    table: pd.DataFrame
    spatial_dims: int
    source: str

    def rows(self, split: str | Sequence[str]) -> np.ndarray:
        wanted = [split] if isinstance(split, str) else list(split)
        return np.flatnonzero(np.isin(self.splits, wanted))


def _column(table: pd.DataFrame, name: str, flag: str, source: Path) -> pd.Series:
    if name not in table:
        raise DataError(
            f"{source}: no column {name!r} ({flag}){suggest(name, table.columns)};"
            f" columns: {list(table.columns)}"
        )
    return table[name]


def _resolve(value: object, base: Path) -> Path | None:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    if not text.strip():
        return None
    path = Path(text)
    return path if path.is_absolute() else base / path


def pair_problems(paths: Sequence[Path | None], texts: Sequence[object] | None) -> list[str]:
    """One line per unusable row: image path empty or missing, report empty (`texts` None:
    images only)."""
    problems = []
    texts = ["-"] * len(paths) if texts is None else texts
    for i, (path, text) in enumerate(zip(paths, texts, strict=True)):
        why = []
        if path is None:
            why.append("no image path")
        elif not path.exists():
            why.append(f"image {path} not found")
        if not isinstance(text, str) or not text.strip():
            why.append("empty report")
        if why:
            problems.append(f"row {i}: " + "; ".join(why))
    return problems


def _kind(paths: Sequence[Path], source: Path) -> int:
    dims = {2 if p.suffix.lower() in RADIOGRAPH_SUFFIXES and p.is_file() else 3 for p in paths}
    if len(dims) > 1:
        raise DataError(
            f"{source}: the image column mixes 2D radiographs (PNG/JPEG/DICOM files) and 3D"
            " volumes (NIfTI files, DICOM folders); expected one kind"
        )
    return dims.pop()


def _load_images(
    paths: Sequence[Path], dims: int, size: int, shape: Sequence[int], window: str | None
) -> torch.Tensor:
    if dims == 2:
        arr = np.stack([load_radiograph(p, size) for p in paths])
        return torch.from_numpy(arr[:, None])
    vols = [
        preprocess_volume(load_volume(p), window=window, shape=tuple(shape)) for p in paths
    ]  # each float32 (1, D, H, W) in [0, 1] when windowed
    return torch.from_numpy(np.stack(vols).astype(np.float32))


def load_pairs(
    cohort: str | Path,
    *,
    image_column: str,
    report_column: str | None = "report_text",
    size: int = 224,
    shape: Sequence[int] = (64, 128, 128),
    window: str | None = "lung",
    seed: int = 0,
    patient_column: str = "patient_id",
    id_column: str = "study_id",
) -> Pairs:
    """Read the table, check every row (one error listing all bad rows), load the images.
    `report_column` None: images only (self-supervised pretraining); texts are then empty."""
    source = Path(cohort)
    table = read_cohort(source).reset_index(drop=True)
    base = source if source.is_dir() else source.parent
    texts = None
    if report_column is not None:
        texts = list(_column(table, report_column, "--report-column", source))
    paths = [_resolve(v, base) for v in _column(table, image_column, "--image-column", source)]
    problems = pair_problems(paths, texts)
    if problems:
        shown = problems[:MAX_LISTED]
        more = len(problems) - len(shown)
        raise DataError(
            f"{source}: {len(problems)} of {len(table)} rows cannot be used (column"
            f" {image_column!r}"
            + (f", {report_column!r}" if report_column else "")
            + "; expected an existing image"
            + (" and a non-empty report" if report_column else "")
            + " in every row):\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more else "")
        )
    if not len(table):
        raise DataError(f"{source}: the cohort table has no rows")
    good = [p for p in paths if p is not None]
    dims = _kind(good, source)
    ids = table[id_column].astype(str) if id_column in table else pd.Series(map(str, table.index))
    patients = table[patient_column].astype(str) if patient_column in table else ids
    if "split" in table:
        splits = table["split"].astype(str).to_numpy()
    else:
        split_of = assign_splits(patients, seed=seed)
        splits = np.array([split_of[str(p).strip()] for p in patients])
    sites = table["site"].astype(str).to_numpy() if "site" in table else np.full(len(table), "")
    return Pairs(
        images=_load_images(good, dims, size, shape, window),
        texts=[str(t) for t in texts] if texts is not None else [""] * len(table),
        ids=ids.to_numpy(),
        patient_ids=patients.to_numpy(),
        splits=splits,
        sites=sites,
        table=table,
        spatial_dims=dims,
        source=str(source),
    )
