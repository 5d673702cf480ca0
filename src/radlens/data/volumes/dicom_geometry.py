"""Per-slice geometry from DICOM headers, and the checks that make a set of slices one volume.

Classic images give one `Slice` per file; enhanced multi-frame images (Enhanced CT/MR) give one per
frame from the per-frame / shared functional groups (PlanePositionSequence,
PlaneOrientationSequence, PixelMeasuresSequence, PixelValueTransformationSequence).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from radlens.errors import DataError

NON_DICOM_NAMES = frozenset({"DICOMDIR", "LOCKFILE", "VERSION", "THUMBS.DB", "DESKTOP.INI"})
NON_DICOM_SUFFIXES = frozenset(
    {
        ".txt", ".md", ".json", ".csv", ".tsv", ".xml", ".html", ".htm", ".log", ".yaml", ".yml",
        ".ini", ".nii", ".nii.gz", ".gz", ".zip", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif",
        ".tiff", ".pdf", ".npy", ".npz", ".parquet", ".py", ".sh", ".bat", ".exe",
    }
)  # fmt: skip

_DUPLICATE_MM = 1e-3
_TILT_DEG = 0.1


@dataclass(frozen=True)
class Slice:
    """Geometry and rescale of one 2-D image (a classic file or one frame of a multi-frame file)."""

    path: Path
    frame: int
    position: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    pixel_spacing: tuple[float, float]  # (between rows = y, between columns = x) mm
    rows: int
    cols: int
    slope: float
    intercept: float
    thickness: float | None
    multi_frame: bool = False

    @property
    def where(self) -> str:
        return f"{self.path} frame {self.frame + 1}" if self.multi_frame else str(self.path)


def _numbers(ds: Dataset, keyword: str) -> list[float] | None:
    """A DS/FD value as floats, parsed from the raw bytes when still raw (fast path)."""
    elem = ds.get_item(tag_for_keyword(keyword))  # type: ignore[arg-type]
    if elem is None:
        return None
    value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace").strip(" \x00")
        return [float(v) for v in text.split("\\")] if text else None
    if isinstance(value, str):
        return [float(v) for v in value.split("\\")] if value.strip() else None
    try:
        return [float(v) for v in value]
    except TypeError:
        return [float(value)]


def _floats(ds: Dataset, n: int, path: Path, keyword: str) -> np.ndarray:
    try:
        values = _numbers(ds, keyword)
    except (TypeError, ValueError):
        values = None
    out = np.array(values if values is not None else [], dtype=np.float64)
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        raise DataError(f"{path}: {keyword} must hold {n} numbers; got {ds.get(keyword)!r}")
    return out


def _scalar(ds: Dataset, keyword: str, default: float | None) -> float | None:
    try:
        values = _numbers(ds, keyword)
    except (TypeError, ValueError):
        raise DataError(f"{keyword} is not a number: {ds.get(keyword)!r}") from None
    return values[0] if values else default


def _require(ds: Dataset, path: Path, keywords: tuple[str, ...]) -> None:
    missing = [k for k in keywords if k not in ds]
    if missing:
        raise DataError(
            f"{path}: missing {', '.join(missing)} (file truncated, or not a cross-sectional image)"
        )


def _rescale(item: Dataset | None, ds: Dataset, path: Path) -> tuple[float, float]:
    src = item if item is not None and "RescaleSlope" in item else ds
    try:
        slope = _scalar(src, "RescaleSlope", 1.0)
        intercept = _scalar(src, "RescaleIntercept", 0.0)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return float(slope or 1.0), float(intercept or 0.0)


def _group_item(per: Dataset | None, shared: Dataset | None, sequence: str) -> Dataset | None:
    for holder in (per, shared):
        if holder is not None and sequence in holder and len(holder[sequence].value):
            return holder[sequence].value[0]
    return None


def _make(path: Path, frame: int, ds: Dataset, pos: Dataset, ori: Dataset, meas: Dataset) -> Slice:
    orientation = _floats(ori, 6, path, "ImageOrientationPatient")
    spacing = _floats(meas, 2, path, "PixelSpacing")
    if np.any(spacing <= 0):
        raise DataError(f"{path}: PixelSpacing must be positive; got {spacing.tolist()}")
    try:
        thickness = _scalar(meas, "SliceThickness", None)
    except DataError:
        thickness = None
    return Slice(
        path=path,
        frame=frame,
        position=_floats(pos, 3, path, "ImagePositionPatient"),
        row_dir=orientation[:3],
        col_dir=orientation[3:],
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        rows=int(ds.Rows),
        cols=int(ds.Columns),
        slope=1.0,
        intercept=0.0,
        thickness=thickness,
    )


def slices_from_dataset(path: Path, ds: Dataset) -> list[Slice]:
    """One `Slice` per 2-D image held by `ds` (a classic image or an enhanced multi-frame one)."""
    _require(ds, path, ("Rows", "Columns"))
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DataError(
            f"{path}: {ds.SamplesPerPixel} samples per pixel "
            f"({ds.get('PhotometricInterpretation')}); a CT slice is greyscale (1 sample)"
        )
    n_frames = int(ds.get("NumberOfFrames") or 1)
    if "PerFrameFunctionalGroupsSequence" not in ds:
        if n_frames > 1:
            raise DataError(
                f"{path}: {n_frames} frames but no per-frame functional groups "
                "(PlanePositionSequence); cannot place the frames in space"
            )
        _require(ds, path, ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"))
        sl = _make(path, 0, ds, ds, ds, ds)
        slope, intercept = _rescale(None, ds, path)
        return [replace(sl, slope=slope, intercept=intercept)]
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.PerFrameFunctionalGroupsSequence
    if len(per_frame) != n_frames:
        raise DataError(
            f"{path}: {len(per_frame)} per-frame functional group items for {n_frames} frames"
        )
    out = []
    for i, per in enumerate(per_frame):
        pos = _group_item(per, shared, "PlanePositionSequence")
        ori = _group_item(per, shared, "PlaneOrientationSequence")
        meas = _group_item(per, shared, "PixelMeasuresSequence")
        missing = [
            name
            for name, item in (
                ("PlanePositionSequence", pos),
                ("PlaneOrientationSequence", ori),
                ("PixelMeasuresSequence", meas),
            )
            if item is None
        ]
        if missing:
            raise DataError(f"{path} frame {i + 1}: missing {', '.join(missing)}")
        sl = _make(path, i, ds, pos, ori, meas)  # type: ignore[arg-type]
        pvt = _group_item(per, shared, "PixelValueTransformationSequence")
        slope, intercept = _rescale(pvt, ds, path)
        out.append(replace(sl, slope=slope, intercept=intercept, multi_frame=True))
    return out


def _check_uniform(slices: list[Slice]) -> None:
    sizes = Counter((s.rows, s.cols) for s in slices)
    (rows, cols), count = sizes.most_common(1)[0]
    for s in slices:
        if (s.rows, s.cols) != (rows, cols):
            raise DataError(
                f"{s.where}: {s.rows}x{s.cols} pixels but {count} other slices of the series "
                f"are {rows}x{cols} (mixed image sizes)"
            )
    ref = slices[0]
    for s in slices:
        if not np.allclose(s.pixel_spacing, ref.pixel_spacing, rtol=1e-4, atol=1e-5):
            raise DataError(
                f"{s.where}: PixelSpacing {list(s.pixel_spacing)} differs from "
                f"{list(ref.pixel_spacing)} in {ref.where} (mixed pixel spacing)"
            )
        if not (
            np.allclose(s.row_dir, ref.row_dir, atol=1e-4)
            and np.allclose(s.col_dir, ref.col_dir, atol=1e-4)
        ):
            raise DataError(
                f"{s.where}: ImageOrientationPatient {[*s.row_dir, *s.col_dir]} differs from "
                f"{[*ref.row_dir, *ref.col_dir]} in {ref.where} (mixed orientations)"
            )
    norms = (np.linalg.norm(ref.row_dir), np.linalg.norm(ref.col_dir))
    if (
        abs(norms[0] - 1) > 1e-3
        or abs(norms[1] - 1) > 1e-3
        or abs(ref.row_dir @ ref.col_dir) > 1e-3
    ):
        raise DataError(
            f"{ref.where}: ImageOrientationPatient {[*ref.row_dir, *ref.col_dir]} is not two "
            "orthogonal unit vectors"
        )


def check_and_order(slices: list[Slice], *, tolerance: float = 0.01) -> tuple[list[Slice], float]:
    """Validate the slices of one series; return them ascending along the normal, and the z gap."""
    if not slices:
        raise DataError("no slices to build a volume from")
    _check_uniform(slices)
    ref = slices[0]
    normal = np.cross(ref.row_dir, ref.col_dir)
    normal /= np.linalg.norm(normal)
    positions = np.stack([s.position for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    ordered = [slices[i] for i in order]
    along = along[order]
    positions = positions[order]
    if len(ordered) == 1:
        return ordered, float(ordered[0].thickness or 1.0)
    gaps = np.diff(along)
    dup = np.flatnonzero(gaps < _DUPLICATE_MM)
    if dup.size:
        a, b = ordered[dup[0]], ordered[dup[0] + 1]
        raise DataError(
            f"duplicate slice position {along[dup[0]]:.3f} mm along the normal: {a.where} and "
            f"{b.where} (two images at one location; remove one or split the series)"
        )
    shift = positions - positions[0]
    dist = shift @ normal
    inplane = np.linalg.norm(shift - dist[:, None] * normal[None, :], axis=1)
    angles = np.degrees(np.arctan2(inplane[1:], dist[1:]))
    worst = int(np.argmax(angles)) + 1
    if angles[worst - 1] > _TILT_DEG and inplane[worst] > 0.01:
        raise DataError(
            f"gantry tilt / sheared stack: {ordered[worst].where} is shifted "
            f"{inplane[worst]:.2f} mm in-plane over {dist[worst]:.2f} mm along the slice normal "
            f"({angles[worst - 1]:.2f} deg); the orientation is not orthogonal to the stacking "
            "direction (resample the series to an orthogonal grid first)"
        )
    gap = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - gap) > tolerance * gap + 1e-4)
    if bad.size:
        i = int(bad[0])
        a, b = ordered[i], ordered[i + 1]
        if gaps[i] > 1.5 * gap:
            n_missing = round(gaps[i] / gap) - 1
            raise DataError(
                f"missing slice(s): gap of {gaps[i]:.3f} mm between {a.where} "
                f"({along[i]:.3f} mm) and {b.where} ({along[i + 1]:.3f} mm), expected "
                f"{gap:.3f} mm (about {n_missing} slice(s) missing)"
            )
        raise DataError(
            f"uneven slice spacing: gap of {gaps[i]:.3f} mm between {a.where} and {b.where}, "
            f"median gap {gap:.3f} mm (tolerance {tolerance:.1%})"
        )
    return ordered, gap
