"""The lung region of a chest CT: where nodule candidates are looked for.

Rules: air below `AIR_HU` (-400 HU) that does not touch the array's in-plane border (air outside
the body does) and whose 3-D component has at least `MIN_VOXELS` voxels (the largest three: both
lungs, or one lung split at a fissure); then, slice by slice, each 2-D component of that air is
replaced by its convex hull, so a nodule against the chest wall or the mediastinum (a notch in
the aerated lung) lies inside. Lung opacified from wall to hilum (a whole lobe consolidated, a
large effusion) is not aerated and is not in the region: a nodule inside it is not looked for,
as it would not be seen on CT either.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

__all__ = ["AIR_HU", "MIN_VOXELS", "convex_fill", "lung_region"]

AIR_HU = -400.0
MIN_VOXELS = 2000
_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


def convex_fill(plane: np.ndarray) -> np.ndarray:
    """The pixels whose centres lie in the convex hull of a 2-D component's pixel squares."""
    pts = np.argwhere(plane)
    corners = (pts[:, None, :] + _CORNERS[None]).reshape(-1, 2)
    try:
        faces = ConvexHull(corners).equations  # rows (a, b, c): inside when a*y + b*x + c <= 0
    except QhullError:  # a line of pixels: nothing to fill
        return plane
    lo, hi = pts.min(axis=0), pts.max(axis=0) + 1
    yy, xx = np.mgrid[lo[0] : hi[0], lo[1] : hi[1]]
    grid = np.stack([yy.ravel(), xx.ravel(), np.ones(yy.size)], axis=1)
    inside = (grid @ faces.T <= 1e-9).all(axis=1)
    out = plane.copy()
    out[lo[0] : hi[0], lo[1] : hi[1]] |= inside.reshape(yy.shape)
    return out


def lung_region(hu: np.ndarray, *, min_pixels: int = 10) -> np.ndarray:
    """Boolean lung region of a (Z, Y, X) HU array, axial slices along axis 0 (module rules)."""
    if hu.ndim != 3:
        raise ValueError(f"lung_region needs a 3-D (Z, Y, X) HU array; got shape {hu.shape}")
    air = hu < AIR_HU
    labels, n = ndimage.label(air)
    border = np.zeros(hu.shape, dtype=bool)
    border[:, [0, -1], :] = True
    border[:, :, [0, -1]] = True
    outside = set(np.unique(labels[border & air]).tolist())
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    sizes[list(outside)] = 0  # outside air is never lung, whatever its size
    keep = [int(i) for i in np.argsort(-sizes)[:3] if sizes[i] >= MIN_VOXELS]
    lungs = np.isin(labels, keep)
    out = np.zeros_like(lungs)
    for z in np.flatnonzero(lungs.any(axis=(1, 2))):
        parts, m = ndimage.label(lungs[z])
        for k in range(1, m + 1):
            part = parts == k
            if part.sum() >= min_pixels:
                out[z] |= convex_fill(part)
    return out
