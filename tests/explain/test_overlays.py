"""Overlay PNGs: written, non-blank, and the heat drawn where the map is hot (not flipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.errors import ConfigError, DataError
from radlens.explain.overlays import heat_rgba, montage_3d, montage_centre, overlay_2d, to_display


def _warm_pixels(path: Path) -> np.ndarray:
    """(row, col) of strongly coloured (red/orange/yellow, not grey) pixels of a PNG."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    warm = (rgb[..., 0] - rgb[..., 2] > 30) & (rgb[..., 0] > 120)
    return np.argwhere(warm)


def test_overlay_2d_draws_heat_where_it_is(tmp_path: Path) -> None:
    image = np.full((40, 40), 100, np.uint8)
    heat = np.zeros((40, 40), np.float32)
    heat[4:12, 26:36] = 1.0  # top right
    path = overlay_2d(image, heat, tmp_path / "a" / "o.png", colorbar=False, title=None)
    assert path.is_file()
    warm = _warm_pixels(path)
    height, width = np.asarray(Image.open(path)).shape[:2]
    assert len(warm) > 20
    centre = warm.mean(axis=0)
    assert centre[0] < 0.4 * height and centre[1] > 0.6 * width


def test_overlay_2d_rgb_and_mask(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 255, (28, 28, 3), dtype=np.uint8)
    heat = np.random.default_rng(1).random((28, 28))
    path = overlay_2d(image, heat, tmp_path / "rgb.png", mask=heat > 0.9, title="p=0.8")
    assert Image.open(path).size[0] > 100
    with pytest.raises(DataError, match=r"heatmap shape \(14, 14\) differs"):
        overlay_2d(image, np.zeros((14, 14)), tmp_path / "bad.png")


def test_montage_3d_panels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vol = rng.normal(-700, 100, (20, 32, 40)).astype(np.float32)
    heat = np.zeros(vol.shape, np.float32)
    heat[14:18, 4:10, 30:36] = 1.0
    mask = heat > 0
    assert montage_centre(heat) == (14, 4, 30)
    assert montage_centre(heat, "mask", mask) in {tuple(i) for i in np.argwhere(mask)}
    path = montage_3d(
        vol,
        heat,
        tmp_path / "m.png",
        mask=mask,
        spacing=(2.0, 0.8, 0.8),
        window=(-1000, 400),
        colorbar=False,
    )
    rgb = np.asarray(Image.open(path).convert("RGB"))
    assert rgb.shape[1] > 2 * rgb.shape[0]  # three panels side by side
    warm = _warm_pixels(path)
    width = rgb.shape[1]
    # heat appears in each third (axial, coronal, sagittal)
    for third in range(3):
        assert ((warm[:, 1] >= third * width / 3) & (warm[:, 1] < (third + 1) * width / 3)).any()


def test_montage_errors(tmp_path: Path) -> None:
    vol = np.zeros((4, 5, 6))
    with pytest.raises(DataError, match="expected \\(Z, Y, X\\)"):
        montage_3d(np.zeros((5, 6)), np.zeros((5, 6)), tmp_path / "x.png")
    with pytest.raises(ConfigError, match="spacing"):
        montage_3d(vol, np.zeros((4, 5, 6)), tmp_path / "x.png", spacing=(1, 0, 1))
    with pytest.raises(ConfigError, match="not a voxel index"):
        montage_centre(np.zeros((4, 5, 6)), (9, 0, 0))
    with pytest.raises(DataError, match="non-empty ground-truth mask"):
        montage_centre(np.zeros((4, 5, 6)), "mask", None)


def test_display_scaling_and_colour_checks() -> None:
    hu = np.array([[-1000.0, 400.0], [-300.0, 2000.0]])
    shown = to_display(hu, window=(-1000, 400))
    assert shown.min() == 0.0 and shown.max() == 1.0 and shown[1, 0] == pytest.approx(0.5)
    assert to_display(np.zeros((1, 5, 5), np.uint8)).shape == (5, 5)
    rgba = heat_rgba(np.array([0.1, 0.5, 1.0]), min_value=0.2, alpha=0.5)
    # transparent below min_value, then a linear ramp to alpha at the peak
    np.testing.assert_allclose(rgba[:, 3], [0.0, 0.5 * 0.3 / 0.8, 0.5])
    with pytest.raises(ConfigError, match="unknown colour map"):
        heat_rgba(np.zeros(2), cmap="nope")
    with pytest.raises(ConfigError, match="window"):
        to_display(hu, window=(1, 0))


def test_low_evidence_regions_keep_the_grey_value(tmp_path: Path) -> None:
    """A broad map (0.35 of the peak over the left half, a hot spot on the right) must not veil
    the anatomy: the rendered pixel in the low-evidence half stays within 8 grey levels of the
    image, while the hot spot is clearly coloured."""
    image = np.full((64, 64), 128, np.uint8)
    heat = np.full((64, 64), 0.35, np.float32)
    heat[24:40, 44:60] = 1.0
    path = overlay_2d(image, heat, tmp_path / "o.png", colorbar=False, size_inches=2.0)
    png = np.asarray(Image.open(path).convert("RGB")).astype(int)
    h, w, _ = png.shape
    low = png[int(h * 0.5), int(w * 0.2)]  # the left half: heat 0.35
    assert np.abs(low - 128).max() <= 8, low
    hot = png[int(h * 0.42), int(w * 0.8)]  # the hot spot, above the peak marker
    assert np.abs(hot - 128).max() >= 40, hot
