"""Nodule candidates: blobs of a CT volume found by a scale-normalised Laplacian of Gaussian.

Rules (the first stage of a two-stage nodule detector, as the LUNA16 systems are built: a
sensitive candidate generator, then a classifier that removes its false positives):

- the image is HU clipped to [-1000, 400] (`CLIP_HU`): bone and contrast do not outshine
  nodules;
- for each scale s (mm) of `SCALES_MM`, the response is -s^2 * LoG_s (the Gaussian's sigma in
  voxels is s / spacing per axis, so anisotropic voxels are handled); a bright blob of radius
  about s * sqrt(3) peaks at its centre;
- a candidate is a local maximum (3x3x3) of one scale's response, positive, inside the lung
  region; each scale keeps its `per_scale` strongest (so vessels, which respond strongly at small
  scales, do not crowd out large faint ground-glass nodules);
- candidates of all scales are pooled by response and thinned: one closer than one voxel (per
  axis) to a stronger one is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["CLIP_HU", "SCALES_MM", "BlobCandidates", "blob_candidates", "cubes"]

CLIP_HU: tuple[float, float] = (-1000.0, 400.0)
SCALES_MM: tuple[float, ...] = (2.5, 3.5, 5.0, 7.0, 10.0)


@dataclass(frozen=True)
class BlobCandidates:
    """Candidates of one volume, strongest first: voxel centres (N, 3) int, scale and response."""

    centres: np.ndarray
    scales_mm: np.ndarray
    responses: np.ndarray

    def __len__(self) -> int:
        return len(self.centres)


def _maxima(response: np.ndarray, region: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    peak = (response == ndimage.maximum_filter(response, size=3)) & (response > 0) & region
    idx = np.argwhere(peak)
    values = response[tuple(idx.T)]
    order = np.argsort(-values, kind="stable")[:keep]
    return idx[order], values[order]


def blob_candidates(
    hu: np.ndarray,
    spacing: Sequence[float],
    region: np.ndarray,
    *,
    scales_mm: Sequence[float] = SCALES_MM,
    per_scale: int = 80,
) -> BlobCandidates:
    """Candidates of a (Z, Y, X) HU volume with (z, y, x) mm `spacing` inside `region`."""
    if hu.ndim != 3 or region.shape != hu.shape:
        raise ValueError(f"hu {hu.shape} and region {region.shape} must be the same 3-D shape")
    sp = np.asarray(spacing, dtype=float)
    if sp.shape != (3,) or (sp <= 0).any():
        raise ValueError(f"spacing must be three positive mm values (z, y, x); got {spacing}")
    img = np.clip(hu.astype(np.float32), *CLIP_HU)
    found = []
    for s in scales_mm:
        response = -ndimage.gaussian_laplace(img, sigma=s / sp) * s * s
        idx, values = _maxima(response, region, per_scale)
        found += [
            (float(v), tuple(int(c) for c in i), float(s)) for i, v in zip(idx, values, strict=True)
        ]
    found.sort(key=lambda t: -t[0])
    taken = np.zeros(hu.shape, dtype=bool)
    centres, scales, responses = [], [], []
    for value, (z, y, x), s in found:
        if taken[z, y, x]:
            continue
        taken[max(z - 1, 0) : z + 2, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = True
        centres.append((z, y, x))
        scales.append(s)
        responses.append(value)
    return BlobCandidates(
        np.asarray(centres, dtype=np.int64).reshape(-1, 3),
        np.asarray(scales, dtype=np.float32),
        np.asarray(responses, dtype=np.float32),
    )


def cubes(image: np.ndarray, centres: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
    """(N, size, size, size) cubes of a (Z, Y, X) image centred on integer voxel `centres`
    (even `size`: the centre voxel is at index size // 2), padded with `fill` past the edges."""
    if size < 2:
        raise ValueError(f"cube size must be >= 2 voxels; got {size}")
    lo = size // 2
    padded = np.pad(image, lo + 1, mode="constant", constant_values=fill)
    out = np.empty((len(centres), size, size, size), dtype=image.dtype)
    for i, (z, y, x) in enumerate(np.asarray(centres, dtype=np.int64).reshape(-1, 3)):
        z, y, x = z + 1, y + 1, x + 1  # into the padded array: index - lo + (lo + 1)
        out[i] = padded[z : z + size, y : y + size, x : x + size]
    return out
