"""Segmentation data: image volumes and one mask channel per finding, from a cohort table.

Two table layouts (`read_seg_table`):

- a radlens cohort (`radlens cohort synth`): an image column (``nifti_path``, ``dicom_dir`` or
  ``npz_path``, the first filled on every row) and ``mask_path``, an ``.npz`` of bool masks keyed
  ``finding@location`` on the image's own voxel grid; a finding's mask is the union over its
  locations;
- a user's own image + mask folders: ``image_path`` (NIfTI or DICOM) and one
  ``mask_path:<finding>`` column per finding (NIfTI on the image's grid; empty: no lesion).

Every mask must lie on its image's grid (shape; for NIfTI masks also spacing, origin and
orientation): a misaligned mask is refused with the file named, never resampled silently.
Image and masks are then reoriented to SPL and resampled to the run's `spacing` (z, y, x) mm by
`radlens.data.volumes.preprocess_volume`; a mask voxel is in the lesion when its interpolated
value is >= 0.5. Intensity: one channel per HU window (lo, hi) -> [0, 1], clipped.

Training patches (`patch_loader`): MONAI `RandCropByLabelClassesd`, class-balanced over the
findings: each of the `SAMPLES_PER_VOLUME` patches of a volume is centred on a voxel of one class
drawn with weight `BACKGROUND_WEIGHT` for "no finding" and 1 for each finding present in the
volume, so a 5 mm nodule is seen as often as the effusion beside it (a lesion-vs-background draw
on the union would centre patches on the large findings in proportion to their voxels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, DeleteItemsd, RandCropByLabelClassesd, SpatialPadd

from radlens.data import (
    DEMO_WINDOWS,
    LOCATION_SEP,
    TRUTH_PREFIX,
    assign_splits,
    load_masks,
    read_cohort,
    read_npz_volume,
)
from radlens.data.volumes import Volume, check_alignment, load_volume, preprocess_volume
from radlens.errors import ConfigError, DataError

__all__ = [
    "BACKGROUND_WEIGHT",
    "MASK_PREFIX",
    "SAMPLES_PER_VOLUME",
    "SegCase",
    "SegTable",
    "load_case",
    "load_seg_cases",
    "load_study",
    "patch_loader",
    "read_seg_table",
    "window_image",
]

MASK_PREFIX = "mask_path:"
BACKGROUND_WEIGHT, SAMPLES_PER_VOLUME = 1.0, 4
SPLITS = ("train", "val", "test")
_IMAGE_COLUMNS = ("image_path", "nifti_path", "dicom_dir", "npz_path")


@dataclass
class SegCase:
    """One study on the run's grid: image (C, D, H, W) float32 in [0, 1], label (F, D, H, W)
    uint8 (one channel per finding), the (z, y, x) mm spacing of both."""

    study_id: str
    patient_id: str
    split: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]


@dataclass
class SegTable:
    """A cohort table ready for segmentation: rows with a "split", its findings and layout."""

    table: pd.DataFrame
    findings: tuple[str, ...]
    image_column: str
    user_masks: bool  # True: mask_path:<finding> columns; False: a mask_path .npz per study
    source: str


def _absolute(table: pd.DataFrame, folder: Path, columns: Sequence[str]) -> None:
    for col in columns:
        table[col] = [
            str(v) if not v or Path(str(v)).is_absolute() else str(folder / str(v))
            for v in table[col].fillna("").astype(str)
        ]


def _findings(table: pd.DataFrame, user: bool, wanted: Sequence[str] | None, source: str):
    if user:
        known = tuple(c[len(MASK_PREFIX) :] for c in table.columns if c.startswith(MASK_PREFIX))
    else:
        known = tuple(c[len(TRUTH_PREFIX) :] for c in table.columns if c.startswith(TRUTH_PREFIX))
    if not known:
        raise DataError(
            f"{source}: no findings to segment: expected mask_path:<finding> columns (own masks)"
            " or true:<finding> columns with mask_path (a radlens cohort)"
        )
    if not wanted:
        return known
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise ConfigError(f"--findings {unknown[0]!r} is not in {source}; it has {list(known)}")
    return tuple(wanted)


def read_seg_table(
    cohort: str | Path, findings: Sequence[str] | None = None, *, seed: int = 0
) -> SegTable:
    """The cohort table with absolute paths, a "split" column (the table's own when every row has
    train/val/test, else by patient with `assign_splits(seed)`), its findings and layout."""
    table = read_cohort(cohort)
    source = str(cohort)
    folder = Path(cohort) if Path(cohort).is_dir() else Path(cohort).parent
    user = any(c.startswith(MASK_PREFIX) for c in table.columns)
    if "patient_id" not in table:
        raise DataError(f"{source}: cohort table has no 'patient_id' column")
    if "study_id" not in table:
        table["study_id"] = [f"row{i}" for i in range(len(table))]
    image_column = next((c for c in _IMAGE_COLUMNS if c in table and (table[c] != "").all()), None)
    if image_column is None:
        raise DataError(f"{source}: no image column filled on every row; expected {_IMAGE_COLUMNS}")
    if user:
        _absolute(table, folder, ["image_path"] + [c for c in table if c.startswith(MASK_PREFIX)])
    elif "mask_path" not in table:
        raise DataError(f"{source}: no mask_path column (nor mask_path:<finding> columns)")
    names = _findings(table, user, findings, source)
    if "split" in table and table["split"].astype(str).isin(SPLITS).all():
        table["split"] = table["split"].astype(str)
    else:
        split_of = assign_splits(table["patient_id"], seed=seed)
        table["split"] = [split_of[str(p).strip()] for p in table["patient_id"]]
    return SegTable(table.reset_index(drop=True), names, image_column, user, source)


def window_image(hu: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """(C, D, H, W) float32: one channel per (lo, hi) HU window mapped to [0, 1], clipped."""
    out = [np.clip((hu - lo) / (hi - lo), 0.0, 1.0) for lo, hi in windows]
    return np.stack(out).astype(np.float32)


def _masks(row: pd.Series, seg: SegTable, image: Volume) -> list[np.ndarray]:
    """One bool array per finding on the image's grid (refused when off it)."""
    out = []
    if seg.user_masks:
        for f in seg.findings:
            path = str(row[MASK_PREFIX + f] or "")
            if not path:
                out.append(np.zeros(image.shape, dtype=bool))
                continue
            mask = load_volume(path, canonical=False)
            check_alignment(mask, image, source=f"mask {path} ({MASK_PREFIX}{f})")
            out.append(mask.array > 0.5)
        return out
    stored = load_masks(row["mask_path"])
    for f in seg.findings:
        parts = [m for k, m in stored.items() if k.split(LOCATION_SEP)[0] == f]
        union = np.any(np.stack(parts), axis=0) if parts else np.zeros(image.shape, dtype=bool)
        grid = Volume(union.astype(np.float32), image.spacing, image.origin, image.direction)
        check_alignment(grid, image, source=f"mask {row['mask_path']} ({f})")
        out.append(union)
    return out


def load_study(row: pd.Series, seg: SegTable) -> tuple[Volume, list[np.ndarray]]:
    """A row's image volume (its stored array order, as the masks) and one mask per finding."""
    path = str(row[seg.image_column])
    if seg.image_column == "npz_path":
        if not Path(path).is_file():
            raise DataError(f"study {row['study_id']}: volume {path} not found (column npz_path)")
        image = read_npz_volume(path)
    else:
        image = load_volume(path, canonical=False)
    return image, _masks(row, seg, image)


def load_case(
    row: pd.Series,
    seg: SegTable,
    spacing: Sequence[float],
    windows: Sequence[tuple[float, float]],
) -> SegCase:
    """One table row as a `SegCase` on the run's grid (see the module's rules)."""
    image, masks = load_study(row, seg)
    hu = preprocess_volume(image, target_spacing=spacing)[0]
    label = np.zeros((len(masks), *hu.shape), dtype=np.uint8)
    for i, m in enumerate(masks):
        if m.any():
            vol = Volume(m.astype(np.float32), image.spacing, image.origin, image.direction)
            label[i] = preprocess_volume(vol, target_spacing=spacing)[0] >= 0.5
    sp = tuple(float(s) for s in spacing)
    return SegCase(
        str(row["study_id"]), str(row["patient_id"]), str(row["split"]),
        window_image(hu, windows), label, sp,  # type: ignore[arg-type]
    )  # fmt: skip


def load_seg_cases(
    seg: SegTable,
    spacing: Sequence[float],
    windows: Sequence[tuple[float, float]] | None = None,
    splits: Sequence[str] = SPLITS,
) -> list[SegCase]:
    """The cases of `splits`, in table order (windows default: `radlens.data.DEMO_WINDOWS`)."""
    wins = [tuple(map(float, w)) for w in (windows or DEMO_WINDOWS)]
    rows = seg.table[seg.table["split"].isin(list(splits))]
    return [load_case(row, seg, spacing, wins) for _, row in rows.iterrows()]


def patch_loader(
    cases: Sequence[SegCase], patch: Sequence[int], *, batch_size: int, seed: int
) -> DataLoader:
    """Shuffled class-balanced patches (`SAMPLES_PER_VOLUME` per volume per epoch, centred as the
    module says), volumes smaller than `patch` zero-padded first."""
    if not cases:
        raise DataError("no training studies: the train split is empty")
    size = tuple(int(p) for p in patch)
    n_findings = int(cases[0].label.shape[0])
    data = []
    for c in cases:
        lesion = c.label > 0
        classes = np.concatenate([~lesion.any(axis=0, keepdims=True), lesion]).astype(np.uint8)
        data.append({"image": c.image, "label": c.label, "classes": classes})
    transform = Compose(
        [
            SpatialPadd(keys=["image", "label", "classes"], spatial_size=size, mode="constant"),
            RandCropByLabelClassesd(
                keys=["image", "label"],
                label_key="classes",
                spatial_size=size,
                ratios=[BACKGROUND_WEIGHT] + [1.0] * n_findings,
                num_classes=n_findings + 1,
                num_samples=SAMPLES_PER_VOLUME,
                allow_smaller=True,
                warn=False,  # a finding absent from a volume: its weight is 0 there
            ),
            DeleteItemsd(keys=["classes"]),  # the uncropped class map: not part of a patch
        ]
    )
    transform.set_random_state(seed=seed)
    return DataLoader(
        Dataset(data, transform=transform),
        batch_size=max(1, batch_size // SAMPLES_PER_VOLUME),
        shuffle=True,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )
