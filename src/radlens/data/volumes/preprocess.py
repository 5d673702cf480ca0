"""Model-ready CT arrays from a `Volume` (MONAI transforms), and a disk cache of the results.

`preprocess_volume` runs, in order: MONAI `Orientation` to standard axial (array axes z -> S,
y -> P, x -> L), `Spacing` to a target spacing (bilinear, edge values beyond the field of view),
`ScaleIntensityRange` HU windowing to [0, 1] (clipped), `ResizeWithPadOrCrop` to a fixed shape
(centred; padding is 0, the bottom of the window). The result is float32 (1, D, H, W), a pure
function of the volume and the parameters.

`prepare_ct_volume` is the model input of one CT volume as radlens stores training volumes: HU
resampled and crop/padded by `preprocess_volume`, then one uint8 channel per HU window
(`window_channels`); the chest-CT cohort loader and the triage service both use it.

`VolumeCache` keys results by the source files (relative paths, sizes, modification times, or
content hashes) plus the parameters, so a second epoch reads a .npy instead of decoding DICOM.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import monai
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Orientation, ResizeWithPadOrCrop, ScaleIntensityRange, Spacing

from radlens.core import atomic_write_json, suggest
from radlens.data.volumes.dicom_read import dicom_files
from radlens.data.volumes.io import load_volume, volume_extent
from radlens.data.volumes.volume import Volume, standard_extent
from radlens.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: HU windows (lower, upper): lung W1500/L-600, mediastinum W400/L40, bone W1800/L400.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-1350.0, 150.0),
    "mediastinum": (-160.0, 240.0),
    "bone": (-500.0, 1300.0),
}
#: Array axes after `preprocess_volume`: (z, y, x) point to superior, posterior, left.
ORIENTATION = "SPL"
#: `preprocess_volume` crops / pads centred.
CROP = "center"
_RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))
_CACHE_VERSION = 1

Window = tuple[float, float] | str | None


def resolve_window(window: Window) -> tuple[float, float] | None:
    """(lo, hi) HU from a preset name or a pair; ConfigError with did-you-mean otherwise."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in WINDOWS:
            hint = suggest(window, WINDOWS)
            raise ConfigError(
                f"unknown HU window {window!r}: use one of {sorted(WINDOWS)} or (lo, hi){hint}"
            )
        return WINDOWS[window]
    lo, hi = (float(v) for v in window)
    if not hi > lo:
        raise ConfigError(f"HU window must have lo < hi; got ({lo}, {hi})")
    return lo, hi


def _triple(values: Sequence[float] | None, name: str, kind: type) -> tuple | None:
    if values is None:
        return None
    out = tuple(kind(v) for v in values)
    if len(out) != 3 or min(out) <= 0:
        raise ConfigError(f"{name} must be three positive numbers (z, y, x); got {values!r}")
    return out


def _ras_affine_zyx(volume: Volume) -> torch.Tensor:
    """Affine from array index (z, y, x) to RAS mm, as MONAI's MetaTensor expects."""
    affine = volume.affine[:, [2, 1, 0, 3]]  # columns for index order (z, y, x)
    return torch.as_tensor(np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine, dtype=torch.float64)


def preprocess_volume(
    volume: Volume,
    *,
    target_spacing: Sequence[float] | None = None,
    window: Window = None,
    shape: Sequence[int] | None = None,
    mode: str = "bilinear",
) -> np.ndarray:
    """Reorient, resample, window and crop/pad `volume`; returns float32 (1, D, H, W).

    target_spacing: (z, y, x) mm or None (keep). window: (lo, hi) HU, a preset from `WINDOWS`
    ("lung", "mediastinum", "bone") or None (keep HU). shape: (D, H, W) or None (keep).
    mode: "bilinear" (intensities) or "nearest" (label maps: codes are kept, never blended).
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"preprocess_volume: mode {mode!r}; expected 'bilinear' or 'nearest'")
    spacing = _triple(target_spacing, "target_spacing", float)
    size = _triple(shape, "shape", int)
    bounds = resolve_window(window)
    image = MetaTensor(torch.from_numpy(volume.array[None].copy()), affine=_ras_affine_zyx(volume))
    image = Orientation(axcodes=ORIENTATION, labels=_RAS_LABELS)(image)
    if spacing is not None:
        image = Spacing(pixdim=spacing, mode=mode, padding_mode="border", dtype=torch.float32)(
            image
        )
    if bounds is not None:
        image = ScaleIntensityRange(bounds[0], bounds[1], 0.0, 1.0, clip=True)(image)
    if size is not None:
        image = ResizeWithPadOrCrop(spatial_size=size, mode="constant")(image)
    tensor = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
    return np.ascontiguousarray(tensor.numpy(), dtype=np.float32)


def window_channels(hu: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """(C, D, H, W) uint8 from a (D, H, W) HU array: one channel per (lo, hi) HU window, the
    window mapped to 0..255 (clipped, rounded)."""
    out = np.zeros((len(windows), *hu.shape), dtype=np.uint8)
    for c, (lo, hi) in enumerate(windows):
        scaled = np.clip((hu - lo) / (hi - lo), 0.0, 1.0)
        out[c] = np.round(scaled * 255.0).astype(np.uint8)
    return out


def fitted_spacing(volume: Volume, shape: Sequence[int]) -> tuple[float, float, float]:
    """The (z, y, x) spacing that fits the whole of `volume` into `shape` (extent / size)."""
    extent = standard_extent(volume.shape[::-1], volume.affine)
    return tuple(e / int(n) for e, n in zip(extent, shape, strict=True))  # type: ignore[return-value]


def prepare_ct_volume(
    volume: Volume,
    shape: Sequence[int],
    spacing: Sequence[float] | None,
    windows: Sequence[tuple[float, float]],
) -> np.ndarray:
    """A CT volume as a model input, exactly as training volumes are stored: (C, D, H, W) uint8.

    `preprocess_volume` in HU (reorient to SPL, resample to `spacing` (z, y, x) mm, centre
    crop/pad to `shape`; `spacing` None fits this whole volume into `shape`), then one channel
    per (lo, hi) HU window (`window_channels`).
    """
    target = fitted_spacing(volume, shape) if spacing is None else spacing
    hu = preprocess_volume(volume, target_spacing=target, shape=shape)[0]
    return window_channels(hu, windows)


def source_fingerprint(source: str | Path, *, hash_contents: bool = False) -> list[list]:
    """[relative path, size, mtime_ns or sha256] for each input file of a volume."""
    root = Path(source)
    if root.is_dir():
        files, base = dicom_files(root), root
    elif root.is_file():
        files, base = [root], root.parent
    else:
        raise DataError(f"{root}: no such file or folder to cache")
    rows: list[list] = []
    for path in files:
        stat = path.stat()
        if hash_contents:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            rows.append([path.relative_to(base).as_posix(), stat.st_size, digest])
        else:
            rows.append([path.relative_to(base).as_posix(), stat.st_size, stat.st_mtime_ns])
    return rows


class VolumeCache:
    """Disk cache of preprocessed volumes: `get(source, ...)` decodes once, then reads a .npy.

    The key hashes the source's files (relative path + size + mtime, or content with
    `hash_contents=True`), the absolute source path and the preprocessing parameters, so editing,
    adding or removing a file, or changing a parameter, misses the cache.
    """

    def __init__(self, cache_dir: str | Path, *, hash_contents: bool = False) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.hash_contents = hash_contents
        self.hits = 0
        self.misses = 0

    def key(
        self,
        source: str | Path,
        *,
        target_spacing: Sequence[float] | None = None,
        window: Window = None,
        shape: Sequence[int] | None = None,
        series_uid: str | None = None,
    ) -> str:
        """Hex key of (source files, series, parameters)."""
        params = {
            "version": _CACHE_VERSION,
            "monai": monai.__version__,
            "source": str(Path(source).resolve()),
            "series_uid": series_uid,
            "files": source_fingerprint(source, hash_contents=self.hash_contents),
            "target_spacing": _triple(target_spacing, "target_spacing", float),
            "window": resolve_window(window),
            "shape": _triple(shape, "shape", int),
        }
        blob = json.dumps(params, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def extent(self, source: str | Path, *, series_uid: str | None = None) -> tuple[float, ...]:
        """`volume_extent(source)` ((S, P, L) mm from the headers), kept beside the arrays."""
        path = self.cache_dir / f"{self.key(source, series_uid=series_uid)}.extent.json"
        if path.is_file():
            try:
                return tuple(float(v) for v in json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("ignoring unreadable cache entry %s (%s)", path.name, exc)
        extent = volume_extent(source, series_uid=series_uid)
        atomic_write_json(path, list(extent))
        return extent

    def get(
        self,
        source: str | Path,
        *,
        target_spacing: Sequence[float] | None = None,
        window: Window = None,
        shape: Sequence[int] | None = None,
        series_uid: str | None = None,
    ) -> np.ndarray:
        """The preprocessed (1, D, H, W) float32 array of `source` (from cache when possible).

        `source` is anything `load_volume` reads; `series_uid` picks a series in a folder.
        """
        params = {"target_spacing": target_spacing, "window": window, "shape": shape}
        path = self.cache_dir / f"{self.key(source, series_uid=series_uid, **params)}.npy"
        if path.is_file():
            try:
                array = np.load(path, allow_pickle=False)
                self.hits += 1
                return array
            except (OSError, ValueError) as exc:
                logger.warning("ignoring unreadable cache entry %s (%s)", path.name, exc)
        self.misses += 1
        array = preprocess_volume(load_volume(source, series_uid=series_uid), **params)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return array
