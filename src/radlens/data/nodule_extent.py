"""The extent of a blob (a nodule candidate) on a CT volume's own grid, so its size is measured on
the image: a threshold halfway between the blob's core and the lung around it.

Rules (all in one place):

- the HU array is smoothed by a Gaussian of `SMOOTH_MM` (quantum noise would break the blob's
  edge into specks);
- search ball: the voxels within `SEARCH_FACTOR` x `radius_mm` (the candidate's blob radius) of
  the centre, at least two voxels' reach per axis;
- core: the highest smoothed value within half the radius of the centre (at least the centre's
  3 x 3 x 3 neighbourhood), and where it is;
- background: the `BACKGROUND_PERCENTILE` of the smoothed values on the search ball's surface
  (the lung around the lesion; over the whole ball, a mass that fills most of it would set it);
- no extent (None) when core - background < `MIN_CONTRAST_HU`: nothing there to measure;
- a lesion larger than the search ball (a mass whose inside sets the background, so there is no
  contrast, or whose extent covers over `FILL_FRACTION` of the ball's surface, or a ball whose
  surface is under `MIN_AERATED` aerated lung (< `AERATED_HU`), so the background is the
  lesion's own texture, not the lung around it) is searched again in a ball of twice the radius,
  at most `GROWTH_STEPS` times, centred on what was found so far (a candidate on a large mass
  often sits off its centre) and with the core searched again there;
- the extent: the 26-connected component of search-ball voxels at or above the midpoint of core
  and background that holds the core voxel, within `region` when one is given (the lung region
  the candidate came from: a lesion against the chest wall or mediastinum neither takes their
  soft tissue into its extent nor grows the search along it). A vessel running into the nodule
  is cut at the ball's edge, so the extent of a nodule on a vessel can be up to the ball's size:
  the limit of a threshold rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["BlobExtent", "blob_extent"]

SMOOTH_MM = 1.0
SEARCH_FACTOR = 1.5
BACKGROUND_PERCENTILE = 25.0
MIN_CONTRAST_HU = 100.0
FILL_FRACTION = 0.6
AERATED_HU = -500.0
MIN_AERATED = 0.25
GROWTH_STEPS = 2


@dataclass(frozen=True)
class BlobExtent:
    """A blob's voxels: `mask` over the array box `box` (slices), and the HU threshold used."""

    box: tuple[slice, slice, slice]
    mask: np.ndarray
    threshold_hu: float
    contrast_hu: float


def _ball(shape: tuple[int, ...], centre: Sequence[float], radius_mm: float, sp) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, sp, strict=True))
    return d2 <= radius_mm**2


def blob_extent(
    hu: np.ndarray,
    spacing: Sequence[float],
    centre: Sequence[float],
    radius_mm: float,
    region: np.ndarray | None = None,
) -> BlobExtent | None:
    """The blob around `centre` (array index (z, y, x)) of a (Z, Y, X) HU array with (z, y, x) mm
    `spacing`, whose radius is about `radius_mm` (module's rules), inside the boolean `region`
    (the array's shape) when given; None when it has no contrast."""
    sp = np.asarray(spacing, dtype=float)
    if hu.ndim != 3 or sp.shape != (3,) or (sp <= 0).any() or radius_mm <= 0:
        raise ValueError(
            f"blob_extent needs a 3-D HU array, three positive spacings and a positive radius; "
            f"got shape {hu.shape}, spacing {tuple(spacing)}, radius {radius_mm}"
        )
    if region is not None and region.shape != hu.shape:
        raise ValueError(f"blob_extent: region of shape {region.shape} for an array {hu.shape}")
    c = np.clip(np.rint(np.asarray(centre, dtype=float)), 0, np.asarray(hu.shape) - 1)
    search_mm = SEARCH_FACTOR * radius_mm
    for _ in range(GROWTH_STEPS + 1):
        extent, fills = _extent(hu, sp, c, radius_mm, search_mm, region)
        if not fills:
            break
        if extent is not None:  # the next ball around what was found so far
            where = np.argwhere(extent.mask).mean(axis=0) + [b.start for b in extent.box]
            c = np.clip(np.rint(where), 0, np.asarray(hu.shape) - 1)
        search_mm *= 2
    return extent


def _extent(
    hu: np.ndarray, sp: np.ndarray, c: np.ndarray, radius_mm: float, search_mm: float,
    region: np.ndarray | None = None,
):  # fmt: skip
    """(extent or None, whether to search a larger ball: no contrast, over `FILL_FRACTION` of
    the ball's surface in the blob, or a surface under `MIN_AERATED` aerated lung)."""
    reach = np.maximum(np.ceil(search_mm / sp), 2).astype(int)
    box = tuple(
        slice(max(int(ci) - r, 0), min(int(ci) + r + 1, n))
        for ci, r, n in zip(c, reach, hu.shape, strict=True)
    )
    local = c - [b.start for b in box]
    pad = np.ceil(3 * SMOOTH_MM / sp).astype(int)  # smooth with context, then crop
    outer = tuple(
        slice(max(b.start - p, 0), min(b.stop + p, n))
        for b, p, n in zip(box, pad, hu.shape, strict=True)
    )
    smooth = ndimage.gaussian_filter(np.asarray(hu[outer], dtype=np.float32), SMOOTH_MM / sp)
    inner = tuple(
        slice(b.start - o.start, b.stop - o.start) for b, o in zip(box, outer, strict=True)
    )
    img = smooth[inner]
    search = _ball(img.shape, local, search_mm, sp)
    near = _ball(img.shape, local, radius_mm / 2, sp)
    near[tuple(slice(max(int(v) - 1, 0), int(v) + 2) for v in local)] = True
    core_at = np.unravel_index(np.argmax(np.where(near, img, -np.inf)), img.shape)
    core = float(img[core_at])
    shell = search & ~ndimage.binary_erosion(search)
    around = img[shell] if shell.any() else img[search]
    background = float(np.percentile(around, BACKGROUND_PERCENTILE))
    if core - background < MIN_CONTRAST_HU:
        return None, True
    threshold = (core + background) / 2
    above = (img >= threshold) & (search | near)
    if region is not None:
        above &= region[box]
        above[core_at] = True
    labels, _ = ndimage.label(above, structure=np.ones((3, 3, 3)))
    blob = labels == labels[core_at]
    fills = False
    if shell.any():
        inside = (img[shell] >= AERATED_HU).mean() > 1.0 - MIN_AERATED
        fills = bool(blob[shell].mean() > FILL_FRACTION or inside)
    return BlobExtent(box, blob, threshold, core - background), fills
