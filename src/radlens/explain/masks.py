"""Ground-truth lesion masks of a cohort study on a run's input grid.

A cohort's ``mask_path`` file (`radlens.data.load_masks`) holds bool masks keyed
``abnormality@location`` on the study's own voxel grid, spanning its field of view: the study's
volume extent (`study_fovs`). The run's volumes were resampled to a spacing and centre-cropped/
padded to the model's shape (`radlens.data.volumes.preprocess_volume`); `resized_mask` puts a
mask through that same function, so it lands on the voxels its lesion has in the volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from radlens.data import LOCATION_SEP, ArrayDataset, cohort_extents, load_masks, read_cohort
from radlens.data.volumes import Volume, preprocess_volume
from radlens.errors import ConfigError, DataError

__all__ = ["resized_mask", "study_fovs"]


def resized_mask(
    mask_path: str,
    abnormality: str,
    shape: Sequence[int],
    spacing: Sequence[float] | None = None,
    fov_mm: Sequence[float] | None = None,
) -> np.ndarray | None:
    """Union of one abnormality's masks (all locations) on the model's input grid, or None.

    With `spacing` (z, y, x mm, as the volumes were resampled) and `fov_mm` (the z, y, x mm the
    masks span: their study's extent, `study_fovs`) the union goes through the volumes' own
    `radlens.data.volumes.preprocess_volume`: resampled to `spacing`, centre-cropped/padded to
    `shape`. Without them the whole mask is resized to `shape` (masks on the input's field of
    view). A voxel is in the mask from a quarter covered (small lesions on a coarse grid)."""
    if (spacing is None) != (fov_mm is None):
        raise ConfigError(
            f"resized_mask: spacing {spacing!r} and field of view {fov_mm!r} go together "
            "(both (z, y, x) mm) or not at all"
        )
    masks = load_masks(mask_path)
    parts = [m for k, m in masks.items() if k.split(LOCATION_SEP)[0] == abnormality]
    if not parts:
        return None
    union = np.any(np.stack(parts), axis=0).astype(np.float32)
    size = tuple(int(v) for v in shape)
    if spacing is None or fov_mm is None:
        up = F.interpolate(
            torch.from_numpy(union)[None, None], size=size, mode="trilinear", align_corners=False
        )[0, 0].numpy()
    else:
        fov = tuple(float(f) for f in fov_mm)
        if len(fov) != 3 or min(fov) <= 0:
            raise ConfigError(f"resized_mask: field of view {fov_mm!r}; expected (z, y, x) mm > 0")
        native = tuple(f / n for f, n in zip(fov, union.shape, strict=True))
        volume = Volume(union, native, (0.0, 0.0, 0.0))  # (z, y, x) = S, P, L as preprocessed
        up = preprocess_volume(volume, target_spacing=spacing, shape=size)[0]
    out = up >= 0.25
    return out if out.any() else None


def study_fovs(ds: ArrayDataset, split: str, cohort: str | Path | None = None) -> np.ndarray | None:
    """(N, 3) float64: the (z, y, x) mm each study of `split` spans (its volume's extent, which
    its masks span too). The dataset's extra["fov_mm"] (`radlens.data.load_ct_cohort` records
    it), else read from the image headers of the studies with the split's ids in the `cohort`
    table (`radlens.data.cohort_extents`); None with neither (masks then span the input)."""
    recorded = ds.extra.get("fov_mm")
    if isinstance(recorded, dict) and split in recorded:
        return np.asarray(recorded[split], dtype=np.float64).reshape(-1, 3)
    if cohort is None:
        return None
    table = read_cohort(cohort)
    if "study_id" not in table:
        raise DataError(
            f"cohort table {cohort} has no 'study_id' column; expected a radlens cohort"
        )
    row_of = {str(sid): i for i, sid in enumerate(table["study_id"])}
    ids = [str(i) for i in ds.ids[split]]
    missing = [i for i in ids if i not in row_of]
    if missing:
        raise DataError(
            f"cohort {cohort} has no study {missing[0]!r} ({len(missing)} of dataset "
            f"{ds.name!r} split {split!r} missing); expected the cohort the run was trained on"
        )
    return cohort_extents(table.iloc[[row_of[i] for i in ids]])
