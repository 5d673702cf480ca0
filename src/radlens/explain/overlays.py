"""Heatmap overlays as PNG: one 2D image, or an axial / coronal / sagittal montage of a 3D volume.

The heatmap (values in [0, 1], 1 = hottest) is drawn with a perceptual colour map ("inferno" by
default) over the greyscale image with an opacity that grows with the heat: fully transparent
below `min_value`, then rising linearly to `alpha` (0.6) at the peak. Grad-CAM maps are broad, so
a constant opacity would veil most of the image; with the ramp, low-evidence regions keep their
grey values (within a few levels) and the anatomy stays readable under the hot spot.
Matplotlib's object API (`Figure`, Agg canvas) is used, never pyplot's state.

3D arrays follow the `Volume` convention (Z, Y, X): rows run anterior -> posterior and columns
patient right -> left (right on the viewer's left, as radiologists read), slices ascend
inferior -> superior; coronal and sagittal views are drawn with superior at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from radlens.errors import ConfigError, DataError
from radlens.explain.localization import peak_index


def to_display(image: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """Grey (H, W) or RGB (H, W, 3) image scaled to [0, 1]: by `window` (lo, hi) (e.g. a CT window
    in HU), uint8 by /255, otherwise between the 0.5th and 99.5th percentiles. Channel-first
    (1, H, W) / (3, H, W) input is accepted."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if window is not None:
        lo, hi = map(float, window)
        if hi <= lo:
            raise ConfigError(f"window {window}: the upper bound must exceed the lower bound")
    elif img.dtype == np.uint8:
        lo, hi = 0.0, 255.0
    else:
        finite = img[np.isfinite(img)]
        lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
        lo, hi = float(lo), float(hi)
        if hi <= lo:
            hi = lo + 1.0
    return np.clip((img.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)


#: opacity of the hottest point, and the heat below which the overlay is fully transparent
ALPHA = 0.6
MIN_VALUE = 0.3


def heat_rgba(
    heatmap: np.ndarray,
    *,
    cmap: str = "inferno",
    alpha: float = ALPHA,
    min_value: float = MIN_VALUE,
) -> np.ndarray:
    """(..., 4) RGBA of a [0, 1] heatmap: transparent where heat <= `min_value`, the opacity
    rising linearly from there to `alpha` at heat 1 (low evidence leaves the image visible)."""
    if cmap not in colormaps:
        raise ConfigError(f"unknown colour map {cmap!r}; e.g. 'inferno', 'magma', 'jet'")
    if not 0 <= alpha <= 1 or not 0 <= min_value < 1:
        raise ConfigError(f"alpha {alpha} must be in [0, 1] and min_value {min_value} in [0, 1)")
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    rgba = colormaps[cmap](heat)
    rgba[..., 3] = alpha * np.clip((heat - min_value) / (1.0 - min_value), 0.0, 1.0)
    return rgba


def _check_heat(image_shape: tuple[int, ...], heatmap: np.ndarray) -> np.ndarray:
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != image_shape:
        raise DataError(
            f"heatmap shape {heat.shape} differs from the image's spatial shape {image_shape};"
            " upsample the map to the input first (compute_cam does)"
        )
    return heat


def _colorbar(fig: Figure, axes: object, cmap: str) -> None:
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), colormaps[cmap]), ax=axes, shrink=0.8)
    bar.set_label("evidence / shared scale")


def overlay_2d(
    image: np.ndarray,
    heatmap: np.ndarray,
    path: str | Path,
    *,
    title: str | None = None,
    mask: np.ndarray | None = None,
    cmap: str = "inferno",
    alpha: float = ALPHA,
    min_value: float = MIN_VALUE,
    colorbar: bool = True,
    window: tuple[float, float] | None = None,
    size_inches: float = 4.0,
) -> Path:
    """Write a PNG of a 2D image with the heatmap on top (and the ground-truth `mask` outlined in
    cyan, when given); return the path."""
    grey = to_display(image, window)
    heat = _check_heat(grey.shape[:2], heatmap)
    fig = Figure(figsize=(size_inches * (1.25 if colorbar else 1.0), size_inches), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(heat_rgba(heat, cmap=cmap, alpha=alpha, min_value=min_value))
    if mask is not None:
        ax.contour(np.asarray(mask, dtype=float), levels=[0.5], colors="cyan", linewidths=1)
    peak = peak_index(heat)
    ax.plot(peak[1], peak[0], marker="+", color="white", markersize=10, mew=1.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        _colorbar(fig, ax, cmap)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight", facecolor="white")
    return out


def montage_centre(
    heatmap: np.ndarray,
    centre: Literal["peak", "mask"] | Sequence[int] = "peak",
    mask: np.ndarray | None = None,
) -> tuple[int, int, int]:
    """(z, y, x) voxel the three planes pass through: the heatmap's peak, the mask's centre of
    mass (the voxel of the mask nearest to it), or an explicit index."""
    heat = np.asarray(heatmap)
    if isinstance(centre, str):
        if centre == "peak":
            return tuple(peak_index(heat))  # type: ignore[return-value]
        if centre == "mask":
            if mask is None or not np.asarray(mask).any():
                raise DataError("centre='mask' needs a non-empty ground-truth mask")
            idx = np.argwhere(np.asarray(mask, bool))
            mean = idx.mean(axis=0)
            best = idx[np.argmin(((idx - mean) ** 2).sum(axis=1))]
            return tuple(int(v) for v in best)  # type: ignore[return-value]
        raise ConfigError(f"centre {centre!r} unknown; expected 'peak', 'mask' or (z, y, x)")
    point = tuple(int(v) for v in centre)
    if len(point) != 3 or any(not 0 <= p < s for p, s in zip(point, heat.shape, strict=True)):
        raise ConfigError(f"centre {centre} is not a voxel index inside shape {heat.shape}")
    return point  # type: ignore[return-value]


def montage_3d(
    volume: np.ndarray,
    heatmap: np.ndarray,
    path: str | Path,
    *,
    centre: Literal["peak", "mask"] | Sequence[int] = "peak",
    mask: np.ndarray | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    title: str | None = None,
    cmap: str = "inferno",
    alpha: float = ALPHA,
    min_value: float = MIN_VALUE,
    colorbar: bool = True,
    window: tuple[float, float] | None = None,
    panel_inches: float = 3.2,
) -> Path:
    """Write one PNG with axial, coronal and sagittal slices of a (Z, Y, X) volume through
    `centre`, the heatmap on top (mask outlined in cyan); `spacing` (z, y, x) mm sets the aspect."""
    vol = np.asarray(volume)
    if vol.ndim == 4 and vol.shape[0] == 1:
        vol = vol[0]
    if vol.ndim != 3:
        raise DataError(f"volume has shape {vol.shape}; expected (Z, Y, X) or (1, Z, Y, X)")
    heat = _check_heat(vol.shape, heatmap)
    if mask is not None and np.asarray(mask).shape != vol.shape:
        raise DataError(f"mask shape {np.asarray(mask).shape} differs from volume {vol.shape}")
    if len(spacing) != 3 or min(spacing) <= 0:
        shown = np.asarray(spacing).tolist()  # plain numbers, not np.float64(...)
        raise ConfigError(f"spacing {shown} must be three positive (z, y, x) values in mm")
    dz, dy, dx = map(float, spacing)
    z, y, x = montage_centre(heat, centre, mask)
    grey = to_display(vol, window)
    # name, slice, pixel aspect, origin, peak marker (col, row), edge letters (l, r, t, b), where
    views = [
        ("axial", np.s_[z, :, :], dy / dx, "upper", (x, y), ("R", "L", "A", "P"), f"z={z}"),
        ("coronal", np.s_[:, y, :], dz / dx, "lower", (x, z), ("R", "L", "S", "I"), f"y={y}"),
        ("sagittal", np.s_[:, :, x], dz / dy, "lower", (y, z), ("A", "P", "S", "I"), f"x={x}"),
    ]
    fig = Figure(figsize=(panel_inches * 3 + (0.8 if colorbar else 0), panel_inches), dpi=100)
    axes = fig.subplots(1, 3)
    for ax, (name, sl, aspect, origin, (mc, mr), letters, where) in zip(axes, views, strict=True):
        ax.set_facecolor("black")
        ax.imshow(grey[sl], cmap="gray", vmin=0, vmax=1, aspect=aspect, origin=origin)
        ax.imshow(
            heat_rgba(heat[sl], cmap=cmap, alpha=alpha, min_value=min_value),
            aspect=aspect,
            origin=origin,
        )
        if mask is not None and np.asarray(mask)[sl].any():
            # no `origin` here: contour works in data coordinates, which imshow already oriented
            ax.contour(np.asarray(mask, dtype=float)[sl], levels=[0.5], colors="cyan", linewidths=1)
        ax.plot(mc, mr, marker="+", color="white", markersize=9, mew=1.2)
        left, right, top, bottom = letters
        style = {"color": "yellow", "fontsize": 8, "transform": ax.transAxes}
        ax.text(0.02, 0.5, left, ha="left", va="center", **style)
        ax.text(0.98, 0.5, right, ha="right", va="center", **style)
        ax.text(0.5, 0.98, top, ha="center", va="top", **style)
        ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)
        ax.set_title(f"{name} ({where})", fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    if colorbar:
        _colorbar(fig, list(axes), cmap)
    return _save(fig, path)
