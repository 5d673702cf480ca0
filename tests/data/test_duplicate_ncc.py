"""The FFT cross-correlation of `radlens.data.duplicate_ncc` equals correlating a grid's centre
with every shifted window (and the mirror's) one by one, and half-cell copies recover a copy
shifted by half a grid cell."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from radlens.data.duplicate_ncc import (
    centres,
    half_cell_shifts,
    shift_flip_ncc,
    template_spectra,
)


def _explicit(a: np.ndarray, b: np.ndarray, margin: tuple[int, ...]) -> np.ndarray:
    """Pearson correlation of a's centre with every window of b and of b mirrored."""
    inner = tuple(g - 2 * m for g, m in zip(a.shape, margin, strict=True))
    t = a[tuple(slice(m, m + n) for m, n in zip(margin, inner, strict=True))].ravel()
    out = np.empty((2, *(2 * m + 1 for m in margin)))
    for f, g in enumerate((b, b[..., ::-1])):
        for s in itertools.product(*(range(2 * m + 1) for m in margin)):
            w = g[tuple(slice(o, o + n) for o, n in zip(s, inner, strict=True))].ravel()
            out[(f, *s)] = np.corrcoef(t, w)[0, 1]
    return out


def test_fft_correlation_equals_the_explicit_window_search() -> None:
    rng = np.random.default_rng(0)
    for shape, margin in (((12, 14), (2, 3)), ((6, 10, 9), (1, 2, 2))):
        grids = ndimage.gaussian_filter(rng.normal(size=(3, *shape)), (0,) + (1,) * len(shape))
        inner = tuple(g - 2 * m for g, m in zip(shape, margin, strict=True))
        spectra = template_spectra(centres(grids, margin), shape)
        got = shift_flip_ncc(spectra, inner, grids[2], margin)
        assert got.shape == (3, 2, *(2 * m + 1 for m in margin))
        for k in range(3):
            np.testing.assert_allclose(got[k], _explicit(grids[k], grids[2], margin), atol=1e-9)


def test_a_shifted_mirrored_grid_peaks_at_one_at_its_offset() -> None:
    rng = np.random.default_rng(1)
    grid = ndimage.gaussian_filter(rng.normal(size=(10, 16, 16)), 1.5)
    moved = np.roll(grid, (1, -2, 3), axis=(0, 1, 2))[..., ::-1]
    margin = (2, 4, 4)
    inner = (6, 8, 8)
    got = shift_flip_ncc(template_spectra(centres(grid[None], margin), grid.shape), inner,
                         moved, margin)[0]  # fmt: skip
    # the mirror of `moved` is `grid` rolled by r = (1, -2, 3): the centre (offset m) sits in
    # its window at offset m + r = (3, 2, 7)
    assert np.unravel_index(got.argmax(), got.shape) == (1, 3, 2, 7)
    assert got.max() > 0.999


def test_half_cell_copies_cover_a_half_cell_shift() -> None:
    x = np.linspace(0, 6, 40)
    grid = np.sin(x)[:, None] * np.cos(x[:30])[None, :]
    copies = half_cell_shifts(grid)
    assert len(copies) == 4 and copies[0] is grid
    # copies[1]: half a cell along the last axis, [2] along the first, [3] along both
    np.testing.assert_allclose(copies[1][:, 1:-1], (grid[:, :-2] + grid[:, 1:-1]) / 2)
    np.testing.assert_allclose(copies[2][1:-1], (grid[:-2] + grid[1:-1]) / 2)
    both = (grid[:-2, :-2] + grid[1:-1, :-2] + grid[:-2, 1:-1] + grid[1:-1, 1:-1]) / 4
    np.testing.assert_allclose(copies[3][1:-1, 1:-1], both)
