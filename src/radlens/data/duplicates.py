"""Near-duplicate images and volumes: a shift/flip/intensity-robust descriptor and matcher.

Each 2D image (H, W) or 3D volume (D, H, W) becomes a `Descriptors` row in three steps:

1. Gaussian smoothing (`SMOOTH` grid cells, at least `MIN_SIGMA_2D` pixels / `MIN_SIGMA_3D`
   voxels) against noise;
2. intensity by rank: every pixel is replaced by its rank within the image (ties averaged,
   scaled to [0, 1]), so a monotone re-windowing, gamma or contrast change leaves it unchanged;
3. resampled (`scipy.ndimage.zoom`, linear) to a fixed grid (`GRID_2D` / `GRID_3D`), so
   re-sampled copies (another matrix size, same field of view) land on the same grid.

A pair's similarity is the maximum Pearson correlation between the centre of one grid (`MARGIN_*`
cells cut from each side) and every same-size window of the other grid or of its left-right
(last-axis) mirror: shifts up to the margin and the flip are searched exhaustively. For speed,
each image of one set is first compared with every image of the other at half resolution
(a matrix product) and only its `NEIGHBOURS` best candidates are scored at full resolution.

Chest radiographs (and CT volumes) of different patients correlate highly at this scale, so a
pair is flagged only when it is the query image's best match (the highest similarity among its
candidates; a copy is closer to its source than to anything else) and either its similarity is
>= the `Rule`'s `certain` level or it is >= `threshold` and stands out from the image's crowd of
merely similar images: its contrast (1 - s_ref) / (1 - s), with s_ref the `REFERENCE_RANK`-th
best similarity of that image, is >= `min_contrast`. The rules (`RULE_2D`, `RULE_3D`) were chosen
on planted duplicates of seed 0 in `benchmarks/near_duplicates.py` (2D: PneumoniaMNIST, 3D:
phantom CT) and checked there on seeds 1-3 (results/near_duplicates.json). An image with
`REFERENCE_RANK` or more genuine copies in the other set has no crowd and may be flagged only
above `certain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats

from radlens.errors import DataError

#: grid every image / volume is resampled to
GRID_2D = (32, 32)
GRID_3D = (16, 48, 48)
#: cells cut from each side of one grid before matching: the largest shift tolerated, per axis
MARGIN_2D = (5, 5)
MARGIN_3D = (2, 4, 4)


@dataclass(frozen=True)
class Rule:
    """When a best-match pair is a near-duplicate: similarity >= `certain`, or >= `threshold`
    with contrast >= `min_contrast`."""

    threshold: float
    min_contrast: float
    certain: float


#: decision rules, tuned on seed 0 of benchmarks/near_duplicates.py (see module doc)
RULE_2D = Rule(threshold=0.96, min_contrast=3.0, certain=1.01)
RULE_3D = Rule(threshold=0.97, min_contrast=4.0, certain=0.984)
THRESHOLD_2D = RULE_2D.threshold
THRESHOLD_3D = RULE_3D.threshold
#: Gaussian smoothing before ranking, against noise: sigma in grid cells (at least
#: MIN_SIGMA_2D pixels / MIN_SIGMA_3D voxels)
SMOOTH = 0.5
MIN_SIGMA_2D = 0.6
MIN_SIGMA_3D = 1.0
#: shortlisted candidates per image (by coarse similarity)
NEIGHBOURS = 16
#: the crowd: the contrast of a pair compares it with the image's REFERENCE_RANK-th best match
REFERENCE_RANK = 10
#: minimum contrast (1 - s_ref) / (1 - s) of 2D images (3D: `RULE_3D.min_contrast`)
MIN_CONTRAST = RULE_2D.min_contrast


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


@dataclass(frozen=True)
class DuplicatePair:
    """Image `index_a` of `split_a` is a near-duplicate of `index_b` of `split_b`."""

    split_a: str
    index_a: int
    split_b: str
    index_b: int
    similarity: float

    def to_dict(self) -> dict:
        return {
            "split_a": self.split_a,
            "index_a": self.index_a,
            "split_b": self.split_b,
            "index_b": self.index_b,
            "similarity": round(self.similarity, 4),
        }


def _items(images: Sequence[np.ndarray] | np.ndarray, what: str) -> list[np.ndarray]:
    items = [np.asarray(img, dtype=np.float64) for img in images]
    shapes = {img.ndim for img in items}
    if len(shapes) > 1 or (shapes and shapes.pop() not in (2, 3)):
        raise DataError(
            f"{what}: expected 2D images (H, W) or 3D volumes (D, H, W) of one dimensionality,"
            f" got arrays of {sorted({img.ndim for img in items})} dimensions"
        )
    for k, img in enumerate(items):
        if min(img.shape) < 2 or not np.isfinite(img).all():
            raise DataError(f"{what}: item {k} (shape {img.shape}) is too small or not finite")
    return items


def _grid(img: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
    least = MIN_SIGMA_2D if img.ndim == 2 else MIN_SIGMA_3D
    sigma = [max(least, SMOOTH * n / g) for n, g in zip(img.shape, grid, strict=True)]
    img = ndimage.gaussian_filter(img, sigma)
    ranks = stats.rankdata(img, method="average").reshape(img.shape)
    ranks = (ranks - 1) / max(img.size - 1, 1)
    out = ndimage.zoom(ranks, [g / s for g, s in zip(grid, img.shape, strict=True)], order=1)
    if out.shape != grid:  # zoom rounds the output shape; pad/crop the last cell
        out = np.pad(
            out, [(0, max(0, g - s)) for g, s in zip(grid, out.shape, strict=True)], "edge"
        )
        out = out[tuple(slice(0, g) for g in grid)]
    return out


def _coarse(grids: np.ndarray) -> np.ndarray:
    """Grids area-averaged 2x along every spatial axis."""
    n, *shape = grids.shape
    split = [x for g in shape for x in (g // 2, 2)]
    return grids.reshape(n, *split).mean(axis=tuple(range(2, 2 + 2 * len(shape), 2)))


def describe_images(
    images: Sequence[np.ndarray] | np.ndarray, *, what: str = "images"
) -> Descriptors:
    """Descriptors of 2D images (N, H, W) or 3D volumes (N, D, H, W), or a list of arrays of
    different shapes but one dimensionality. Colour images: average the channels first."""
    items = _items(images, what)
    if not items:
        return Descriptors(np.zeros((0, *GRID_2D)), np.zeros((0, *GRID_2D)))
    grid = GRID_2D if items[0].ndim == 2 else GRID_3D
    grids = np.stack([_grid(img, grid) for img in items])
    return Descriptors(grids, _coarse(grids))


def _unit(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    return (x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-9)).astype(np.float32)


def _centres(grids: np.ndarray, margin: tuple[int, ...]) -> np.ndarray:
    """Centre of each grid (`margin` cut from each side), flat and z-normalised."""
    inner = [slice(m, g - m) for m, g in zip(margin, grids.shape[1:], strict=True)]
    cut = (slice(None), *inner)
    return _unit(grids[cut].reshape(len(grids), -1))


def _windows(grid: np.ndarray, margin: tuple[int, ...]) -> np.ndarray:
    """Every centre-sized window of one grid and of its left-right mirror, z-normalised."""
    inner = tuple(g - 2 * m for g, m in zip(grid.shape, margin, strict=True))
    grid = grid.astype(np.float32)
    both = [
        np.lib.stride_tricks.sliding_window_view(g, inner).reshape(-1, int(np.prod(inner)))
        for g in (grid, grid[..., ::-1])
    ]
    return _unit(np.concatenate(both))


def _margins(dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(fine margin, coarse margin) for 2D or 3D."""
    fine = MARGIN_2D if dims == 2 else MARGIN_3D
    return fine, tuple((m + 1) // 2 for m in fine)


def similarity_matrix(a: Descriptors, b: Descriptors, *, coarse: bool = False) -> np.ndarray:
    """(len(b), len(a)) maximum correlation over shifts and the flip, every pair (brute force;
    `coarse` uses the half-resolution grids, about 12x cheaper)."""
    fine, rough = _margins(a.dims)
    margin = rough if coarse else fine
    ga, gb = (a.coarse, b.coarse) if coarse else (a.grids, b.grids)
    centres = _centres(ga, margin)
    out = np.empty((len(b), len(a)), dtype=np.float32)
    for j in range(len(b)):
        out[j] = (_windows(gb[j], margin) @ centres.T).max(axis=0)
    return out


def pair_similarity(a: Descriptors, b: Descriptors, pairs: np.ndarray) -> np.ndarray:
    """Maximum correlation over shifts (up to the margin) and the left-right flip of each (i, j)
    pair: the centre of `a.grids[i]` against every window of `b.grids[j]` and its mirror."""
    if a.dims != b.dims:
        raise DataError(f"cannot compare {a.dims}D with {b.dims}D descriptors")
    pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    margin = _margins(a.dims)[0]
    centres = _centres(a.grids, margin)
    out = np.empty(len(pairs))
    for j in np.unique(pairs[:, 1]):
        sel = np.flatnonzero(pairs[:, 1] == j)
        out[sel] = (_windows(b.grids[j], margin) @ centres[pairs[sel, 0]].T).max(axis=0)
    return out


def default_rule(dims: int) -> Rule:
    """The documented decision rule for 2D images or 3D volumes."""
    return RULE_2D if dims == 2 else RULE_3D


def default_threshold(dims: int) -> float:
    """The documented similarity threshold for 2D images or 3D volumes."""
    return default_rule(dims).threshold


def best_of_query(pairs: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Mask of the candidates that are their query image's (column j's) best match."""
    best = np.zeros(len(pairs), dtype=bool)
    if len(pairs):
        order = np.lexsort((-sim, pairs[:, 1]))
        first = np.r_[True, pairs[order[1:], 1] != pairs[order[:-1], 1]]
        best[order[first]] = True
    return best


def flag_candidates(
    pairs: np.ndarray, sim: np.ndarray, contrast: np.ndarray, rule: Rule
) -> np.ndarray:
    """Mask of the scored candidates that `rule` flags (best match of their query only)."""
    sure = sim >= rule.certain
    stands_out = (sim >= rule.threshold) & (contrast >= rule.min_contrast)
    return best_of_query(pairs, sim) & (sure | stands_out)


def scored_candidates(
    a: Descriptors, b: Descriptors | None = None, *, neighbours: int = NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs (i in a, j in b), fine similarity, contrast) of each image of `b` with its
    `neighbours` best images of `a` by coarse similarity; `b` None: `a` with itself, i != j.

    contrast = (1 - s_ref) / (1 - s), s_ref the `REFERENCE_RANK`-th best fine similarity of
    image j (the crowd of merely similar images; the lowest one when there are fewer)."""
    same = b is None
    b = a if same else b
    if a.dims != b.dims:
        raise DataError(f"cannot compare {a.dims}D images with {b.dims}D images")
    if len(a) == 0 or len(b) == 0 or (same and len(a) < 2):
        empty = np.zeros(0)
        return np.zeros((0, 2), dtype=np.intp), empty, empty
    rough = similarity_matrix(a, b, coarse=True)
    if same:
        np.fill_diagonal(rough, -np.inf)
    k = min(neighbours, len(a) - int(same))
    top = np.argpartition(-rough, k - 1, axis=1)[:, :k]
    pairs = np.stack([top.ravel(), np.repeat(np.arange(len(b)), k)], axis=1)
    sim = pair_similarity(a, b, pairs).reshape(len(b), k)
    ordered = -np.sort(-sim, axis=1)
    s_ref = ordered[:, min(REFERENCE_RANK, k) - 1]
    contrast = (1 - s_ref[:, None]) / np.maximum(1 - sim, 1e-6)
    if k == 1:
        contrast = np.full_like(sim, np.inf)
    return pairs, sim.ravel(), contrast.ravel()


def match_descriptors(
    a: Descriptors,
    b: Descriptors | None = None,
    *,
    threshold: float | None = None,
    min_contrast: float | None = None,
    neighbours: int = NEIGHBOURS,
) -> list[tuple[int, int, float]]:
    """Near-duplicate pairs (index in a, index in b, similarity), sorted; `b` None compares `a`
    with itself (i < j). A pair is flagged by the dimension's `Rule` (`RULE_2D` / `RULE_3D`;
    `threshold` / `min_contrast` replace its fields when given): it is the best match of its
    image in b and its similarity is >= `certain`, or >= `threshold` with contrast >=
    `min_contrast`."""
    rule = default_rule(a.dims)
    if threshold is not None:
        rule = Rule(float(threshold), rule.min_contrast, max(rule.certain, float(threshold)))
    if min_contrast is not None:
        rule = Rule(rule.threshold, float(min_contrast), rule.certain)
    pairs, sim, contrast = scored_candidates(a, b, neighbours=neighbours)
    keep = flag_candidates(pairs, sim, contrast, rule)
    found: dict[tuple[int, int], float] = {}
    for (i, j), s in zip(pairs[keep].tolist(), sim[keep].tolist(), strict=True):
        key = (min(i, j), max(i, j)) if b is None else (i, j)
        found[key] = max(found.get(key, -1.0), s)
    return [(i, j, s) for (i, j), s in sorted(found.items())]


def find_split_duplicates(
    images_by_split: Mapping[str, Sequence[np.ndarray] | np.ndarray],
    *,
    threshold: float | None = None,
    neighbours: int = NEIGHBOURS,
) -> list[DuplicatePair]:
    """Near-duplicates between every pair of splits ({"train": images, "val": ..., "test": ...}
    in that order: train/val, train/test, val/test), 2D or 3D, sorted by split pair and index."""
    desc = {
        name: describe_images(imgs, what=f"{name} images") for name, imgs in images_by_split.items()
    }
    dims = {d.dims for d in desc.values() if len(d)}
    if len(dims) > 1:
        raise DataError(f"splits mix 2D and 3D images ({sorted(dims)}); compare them separately")
    names = list(desc)
    out: list[DuplicatePair] = []
    for k, first in enumerate(names):
        for second in names[k + 1 :]:
            pairs = match_descriptors(
                desc[first], desc[second], threshold=threshold, neighbours=neighbours
            )
            out.extend(DuplicatePair(first, i, second, j, s) for i, j, s in pairs)
    return out


def grayscale_items(images: np.ndarray, spatial_dims: int, n_channels: int = 1) -> np.ndarray:
    """A dataset split's images as (N, *spatial) float32 for `describe_images`: channels, first
    (N, C, ...) or last (N, H, W, C), averaged (a CT cohort's window channels are monotone in
    HU, so their mean keeps the intensity order the descriptor ranks)."""
    arr = np.asarray(images)
    if arr.ndim == spatial_dims + 1:
        return arr.astype(np.float32, copy=False)
    if arr.ndim != spatial_dims + 2:
        raise DataError(
            f"images of shape {arr.shape}: expected (N, *spatial) or one channel axis for"
            f" {spatial_dims}D items"
        )
    axis = 1 if arr.shape[1] == n_channels or arr.shape[-1] != n_channels else -1
    return arr.mean(axis=axis, dtype=np.float32)
