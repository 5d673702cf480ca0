"""Normalised cross-correlation of one grid's centre with every shifted window of another grid
and of its left-right (last-axis) mirror, by FFT.

For a template T (the centre of grid a: `margin` cells cut from each side, zero mean, unit norm)
and a grid b, the correlation at shift s is sum(T * W_s) / |W_s - mean(W_s)| with W_s the
T-sized window of b at offset s (0 .. 2 * margin per axis): the numerator is a circular
cross-correlation (no wrap-around reaches the valid offsets), the denominator comes from box sums
of b and b**2. Equal, to float rounding, to correlating T with every window explicitly
(`tests/data/test_duplicate_ncc.py`), and much cheaper for many candidates.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage


def centres(grids: np.ndarray, margin: tuple[int, ...]) -> np.ndarray:
    """Centre of each grid (`margin` cut from each side), zero mean and unit norm."""
    inner = tuple(slice(m, g - m) for m, g in zip(margin, grids.shape[1:], strict=True))
    x = grids[(slice(None), *inner)].astype(np.float64)
    axes = tuple(range(1, x.ndim))
    x = x - x.mean(axis=axes, keepdims=True)
    return x / (np.sqrt((x * x).sum(axis=axes, keepdims=True)) + 1e-12)


def template_spectra(templates: np.ndarray, grid_shape: tuple[int, ...]) -> np.ndarray:
    """Conjugate FFTs of `centres` zero-padded to `grid_shape`, for `shift_flip_ncc`."""
    axes = tuple(range(-len(grid_shape), 0))
    return np.conj(np.fft.rfftn(templates, s=grid_shape, axes=axes))


def _box_sums(x: np.ndarray, inner: tuple[int, ...]) -> np.ndarray:
    """Sum of x over every `inner`-sized window that fits (valid offsets)."""
    out = x
    for axis, w in enumerate(inner):
        c = np.cumsum(out, axis=axis)
        n = c.shape[axis]
        head = np.take(c, [w - 1], axis=axis)
        tail = np.take(c, np.arange(w, n), axis=axis) - np.take(c, np.arange(n - w), axis=axis)
        out = np.concatenate([head, tail], axis=axis)
    return out


def shift_flip_ncc(
    spectra: np.ndarray, inner: tuple[int, ...], grid: np.ndarray, margin: tuple[int, ...]
) -> np.ndarray:
    """(K, 2, *(2 * margin + 1)) correlations of K templates (their `template_spectra`, each of
    shape `inner`) with every window of `grid` ([:, 0]) and of its mirror ([:, 1])."""
    shape = grid.shape
    axes = tuple(range(-len(shape), 0))
    valid = (slice(None), *(slice(0, 2 * m + 1) for m in margin))
    n = float(np.prod(inner))
    out = []
    for g in (grid, grid[..., ::-1]):
        g = np.ascontiguousarray(g, dtype=np.float64)
        num = np.fft.irfftn(spectra * np.fft.rfftn(g), s=shape, axes=axes)[valid]
        s1, s2 = _box_sums(g, inner), _box_sums(g * g, inner)
        out.append(num / np.sqrt(np.maximum(s2 - s1 * s1 / n, 1e-12)))
    return np.stack(out, axis=1)


def half_cell_shifts(grid: np.ndarray) -> list[np.ndarray]:
    """`grid` and its copies shifted by half a cell along every non-empty set of axes (linear
    interpolation, edges repeated; 2**ndim grids): with integer shifts searched both ways, they
    cover offsets half-way between cells, e.g. one slice of a volume whose grid has half as many
    slices, or a one-pixel shift of a 64-pixel side on a 48-cell grid."""
    out = [grid]
    for step in itertools.product((0.0, 0.5), repeat=grid.ndim):
        if any(step):
            out.append(ndimage.shift(grid, step, order=1, mode="nearest"))
    return out
