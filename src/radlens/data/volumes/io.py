"""CT volumes: DICOM series / enhanced multi-frame DICOM / NIfTI -> `Volume` in HU, and back.

Public API:
- `Volume` (array float32 (Z, Y, X) HU, spacing (z, y, x) mm, origin (x, y, z) LPS mm, direction
  3x3 with LPS columns for the x, y, z axes, metadata dict)
- `load_volume(path)`: a DICOM series folder, one DICOM file (incl. enhanced multi-frame) or
  .nii / .nii.gz; `load_dicom_series(folder, series_uid=None)`; `list_series(folder)`
- `write_dicom_series(volume, out_dir, *, patient_id, ...)`; `write_nifti(volume, path)`
- `reorient_standard(volume)`: flips/permutations to standard axial (z -> S, y -> P, x -> L)
- `volume_extent(path)`: the (S, P, L) mm a file or series covers, from its headers only

NIfTI stores RAS+ world coordinates; DICOM and `Volume` use LPS+. Readers convert
(x, y negated), transpose nibabel's (i, j, k) arrays to (Z, Y, X) and, by default, reorient to
standard axial, so a DICOM series and its NIfTI twin give the same array and geometry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from radlens.data.volumes.dicom_geometry import check_and_order, slices_from_dataset
from radlens.data.volumes.dicom_read import SeriesInfo, list_series, load_dicom_series, series_items
from radlens.data.volumes.dicom_write import write_dicom_series
from radlens.data.volumes.volume import (
    Volume,
    reorient_standard,
    standard_extent,
    volume_from_affine,
)
from radlens.errors import DataError

__all__ = [
    "SeriesInfo",
    "Volume",
    "convert_to_nifti",
    "describe_volume",
    "list_series",
    "load_dicom_series",
    "load_nifti",
    "load_volume",
    "reorient_standard",
    "series_geometry",
    "volume_extent",
    "write_dicom_series",
    "write_nifti",
]

logger = logging.getLogger(__name__)

_RAS_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # its own inverse
_EXTENSION_CODE = "comment"
_EXTENSION_KEY = "radlens_metadata"


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def load_nifti(path: str | Path, *, canonical: bool = True) -> Volume:
    """Read a 3-D NIfTI-1/2 file (RAS+ affine) as a Volume (LPS, (Z, Y, X), HU as stored)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such NIfTI file")
    try:
        img = nib.load(path)
        data = img.get_fdata(dtype=np.float32)
    except Exception as exc:
        raise DataError(f"{path}: unreadable NIfTI file ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataError(f"{path}: expected a 3-D image, got shape {data.shape}")
    metadata: dict[str, Any] = {"modality": "", "source": str(path)}
    for ext in getattr(img.header, "extensions", []):
        try:
            payload = json.loads(ext.get_content())
        except (ValueError, TypeError, UnicodeDecodeError):
            continue
        if isinstance(payload, dict) and _EXTENSION_KEY in payload:
            metadata.update(payload[_EXTENSION_KEY])
            metadata["source"] = str(path)
    volume = volume_from_affine(data, _RAS_LPS @ img.affine, metadata, str(path))
    return reorient_standard(volume) if canonical else volume


def write_nifti(volume: Volume, path: str | Path) -> Path:
    """Write `volume` as NIfTI-1 (float32, RAS+ sform/qform, mm); metadata in a JSON extension."""
    path = Path(path)
    if not _is_nifti(path):
        raise DataError(f"{path}: a NIfTI file name must end in .nii or .nii.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = _RAS_LPS @ volume.affine
    img = nib.Nifti1Image(np.ascontiguousarray(volume.array.transpose(2, 1, 0)), affine)
    img.header.set_xyzt_units("mm")
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    meta = {k: v for k, v in volume.metadata.items() if k not in ("files", "source")}
    content = json.dumps({_EXTENSION_KEY: meta}, default=str).encode()
    img.header.extensions.append(nib.nifti1.Nifti1Extension(_EXTENSION_CODE, content))
    nib.save(img, path)
    logger.info("wrote NIfTI %s %s", path, volume.shape)
    return path


def load_volume(
    path: str | Path,
    *,
    series_uid: str | None = None,
    allow_non_ct: bool = False,
    spacing_tolerance: float = 0.01,
    canonical: bool = True,
    workers: int = 1,
) -> Volume:
    """Load a DICOM series folder, a single DICOM file, or a .nii/.nii.gz file as a Volume.

    DICOM options are those of `load_dicom_series`; for NIfTI only `canonical` applies
    (`series_uid` is refused, the DICOM checks have nothing to check).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (expected a DICOM folder/file or NIfTI)")
    if path.is_file() and _is_nifti(path):
        if series_uid is not None:
            raise DataError(f"{path}: series_uid does not apply to NIfTI files")
        return load_nifti(path, canonical=canonical)
    return load_dicom_series(
        path,
        series_uid,
        allow_non_ct=allow_non_ct,
        spacing_tolerance=spacing_tolerance,
        canonical=canonical,
        workers=workers,
    )


def describe_volume(volume: Volume) -> dict[str, Any]:
    """A short, identifier-free summary: shape, spacing, origin, HU range, scanner fields."""
    array = volume.array
    meta = volume.metadata
    return {
        "shape_zyx": list(volume.shape),
        "spacing_zyx_mm": [round(v, 4) for v in volume.spacing],
        "origin_lps_mm": [round(v, 3) for v in volume.origin],
        "direction": np.round(volume.direction, 4).tolist(),
        "hu_min": float(array.min()) if array.size else None,
        "hu_max": float(array.max()) if array.size else None,
        "hu_mean": round(float(array.mean()), 2) if array.size else None,
        **{k: meta.get(k, "") for k in ("modality", "manufacturer", "kernel")},
        "series_description": meta.get("series_description", ""),
    }


def convert_to_nifti(source: str | Path, out: str | Path, **kwargs: Any) -> Path:
    """Load a DICOM series/file (or NIfTI) with `load_volume(**kwargs)` and write it as NIfTI."""
    return write_nifti(load_volume(source, **kwargs), out)


def series_geometry(
    folder: str | Path, series_uid: str | None = None, *, spacing_tolerance: float = 0.01
) -> tuple[tuple[int, int, int], np.ndarray]:
    """(X, Y, Z) voxel counts and the 4x4 index -> LPS affine of one DICOM series, from its
    headers only (no pixel data); the same slice checks as `load_dicom_series`."""
    path = Path(folder)
    items = series_items(path, series_uid, pixels=False)
    slices = [sl for file, ds in items for sl in slices_from_dataset(file, ds)]
    ordered, gap = check_and_order(slices, tolerance=spacing_tolerance)
    first = ordered[0]
    normal = np.cross(first.row_dir, first.col_dir)
    affine = np.eye(4)
    affine[:3, 0] = first.row_dir * first.pixel_spacing[1]
    affine[:3, 1] = first.col_dir * first.pixel_spacing[0]
    affine[:3, 2] = normal / np.linalg.norm(normal) * gap
    affine[:3, 3] = first.position
    return (first.cols, first.rows, len(ordered)), affine


def volume_extent(path: str | Path, *, series_uid: str | None = None) -> tuple[float, float, float]:
    """The (S, P, L) mm that `load_volume(path)` covers (voxel count x spacing per axis after
    reorientation), read from the NIfTI header or the DICOM headers without decoding pixels."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (expected a DICOM folder/file or NIfTI)")
    if path.is_file() and _is_nifti(path):
        try:
            img = nib.load(path)
            shape, affine = img.shape[:3], _RAS_LPS @ img.affine
        except Exception as exc:
            raise DataError(f"{path}: unreadable NIfTI file ({type(exc).__name__}: {exc})") from exc
        if len(img.shape) not in (3, 4) or (len(img.shape) == 4 and img.shape[3] != 1):
            raise DataError(f"{path}: expected a 3-D image, got shape {img.shape}")
        return standard_extent(shape, affine)
    return standard_extent(*series_geometry(path, series_uid))
