"""Geometry helpers for the chest-CT phantom: a voxel grid in patient LPS millimetres and shapes.

Axes: the array is (Z, Y, X); columns run right -> left (+x = patient left),
rows anterior -> posterior (+y = posterior), slices inferior -> superior (+z = superior).
Every shape is analytic in millimetres, so one patient looks the same on any grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import ndimage as ndi

Point = tuple[float, float, float]  # (x, y, z) mm, LPS

#: Field of view the phantom covers, (z, y, x) mm: upper abdomen to thoracic inlet.
FOV_MM: tuple[float, float, float] = (320.0, 336.0, 336.0)


@dataclass(frozen=True)
class Grid:
    """A regular voxel grid centred on the patient: shape (Z, Y, X), spacing (z, y, x) mm."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @classmethod
    def covering(cls, shape: tuple[int, int, int], z_spacing: float | None = None) -> Grid:
        """The grid of `shape` spanning `FOV_MM`; `z_spacing` resamples along z (site slices)."""
        nz, ny, nx = (int(v) for v in shape)
        sz = FOV_MM[0] / nz
        if z_spacing is not None:
            nz = max(8, round(FOV_MM[0] / z_spacing))
            sz = float(z_spacing)
        return cls((nz, ny, nx), (float(sz), FOV_MM[1] / ny, FOV_MM[2] / nx))

    @property
    def origin(self) -> Point:
        """LPS position (x, y, z) of voxel [0, 0, 0]; the grid is centred on (0, 0, 0)."""
        nz, ny, nx = self.shape
        sz, sy, sx = self.spacing
        return (-(nx - 1) / 2 * sx, -(ny - 1) / 2 * sy, -(nz - 1) / 2 * sz)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable coordinates z (Z,1,1), y (1,Y,1), x (1,1,X) in mm (float32)."""
        nz, ny, nx = self.shape
        sz, sy, sx = self.spacing
        ox, oy, oz = self.origin
        z = (oz + sz * np.arange(nz, dtype=np.float32)).reshape(nz, 1, 1)
        y = (oy + sy * np.arange(ny, dtype=np.float32)).reshape(1, ny, 1)
        x = (ox + sx * np.arange(nx, dtype=np.float32)).reshape(1, 1, nx)
        return z.astype(np.float32), y.astype(np.float32), x.astype(np.float32)

    def box(
        self, lo: Point, hi: Point
    ) -> tuple[tuple[slice, slice, slice], tuple[np.ndarray, ...]]:
        """Index slices of the sub-box [lo, hi] (x, y, z mm) and its coordinates (z, y, x)."""
        ox, oy, oz = self.origin
        sz, sy, sx = self.spacing
        nz, ny, nx = self.shape
        sl = []
        for lo_v, hi_v, o, s, n in (
            (lo[2], hi[2], oz, sz, nz),
            (lo[1], hi[1], oy, sy, ny),
            (lo[0], hi[0], ox, sx, nx),
        ):
            a = int(np.clip(np.floor((lo_v - o) / s), 0, n))
            b = int(np.clip(np.ceil((hi_v - o) / s) + 1, 0, n))
            sl.append(slice(a, max(a, b)))
        z, y, x = self.axes()
        return (sl[0], sl[1], sl[2]), (z[sl[0]], y[:, sl[1]], x[:, :, sl[2]])

    def to_index(self, point: Point) -> tuple[int, int, int]:
        """Nearest voxel (z, y, x) of an LPS point, clipped to the grid."""
        ox, oy, oz = self.origin
        sz, sy, sx = self.spacing
        idx = (
            round((point[2] - oz) / sz),
            round((point[1] - oy) / sy),
            round((point[0] - ox) / sx),
        )
        return tuple(int(np.clip(i, 0, n - 1)) for i, n in zip(idx, self.shape, strict=True))

    def to_point(self, index: tuple[int, int, int]) -> Point:
        """LPS point (x, y, z) of voxel index (z, y, x)."""
        ox, oy, oz = self.origin
        sz, sy, sx = self.spacing
        return (ox + index[2] * sx, oy + index[1] * sy, oz + index[0] * sz)


def capsule(grid: Grid, a: Point, b: Point, radius: float, margin: float = 0.0):
    """Distance (mm) to the segment a-b inside its bounding box: returns (slices, distance)."""
    pad = radius + margin + max(grid.spacing)
    lo = tuple(min(a[i], b[i]) - pad for i in range(3))
    hi = tuple(max(a[i], b[i]) + pad for i in range(3))
    sl, (z, y, x) = grid.box(lo, hi)  # type: ignore[arg-type]
    ab = np.subtract(b, a, dtype=np.float64)
    denom = float(ab @ ab) or 1.0
    px, py, pz = x - a[0], y - a[1], z - a[2]
    t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / denom, 0.0, 1.0)
    d = np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2)
    return sl, d.astype(np.float32)


def tube_mask(grid: Grid, path: list[Point], radius: float, margin: float = 0.0) -> np.ndarray:
    """Boolean mask of a tube of `radius` (+ margin) mm around the polyline `path`."""
    out = np.zeros(grid.shape, dtype=bool)
    for a, b in pairwise(path):
        sl, d = capsule(grid, a, b, radius, margin)
        out[sl] |= d <= radius + margin
    return out


def tube_distance(grid: Grid, path: list[Point], reach: float) -> np.ndarray:
    """Distance (mm) to the polyline `path`, computed within `reach` mm (inf beyond)."""
    out = np.full(grid.shape, np.inf, dtype=np.float32)
    for a, b in pairwise(path):
        sl, d = capsule(grid, a, b, reach)
        np.minimum(out[sl], d, out=out[sl])
    return out


def ellipsoid_norm(
    grid: Grid, center: Point, axes: Point, angle_deg: float = 0.0, axes_zyx: tuple | None = None
) -> np.ndarray:
    """Normalised radius ((u/a)^2 + (v/b)^2 + (w/c)^2)^0.5, rotated by `angle_deg` about z."""
    z, y, x = axes_zyx if axes_zyx is not None else grid.axes()
    th = np.deg2rad(angle_deg)
    dx, dy, dz = x - center[0], y - center[1], z - center[2]
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    return np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2 + (dz / axes[2]) ** 2)


def ball(grid: Grid, center: Point, radius: float) -> tuple[tuple[slice, ...], np.ndarray]:
    """(slices, distance mm) of the box around a ball."""
    r = radius + max(grid.spacing)
    sl, (z, y, x) = grid.box(
        (center[0] - r, center[1] - r, center[2] - r), (center[0] + r, center[1] + r, center[2] + r)
    )
    d = np.sqrt((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2)
    return sl, d.astype(np.float32)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: Point) -> np.ndarray:
    """Gaussian random field, unit standard deviation (float32), smoothed by `sigma` voxels."""
    field = rng.standard_normal(shape, dtype=np.float32)
    field = ndi.gaussian_filter(field, sigma=sigma, mode="wrap", truncate=3.0)
    sd = float(field.std()) or 1.0
    return field / sd


def occupancy(
    grid: Grid, lo: Point, hi: Point, inside, step_mm: float = 0.8
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Partial volume: the fraction of each voxel of the box [lo, hi] (x, y, z mm) for which
    `inside(z, y, x)` (broadcastable mm coordinates -> bool) holds, estimated on a regular
    sub-grid of about `step_mm` (at least 3 points per axis). Returns (slices, fraction)."""
    sl, (z, y, x) = grid.box(lo, hi)
    subs = [max(3, int(np.ceil(s / step_mm))) for s in grid.spacing]
    offsets = [
        ((np.arange(n) + 0.5) / n - 0.5) * s for n, s in zip(subs, grid.spacing, strict=True)
    ]
    count = np.zeros((z.shape[0], y.shape[1], x.shape[2]), dtype=np.float32)
    for dz in offsets[0]:
        for dy in offsets[1]:
            for dx in offsets[2]:
                count += inside(z + np.float32(dz), y + np.float32(dy), x + np.float32(dx))
    return sl, count / float(np.prod(subs))


def ellipsoid_occupancy(
    grid: Grid, center: Point, radii: Point
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Fraction of each voxel inside the axis-aligned ellipsoid with semi-axes `radii` (x, y, z
    mm) around `center`; a ball when the radii are equal."""
    pad = [r + max(grid.spacing) for r in radii]
    lo = (center[0] - pad[0], center[1] - pad[1], center[2] - pad[2])
    hi = (center[0] + pad[0], center[1] + pad[1], center[2] + pad[2])
    rx, ry, rz = (max(float(r), 1e-3) for r in radii)

    def inside(z, y, x):
        return ((x - center[0]) / rx) ** 2 + ((y - center[1]) / ry) ** 2 + (
            (z - center[2]) / rz
        ) ** 2 <= 1.0

    return occupancy(grid, lo, hi, inside)


def capsule_occupancy(
    grid: Grid, a: Point, b: Point, radius: float
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """Fraction of each voxel within `radius` mm of the segment a-b."""
    pad = radius + max(grid.spacing)
    lo = tuple(min(a[i], b[i]) - pad for i in range(3))
    hi = tuple(max(a[i], b[i]) + pad for i in range(3))
    ab = np.subtract(b, a, dtype=np.float64)
    denom = float(ab @ ab) or 1.0

    def inside(z, y, x):
        px, py, pz = x - a[0], y - a[1], z - a[2]
        t = np.clip((px * ab[0] + py * ab[1] + pz * ab[2]) / denom, 0.0, 1.0)
        d2 = (px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2
        return d2 <= radius**2

    return occupancy(grid, lo, hi, inside)  # type: ignore[arg-type]


def fraction_mask(fraction: np.ndarray) -> np.ndarray:
    """The mask of a partial-volume object: voxels at least half covered, or, for an object
    smaller than that everywhere, voxels with at least half its largest fraction."""
    out = fraction >= 0.5
    peak = float(fraction.max()) if fraction.size else 0.0
    return out if out.any() or peak <= 0 else fraction >= 0.5 * peak
