"""Near-duplicate images and volumes: a shift/flip/intensity-robust descriptor and matcher.

Each 2D image (H, W) or 3D volume (D, H, W) becomes a rank-normalised grid
(`radlens.data.duplicate_grids`: smoothed, ranked, a soft rank floored at air/lung level for 3D,
resampled to a fixed grid; optionally cached by content digest).

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
best similarity of that image, is >= `min_contrast`. `RULE_2D` and `RULE_3D` were chosen on
planted duplicates of seeds 0-3 in `benchmarks/near_duplicates.py` (2D: PneumoniaMNIST; 3D:
phantom CT, whose patients share one anatomy template: their best matches reach 0.993, planted
copies sit at a median 0.9995) and checked on unseen seeds 4-6 (results/near_duplicates_*.json).
An image with `REFERENCE_RANK` or more genuine copies in the other set has no crowd and may be
flagged only above `certain`. The full-resolution scoring is an FFT cross-correlation
(`radlens.data.duplicate_ncc`), equal to the explicit window search; a query's best candidates
are also scored at half-cell offsets, so a shift by a fraction of a grid cell (a 28-pixel image
on a 32-cell grid, one slice of a 32-slice volume on 16 cells) is not penalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radlens.data.duplicate_grids import Descriptors, describe_images
from radlens.data.duplicate_ncc import (
    centres,
    half_cell_shifts,
    shift_flip_ncc,
    template_spectra,
)
from radlens.errors import DataError

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


#: decision rules (see module doc), tuned on seeds 0-3 of benchmarks/near_duplicates.py with
#: half-cell re-scoring (2D) and the soft-rank descriptor (3D)
RULE_2D = Rule(threshold=0.95, min_contrast=4.0, certain=1.01)
RULE_3D = Rule(threshold=0.992, min_contrast=7.0, certain=0.996)
THRESHOLD_2D = RULE_2D.threshold
THRESHOLD_3D = RULE_3D.threshold
#: a query's HALF_CELL_TOP best candidates are re-scored at half-cell offsets
HALF_CELL_TOP = 2
#: shortlisted candidates per image (by coarse similarity)
NEIGHBOURS = 16
#: the crowd: the contrast of a pair compares it with the image's REFERENCE_RANK-th best match
REFERENCE_RANK = 10
#: minimum contrast (1 - s_ref) / (1 - s) of 2D images (3D: `RULE_3D.min_contrast`)
MIN_CONTRAST = RULE_2D.min_contrast


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
    flat = _centres(ga, margin)
    out = np.empty((len(b), len(a)), dtype=np.float32)
    for j in range(len(b)):
        out[j] = (_windows(gb[j], margin) @ flat.T).max(axis=0)
    return out


def pair_similarity(a: Descriptors, b: Descriptors, pairs: np.ndarray) -> np.ndarray:
    """Maximum correlation over shifts (up to the margin) and the left-right flip of each (i, j)
    pair: the centre of `a.grids[i]` against every window of `b.grids[j]` and its mirror
    (`radlens.data.duplicate_ncc`, by FFT); each query's `HALF_CELL_TOP` best candidates also
    at half-cell offsets (`half_cell_shifts`)."""
    if a.dims != b.dims:
        raise DataError(f"cannot compare {a.dims}D with {b.dims}D descriptors")
    pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    out = np.empty(len(pairs))
    if not len(pairs):
        return out
    margin = _margins(a.dims)[0]
    shape = a.grids.shape[1:]
    inner = tuple(g - 2 * m for g, m in zip(shape, margin, strict=True))
    used, row = np.unique(pairs[:, 0], return_inverse=True)
    spectra = template_spectra(centres(a.grids[used], margin), shape)
    for j in np.unique(pairs[:, 1]):
        sel = np.flatnonzero(pairs[:, 1] == j)
        ncc = shift_flip_ncc(spectra[row[sel]], inner, b.grids[j], margin)
        out[sel] = ncc.reshape(len(sel), -1).max(axis=1)
        if HALF_CELL_TOP:  # the query's best candidates at half-cell offsets too
            top = sel[np.argsort(-out[sel])[:HALF_CELL_TOP]]
            for g in half_cell_shifts(b.grids[j])[1:]:
                ncc = shift_flip_ncc(spectra[row[top]], inner, g, margin)
                out[top] = np.maximum(out[top], ncc.reshape(len(top), -1).max(axis=1))
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
    cache: str | Path | None = None,
) -> list[DuplicatePair]:
    """Near-duplicates between every pair of splits ({"train": images, "val": ..., "test": ...}
    in that order: train/val, train/test, val/test), 2D or 3D, sorted by split pair and index.
    `cache`: an .npz file of descriptor grids keyed by content digest, reused and extended
    (`describe_images`)."""
    dims = {int(np.ndim(img)) for imgs in images_by_split.values() for img in imgs}
    if len(dims) > 1:
        raise DataError(
            f"splits mix items of {sorted(dims)} dimensions; compare 2D images and 3D volumes"
            " separately"
        )
    desc = {
        name: describe_images(imgs, what=f"{name} images", cache=cache)
        for name, imgs in images_by_split.items()
    }
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
