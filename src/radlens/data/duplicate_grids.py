"""Descriptors of near-duplicate detection: each image or volume as a small intensity-robust grid.

Each 2D image (H, W) or 3D volume (D, H, W) becomes one grid row of `Descriptors` in four steps:

1. Gaussian smoothing (`SMOOTH` grid cells, at least `MIN_SIGMA_2D` pixels / `MIN_SIGMA_3D`
   voxels) against noise;
2. intensity by rank, so that a monotone re-windowing, gamma or contrast change leaves the grid
   unchanged: 2D images by exact rank (ties averaged, scaled to [0, 1]); 3D volumes by a *soft*
   rank, the fraction of voxels darker than each voxel counted with a Gaussian tolerance of
   `SOFT_RANK_3D` x the volume's 1-99th percentile range (a CT's air is one flat value plus
   noise, and an exact rank would order those voxels by their noise alone), floored at
   `FLOOR_3D` (air and lung fill about half a chest CT; a window that clips its low end merges
   them into one value, so below that rank the volume is treated as one level);
3. resampled (`scipy.ndimage.zoom`, linear) to a fixed grid (`GRID_2D` / `GRID_3D`), so
   re-sampled copies (another matrix size, same field of view) land on the same grid;
4. a half-resolution copy (2x area average) for the shortlist.

`describe_images(..., cache=PATH)` keeps the grids in an .npz file keyed by a BLAKE2 digest of
each item's bytes, shape and dtype plus the descriptor settings, so a second audit of the same
volumes describes nothing again (the digest, not the file name or mtime, decides: an edited
volume is described afresh).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from radlens.core import atomic_write_npz
from radlens.errors import DataError

#: grid every image / volume is resampled to
GRID_2D = (32, 32)
GRID_3D = (16, 48, 48)
#: Gaussian smoothing before ranking, against noise: sigma in grid cells (at least
#: MIN_SIGMA_2D pixels / MIN_SIGMA_3D voxels)
SMOOTH = 0.5
MIN_SIGMA_2D = 0.6
MIN_SIGMA_3D = 1.0
#: 3D soft-rank tolerance, as a fraction of the volume's 1st-99th percentile range
SOFT_RANK_3D = 0.03
#: 3D ranks below this are set to it (air and lung: see module doc)
FLOOR_3D = 0.6
#: bins of the intensity histogram the soft rank is read from
SOFT_RANK_BINS = 2048
#: bump when the descriptor changes, so cached grids are not reused
DESCRIPTOR_VERSION = 2


@dataclass(frozen=True)
class Descriptors:
    """Rank-normalised grids (N, *grid) of one image set, at full and half resolution."""

    grids: np.ndarray
    coarse: np.ndarray  # the grids at half resolution, for the shortlist

    @property
    def dims(self) -> int:
        return self.grids.ndim - 1

    def __len__(self) -> int:
        return len(self.grids)


def check_items(images: Sequence[np.ndarray] | np.ndarray, what: str) -> list[np.ndarray]:
    """The items as float64 arrays of one dimensionality (2 or 3), finite, every side >= 2;
    else a DataError naming `what` and the item."""
    items = [np.asarray(img, dtype=np.float64) for img in images]
    dims = sorted({img.ndim for img in items})
    if len(dims) > 1 or (dims and dims[0] not in (2, 3)):
        raise DataError(
            f"{what}: expected 2D images (H, W) or 3D volumes (D, H, W) of one dimensionality,"
            f" got arrays of {dims} dimensions"
        )
    for k, img in enumerate(items):
        if min(img.shape) < 2 or not np.isfinite(img).all():
            raise DataError(f"{what}: item {k} (shape {img.shape}) is too small or not finite")
    return items


def soft_rank(img: np.ndarray, tolerance: float) -> np.ndarray:
    """Fraction of the values below each value, ties averaged (`tolerance` 0: the exact rank
    scaled to [0, 1]) or counted with a Gaussian tolerance of `tolerance` x the 1-99th
    percentile range (read from a `SOFT_RANK_BINS`-bin histogram)."""
    flat = img.ravel()
    if tolerance <= 0:
        ranks = stats.rankdata(flat, method="average")
        return ((ranks - 1) / max(flat.size - 1, 1)).reshape(img.shape)
    lo, hi = np.percentile(flat, [1, 99])
    width = tolerance * max(hi - lo, float(np.ptp(flat)), 1e-9)
    edges = np.linspace(flat.min() - 4 * width, flat.max() + 4 * width, SOFT_RANK_BINS + 1)
    hist, _ = np.histogram(flat, bins=edges)
    cdf = np.r_[0.0, np.cumsum(hist)] / flat.size
    cdf = ndimage.gaussian_filter1d(cdf, width / (edges[1] - edges[0]), mode="nearest")
    return np.interp(flat, edges, cdf).reshape(img.shape)


def image_grid(img: np.ndarray) -> np.ndarray:
    """The descriptor grid of one 2D image or 3D volume (module doc, steps 1-3)."""
    is_2d = img.ndim == 2
    grid = GRID_2D if is_2d else GRID_3D
    least = MIN_SIGMA_2D if is_2d else MIN_SIGMA_3D
    sigma = [max(least, SMOOTH * n / g) for n, g in zip(img.shape, grid, strict=True)]
    img = ndimage.gaussian_filter(img, sigma)
    ranks = soft_rank(img, 0.0) if is_2d else np.maximum(soft_rank(img, SOFT_RANK_3D), FLOOR_3D)
    out = ndimage.zoom(ranks, [g / s for g, s in zip(grid, img.shape, strict=True)], order=1)
    if out.shape != grid:  # zoom rounds the output shape; pad/crop the last cell
        out = np.pad(
            out, [(0, max(0, g - s)) for g, s in zip(grid, out.shape, strict=True)], "edge"
        )
        out = out[tuple(slice(0, g) for g in grid)]
    return out


def coarse_grids(grids: np.ndarray) -> np.ndarray:
    """Grids area-averaged 2x along every spatial axis."""
    n, *shape = grids.shape
    split = [x for g in shape for x in (g // 2, 2)]
    return grids.reshape(n, *split).mean(axis=tuple(range(2, 2 + 2 * len(shape), 2)))


def _settings(dims: int) -> str:
    if dims == 2:
        return f"v{DESCRIPTOR_VERSION} 2d {GRID_2D} {SMOOTH} {MIN_SIGMA_2D}"
    return f"v{DESCRIPTOR_VERSION} 3d {GRID_3D} {SMOOTH} {MIN_SIGMA_3D} {SOFT_RANK_3D} {FLOOR_3D}"


def item_key(img: np.ndarray) -> str:
    """BLAKE2 digest of an item's bytes, shape, dtype and the descriptor settings."""
    arr = np.ascontiguousarray(img)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.shape} {arr.dtype} {_settings(arr.ndim)}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as z:
            return dict(zip(z["keys"].tolist(), z["grids"], strict=True))
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"near-duplicate descriptor cache {path} is unreadable ({exc}); delete it"
        ) from exc


def _write_cache(path: Path, table: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (`radlens.core.atomic_write_npz`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = np.array(list(table), dtype="U32")
    atomic_write_npz(path, keys=keys, grids=np.stack(list(table.values())))


def describe_images(
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    what: str = "images",
    cache: str | Path | None = None,
) -> Descriptors:
    """Descriptors of 2D images (N, H, W) or 3D volumes (N, D, H, W), or a list of arrays of
    different shapes but one dimensionality (colour images: average the channels first).
    `cache`: an .npz file of grids keyed by `item_key`, read and extended (module doc)."""
    items = check_items(images, what)
    if not items:
        return Descriptors(np.zeros((0, *GRID_2D)), np.zeros((0, *GRID_2D)))
    if cache is None:
        grids = np.stack([image_grid(img) for img in items])
        return Descriptors(grids, coarse_grids(grids))
    path = Path(cache)
    table = _read_cache(path)
    keys = [item_key(img) for img in items]
    missing = [k for k, key in enumerate(keys) if key not in table]
    for k in missing:
        table[keys[k]] = image_grid(items[k])
    if missing:
        _write_cache(path, table)
    grids = np.stack([table[key] for key in keys])
    return Descriptors(grids, coarse_grids(grids))
