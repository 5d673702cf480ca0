"""PNG / JPEG / DICOM radiographs -> display-normalised, resized arrays, with an on-disk cache.

Pixel pipeline (`read_radiograph`), following the DICOM grayscale display chain (PS3.4 N.2):
  DICOM: stored values -> Modality LUT / rescale (`pydicom.pixels.apply_modality_lut`) -> VOI LUT
  sequence or window centre/width (`apply_voi_lut`; the VOI output range maps to [0, 1]) -> without
  any VOI, the image's own min..max maps to [0, 1] -> MONOCHROME1 is inverted (1 - x) so that dense
  tissue is always bright; a Presentation LUT Shape of INVERSE on MONOCHROME2 also inverts (on
  MONOCHROME1 it describes the same inversion and is not applied twice). Colour DICOM (RGB, YBR,
  palette) becomes RGB via pydicom, scaled by its bit depth. Multi-frame files are refused.
  PNG / JPEG (Pillow; EXIF orientation applied): 8-bit data is divided by 255; deeper grayscale
  (16-bit PNG) has no display window, so its min..max maps to [0, 1].
Grayscale output is (H, W) float32 in [0, 1]; with channels=3, (H, W, 3) (gray is replicated).

Resizing (`load_radiograph`) to size x size, by `fit`:
  "pad" (default) keeps the aspect ratio and pads the short side with 0 (black), centred;
  "crop" keeps the aspect ratio and centre-crops the long side (what MedMNIST did);
  "stretch" resizes without keeping the aspect ratio.
The result is uint8 (0-255), like MedMNIST. Results are cached as .npy under `cache_dir`, keyed by
the SHA-256 of the file bytes plus size, fit, channels and the pipeline version, so a second load
of the same file (under any name) reads the cache instead of decoding the image again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from radlens.data.download import cache_root
from radlens.errors import DataError

log = logging.getLogger(__name__)
Fit = Literal["pad", "crop", "stretch"]
FITS: tuple[str, ...] = ("pad", "crop", "stretch")
PIPELINE_VERSION = 1
_PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def default_cache_dir() -> Path:
    return cache_root() / "radiographs"


# ---- decoding -----------------------------------------------------------------------------


def _is_dicom(data_head: bytes, path: Path) -> bool:
    return data_head[128:132] == b"DICM" or path.suffix.lower() in {".dcm", ".dicom"}


def _to_channels(gray_or_rgb: np.ndarray, channels: int) -> np.ndarray:
    if gray_or_rgb.ndim == 3:  # RGB
        if channels == 3:
            return gray_or_rgb.astype(np.float32)
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma
        return (gray_or_rgb[..., :3].astype(np.float32) @ weights).astype(np.float32)
    if channels == 3:
        return np.repeat(gray_or_rgb[..., None], 3, axis=-1).astype(np.float32)
    return gray_or_rgb.astype(np.float32)


def _minmax(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def _voi(arr: np.ndarray, ds: object) -> tuple[np.ndarray, float, float] | None:
    """Apply the VOI LUT (preferred) or window; return (values, output min, output max)."""
    from pydicom.pixels import processing

    seq = ds.get("VOILUTSequence")  # type: ignore[attr-defined]
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        if not np.issubdtype(arr.dtype, np.integer):
            arr = np.rint(arr).astype(np.int64)  # VOI LUTs index integer modality values
        n_entries, first_map = int(seq[0].LUTDescriptor[0]) or 2**16, int(seq[0].LUTDescriptor[1])
        entries = processing.apply_voi(np.arange(first_map, first_map + n_entries), ds)
        lo, hi = float(entries.min()), float(entries.max())  # the LUT's output range
        return processing.apply_voi(arr, ds).astype(np.float64), lo, hi
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:  # type: ignore[attr-defined]
        with np.errstate(over="ignore"):
            ends = processing.apply_windowing(np.array([-1e300, 1e300]), ds)
            return processing.apply_windowing(arr, ds), float(ends[0]), float(ends[1])
    return None


def _read_dicom(path: Path, channels: int) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable DICOM file ({exc})") from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise DataError(f"{path}: DICOM file has no pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(f"{path}: DICOM has {frames} frames; expected one radiograph image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad / unsupported pixel data
        raise DataError(
            f"{path}: cannot decode DICOM pixel data ({type(exc).__name__}: {exc})"
        ) from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if not photometric.startswith("MONOCHROME"):
        bits = int(ds.get("BitsStored", 8))
        if photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            try:
                arr = apply_color_lut(arr, ds)
                bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
            except (AttributeError, ValueError, KeyError) as exc:
                raise DataError(f"{path}: cannot apply the palette colour LUT ({exc})") from exc
        if arr.ndim != 3 or arr.shape[-1] < 3:
            raise DataError(f"{path}: {photometric} image has unexpected shape {arr.shape}")
        rgb = arr[..., :3].astype(np.float32) / float(2**bits - 1)
        return np.clip(_to_channels(rgb, channels), 0.0, 1.0)
    if arr.ndim != 2:
        raise DataError(f"{path}: monochrome DICOM has shape {arr.shape}; expected 2D (rows, cols)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        values = apply_modality_lut(arr, ds)
        voi = _voi(values, ds)
    if voi is None:
        norm = _minmax(values)
    else:
        out, lo, hi = voi
        norm = ((out - lo) / (hi - lo) if hi > lo else np.zeros(out.shape)).astype(np.float32)
    norm = np.clip(norm, 0.0, 1.0)
    shape = str(ds.get("PresentationLUTShape", "")).strip().upper()
    if photometric == "MONOCHROME1" or shape == "INVERSE":
        norm = 1.0 - norm
    return _to_channels(norm, channels)


def _read_pillow(path: Path, channels: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from exc
    if img.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA"):
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        return _to_channels(rgb, channels)
    if img.mode in ("L", "1"):
        return _to_channels(np.asarray(img.convert("L"), dtype=np.float32) / 255.0, channels)
    arr = np.asarray(img)  # I;16, I;16B, I, F: no display window -> min..max
    if arr.ndim != 2:
        raise DataError(f"{path}: image mode {img.mode} with shape {arr.shape} is not supported")
    return _to_channels(_minmax(arr), channels)


def read_radiograph(path: str | Path, *, channels: int = 1) -> np.ndarray:
    """Decode one PNG / JPEG / DICOM file to float32 in [0, 1] (see the module docstring)."""
    path = Path(path)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if _is_dicom(head, path):
        return _read_dicom(path, channels)
    if path.suffix.lower() in _PILLOW_SUFFIXES:
        return _read_pillow(path, channels)
    try:  # unknown suffix: try an image, then DICOM without preamble
        return _read_pillow(path, channels)
    except DataError:
        return _read_dicom(path, channels)


# ---- resizing and caching -----------------------------------------------------------------


def resize_image(image: np.ndarray, size: int, *, fit: Fit = "pad") -> np.ndarray:
    """Resize a float [0, 1] (H, W) or (H, W, 3) image to (size, size[, 3]) uint8."""
    if fit not in FITS:
        raise DataError(f"fit {fit!r} is not one of {FITS}")
    if size < 1:
        raise DataError(f"image size must be positive, got {size}")
    h, w = image.shape[:2]
    if fit == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[top : top + side, left : left + side]
        out_shape = (size, size)
    elif fit == "pad":
        scale = size / max(h, w)
        out_shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    else:
        out_shape = (size, size)
    planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]
    resized = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(p, dtype=np.float32), mode="F").resize(
                (out_shape[1], out_shape[0]), Image.Resampling.LANCZOS, reducing_gap=3.0
            )
        )
        for p in planes
    ]
    out = resized[0] if image.ndim == 2 else np.stack(resized, axis=-1)
    if fit == "pad":
        canvas = np.zeros((size, size, *out.shape[2:]), dtype=np.float32)
        top, left = (size - out.shape[0]) // 2, (size - out.shape[1]) // 2
        canvas[top : top + out.shape[0], left : left + out.shape[1]] = out
        out = canvas
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_path(cache_dir: Path, content_hash: str, size: int, fit: str, channels: int) -> Path:
    key = f"{content_hash}-{size}-{fit}-c{channels}-v{PIPELINE_VERSION}"
    return cache_dir / content_hash[:2] / f"{key}.npy"


def load_radiograph(
    path: str | Path,
    size: int = 224,
    *,
    fit: Fit = "pad",
    channels: int = 1,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """One radiograph as uint8 (size, size) or (size, size, 3), decoded once then cached."""
    path = Path(path)
    if fit not in FITS:
        raise DataError(f"fit {fit!r} is not one of {FITS}")
    cached: Path | None = None
    if use_cache:
        try:
            content = file_sha256(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cached = _cache_path(root, content, size, fit, channels)
        if cached.is_file():
            with contextlib.suppress(OSError, ValueError):
                arr = np.load(cached, allow_pickle=False)
                expected = (size, size) if channels == 1 else (size, size, 3)
                if arr.shape == expected and arr.dtype == np.uint8:
                    return arr
    out = resize_image(read_radiograph(path, channels=channels), size, fit=fit)
    if cached is not None:
        _write_cache(cached, out)
    return out


def _write_cache(target: Path, arr: np.ndarray) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npy", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        os.replace(tmp, target)
    except OSError as exc:  # read-only cache: still works, just decodes again next time
        log.debug("cannot write radiograph cache %s: %s", target, exc)
