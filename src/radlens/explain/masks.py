"""Ground-truth lesion masks of a cohort study on a run's input grid.

A cohort's ``mask_path`` file (`radlens.data.cohort_table.load_masks`) holds bool masks keyed
``abnormality@location`` on the study's own voxel grid, spanning its field of view. The run's
volumes were resampled to a spacing and centre-cropped/padded to the model's shape
(`radlens.data.volumes.preprocess`); `resized_mask` puts a mask through the same two steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import ResizeWithPadOrCrop

from radlens.data import LOCATION_SEP, load_masks
from radlens.errors import ConfigError

__all__ = ["resized_mask"]


def resized_mask(
    mask_path: str,
    abnormality: str,
    shape: Sequence[int],
    spacing: Sequence[float] | None = None,
    fov_mm: Sequence[float] | None = None,
) -> np.ndarray | None:
    """Union of one abnormality's masks (all locations) on the model's input grid, or None.

    With `spacing` (z, y, x mm, as the volumes were resampled) and `fov_mm` (the z, y, x mm the
    masks span) they are resized to the field of view at that spacing and centre-cropped/padded
    to `shape` exactly as `radlens.data.volumes.preprocess` crops the volumes; without them the
    whole field of view is resized to `shape`."""
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
    grid = (
        tuple(round(float(f) / float(s)) for f, s in zip(fov_mm, spacing, strict=True))
        if spacing is not None and fov_mm is not None
        else size
    )
    up = F.interpolate(
        torch.from_numpy(union)[None, None], size=grid, mode="trilinear", align_corners=False
    )[0]
    if grid != size:
        up = torch.as_tensor(ResizeWithPadOrCrop(spatial_size=size, mode="constant")(up))
    out = up[0].numpy() >= 0.25  # keep small lesions that cover part of a coarse voxel
    return out if out.any() else None
