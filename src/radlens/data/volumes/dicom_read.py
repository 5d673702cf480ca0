"""Read DICOM CT series (classic one-file-per-slice or enhanced multi-frame) into a `Volume`.

Every slice (a classic file, or one frame of an enhanced multi-frame file) becomes a `Slice`
record; records are validated together and ordered by the projection of ImagePositionPatient on
the slice normal (cross product of the ImageOrientationPatient row and column vectors), never by
InstanceNumber. Problems raise `DataError` naming the file and what is wrong.

Files in a folder: hidden files, DICOMDIR and files whose suffix marks them as something else
(.txt, .json, .csv, .nii, .png, ...) are skipped; every other file must be a readable DICOM file,
so a stray or truncated `.dcm` is an error rather than a silently missing slice.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radlens.data.volumes.dicom_geometry import (
    NON_DICOM_NAMES,
    NON_DICOM_SUFFIXES,
    Slice,
    check_and_order,
    slices_from_dataset,
)
from radlens.data.volumes.volume import Volume, reorient_standard
from radlens.errors import DataError

logger = logging.getLogger(__name__)

_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
_META_TAGS = {
    "modality": "Modality",
    "patient_id": "PatientID",
    "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID",
    "study_date": "StudyDate",
    "manufacturer": "Manufacturer",
    "model": "ManufacturerModelName",
    "kernel": "ConvolutionKernel",
    "kvp": "KVP",
    "institution": "InstitutionName",
    "accession": "AccessionNumber",
    "study_description": "StudyDescription",
    "series_description": "SeriesDescription",
    "series_number": "SeriesNumber",
    "body_part": "BodyPartExamined",
    "patient_sex": "PatientSex",
    "patient_age": "PatientAge",
    "frame_of_reference_uid": "FrameOfReferenceUID",
}


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a folder."""

    series_uid: str
    study_uid: str
    modality: str
    description: str
    series_number: int | None
    n_files: int
    n_slices: int


def dicom_files(folder: str | Path) -> list[Path]:
    """Candidate DICOM files under `folder` (recursive, sorted), skipping obvious non-DICOM."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a folder of DICOM files)")
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        name = path.name
        if not path.is_file() or name.startswith(".") or name.upper() in NON_DICOM_NAMES:
            continue
        if "".join(path.suffixes[-2:]).lower() in NON_DICOM_SUFFIXES or (
            path.suffix.lower() in NON_DICOM_SUFFIXES
        ):
            logger.debug("skipping non-DICOM file %s", path)
            continue
        out.append(path)
    return out


def read_dataset(path: Path, *, pixels: bool = True) -> Dataset:
    """dcmread one file; DataError naming the file if it is not (readable) DICOM.

    pydicom reads a truncated file up to the cut; the caller's checks (missing attributes, short
    pixel data, undecodable frames, an empty data set) turn that into a DataError.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError:
        pass  # maybe a raw data set without the 128-byte preamble: try once more below
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: unreadable DICOM file ({type(exc).__name__}: {exc})") from exc
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
        if "SOPClassUID" in ds and "Rows" in ds:
            return ds
    except Exception:
        pass
    raise DataError(
        f"{path}: not a DICOM file (no 'DICM' header and no image attributes); "
        "remove it from the series folder"
    )


def _workers(requested: int, n_items: int) -> int:
    """Threads to use: never more than one per 8 items or than the machine's cores."""
    return max(1, min(int(requested), os.cpu_count() or 1, n_items // 8))


def _read_checked(path: Path, pixels: bool) -> tuple[Path, Dataset] | None:
    ds = read_dataset(path, pixels=pixels)
    if len(ds) == 0:
        raise DataError(f"{path}: no data set after the file meta header (truncated file?)")
    if ds.get("SOPClassUID") == "1.2.840.10008.1.3.10":  # Media Storage Directory (DICOMDIR)
        return None
    return path, ds


def _read_all(
    files: Iterable[Path], *, pixels: bool, workers: int = 1
) -> list[tuple[Path, Dataset]]:
    files = list(files)
    workers = _workers(workers, len(files))
    if workers == 1:
        read = [_read_checked(path, pixels) for path in files]
    else:
        with ThreadPoolExecutor(workers) as pool:
            read = list(pool.map(_read_checked, files, [pixels] * len(files)))
    return [item for item in read if item is not None]


def _series_uid(path: Path, ds: Dataset) -> str:
    uid = ds.get("SeriesInstanceUID")
    if not uid:
        raise DataError(
            f"{path}: missing SeriesInstanceUID (0020,000E) (file truncated or incomplete?)"
        )
    return str(uid)


def _n_frames(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def _summaries(groups: dict[str, list[tuple[Path, Dataset]]]) -> list[SeriesInfo]:
    infos = []
    for uid, items in groups.items():
        ds = items[0][1]
        number = ds.get("SeriesNumber")
        infos.append(
            SeriesInfo(
                series_uid=uid,
                study_uid=str(ds.get("StudyInstanceUID", "")),
                modality=str(ds.get("Modality", "")),
                description=str(ds.get("SeriesDescription", "")),
                series_number=int(number) if number not in (None, "") else None,
                n_files=len(items),
                n_slices=sum(_n_frames(d) for _, d in items),
            )
        )
    return sorted(
        infos, key=lambda s: (s.series_number is None, s.series_number or 0, s.series_uid)
    )


def _group(items: list[tuple[Path, Dataset]]) -> dict[str, list[tuple[Path, Dataset]]]:
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in items:
        groups.setdefault(_series_uid(path, ds), []).append((path, ds))
    return groups


def list_series(folder: str | Path, *, skipped: list[Path] | None = None) -> list[SeriesInfo]:
    """The series in a folder (headers only), ordered by SeriesNumber. Given a `skipped` list,
    files that are not readable DICOM are appended to it instead of raising DataError."""
    files = dicom_files(folder)
    if skipped is None:
        return _summaries(_group(_read_all(files, pixels=False)))
    items = []
    for path in files:
        try:
            item = _read_checked(path, False)
        except DataError:
            skipped.append(path)
            continue
        if item is not None:
            items.append(item)
    return _summaries(_group(items))


def _describe(infos: list[SeriesInfo]) -> str:
    return "; ".join(
        f"{s.series_uid} ({s.modality or '?'}, {s.description or 'no description'!r}, "
        f"{s.n_files} files)"
        for s in infos
    )


def _frame_pixels(path: Path, ds: Dataset, n_frames: int) -> np.ndarray:
    """Stored pixel values as a (frames, rows, cols) integer/float array."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    bits = int(ds.get("BitsAllocated", 16))
    stored = int(ds.get("BitsStored", bits))
    tsyntax = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    if "PixelData" not in ds:
        raise DataError(f"{path}: no pixel data (file truncated or not an image)")
    if tsyntax in _UNCOMPRESSED:
        expected = rows * cols * n_frames * bits // 8
        have = len(ds.PixelData)
        if have < expected:
            raise DataError(
                f"{path}: truncated pixel data: {have} bytes, expected {expected} "
                f"({n_frames} x {rows}x{cols} x {bits} bits)"
            )
        if bits in (8, 16, 32) and (stored == bits or int(ds.PixelRepresentation) == 0):
            signed = int(ds.PixelRepresentation) == 1
            dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
            raw = np.frombuffer(ds.PixelData, dtype=dtype, count=rows * cols * n_frames)
            if stored < bits:  # unsigned with unused high bits: mask them off
                raw = raw & dtype.type((1 << stored) - 1)
            return raw.reshape(n_frames, rows, cols)
    try:
        array = ds.pixel_array
    except Exception as exc:
        raise DataError(
            f"{path}: cannot decode pixel data ({tsyntax}, "
            f"{pydicom.uid.UID(tsyntax).name}): {type(exc).__name__}: {exc}"
        ) from exc
    return array.reshape(n_frames, rows, cols)


def _to_hu(ordered: list[Slice], datasets: dict[Path, Dataset], workers: int = 1) -> np.ndarray:
    """Decode every slice and apply its rescale into one float32 (Z, Y, X) array."""
    first = ordered[0]
    out = np.empty((len(ordered), first.rows, first.cols), dtype=np.float32)
    multi: dict[Path, np.ndarray] = {}
    for sl in ordered:  # decode each multi-frame file once
        ds = datasets[sl.path]
        if sl.multi_frame and sl.path not in multi:
            multi[sl.path] = _frame_pixels(sl.path, ds, _n_frames(ds))

    def fill(k: int) -> None:
        sl = ordered[k]
        if sl.multi_frame:
            pixels = multi[sl.path][sl.frame]
        else:
            pixels = _frame_pixels(sl.path, datasets[sl.path], 1)[0]
        if sl.slope == 1.0:
            np.add(pixels, np.float32(sl.intercept), out=out[k], dtype=np.float32)
        else:
            np.multiply(pixels, sl.slope, out=out[k], dtype=np.float64, casting="unsafe")
            if sl.intercept != 0.0:
                out[k] += np.float32(sl.intercept)

    workers = _workers(workers, len(ordered))
    if workers == 1:
        for k in range(len(ordered)):
            fill(k)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(len(ordered))))
    return out


def _metadata(ds: Dataset, ordered: list[Slice], source: Path) -> dict[str, object]:
    meta: dict[str, object] = {}
    for key, keyword in _META_TAGS.items():
        value = ds.get(keyword)
        if value is None or value == "":
            meta[key] = ""
        elif keyword == "ConvolutionKernel" and not isinstance(value, str):
            meta[key] = "\\".join(str(v) for v in value)
        elif keyword in ("KVP", "SeriesNumber"):
            meta[key] = float(value) if keyword == "KVP" else int(value)
        else:
            meta[key] = str(value)
    thickness = ordered[0].thickness
    meta["slice_thickness"] = float(thickness) if thickness else None
    meta["sop_class_uid"] = str(ds.get("SOPClassUID", ""))
    meta["transfer_syntax"] = str(ds.file_meta.get("TransferSyntaxUID", ""))
    meta["source"] = str(source)
    meta["files"] = sorted({str(s.path) for s in ordered})
    meta["n_slices"] = len(ordered)
    normal = np.cross(ordered[0].row_dir, ordered[0].col_dir)
    meta["slice_normal"] = [round(float(v), 6) for v in normal / np.linalg.norm(normal)]
    return meta


def volume_from_datasets(
    items: list[tuple[Path, Dataset]],
    source: Path,
    *,
    allow_non_ct: bool = False,
    spacing_tolerance: float = 0.01,
    canonical: bool = True,
    workers: int = 1,
) -> Volume:
    """Validate, order and decode the files of ONE series (full data sets) into a Volume."""
    slices: list[Slice] = []
    for path, ds in items:
        modality = str(ds.get("Modality", ""))
        if modality != "CT" and not allow_non_ct:
            raise DataError(
                f"{path}: modality {modality or 'missing'!r}, expected 'CT' "
                "(--allow-non-ct, or allow_non_ct=True in Python, loads other modalities)"
            )
        slices.extend(slices_from_dataset(path, ds))
    ordered, spacing_z = check_and_order(slices, tolerance=spacing_tolerance)
    datasets = dict(items)
    array = _to_hu(ordered, datasets, workers)
    first = ordered[0]
    normal = np.cross(first.row_dir, first.col_dir)
    direction = np.stack([first.row_dir, first.col_dir, normal / np.linalg.norm(normal)], axis=1)
    volume = Volume(
        array=array,
        spacing=(spacing_z, first.pixel_spacing[0], first.pixel_spacing[1]),
        origin=tuple(first.position),  # type: ignore[arg-type]
        direction=direction,
        metadata=_metadata(datasets[first.path], ordered, source),
    )
    return reorient_standard(volume) if canonical else volume


def series_items(
    path: Path, series_uid: str | None, *, pixels: bool, workers: int = 1
) -> list[tuple[Path, Dataset]]:
    """The (file, data set) pairs of the chosen series of a folder (or of one file)."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = dicom_files(path)
    else:
        raise DataError(f"{path}: no such file or folder")
    items = _read_all(files, pixels=pixels, workers=workers)
    if not items:
        raise DataError(f"{path}: no DICOM files found (skipped names: DICOMDIR, hidden, .txt...)")
    groups = _group(items)
    if series_uid is None:
        if len(groups) > 1:
            raise DataError(
                f"{path} holds {len(groups)} series; choose one with --series-uid UID "
                "(series_uid= in Python): "
                f"{_describe(_summaries(groups))}"
            )
        return next(iter(groups.values()))
    if series_uid in groups:
        return groups[series_uid]
    raise DataError(
        f"{path}: no series with SeriesInstanceUID {series_uid!r}; found: "
        f"{_describe(_summaries(groups))}"
    )


def load_dicom_series(
    folder: str | Path,
    series_uid: str | None = None,
    *,
    allow_non_ct: bool = False,
    spacing_tolerance: float = 0.01,
    canonical: bool = True,
    workers: int = 1,
) -> Volume:
    """Load one series from a folder (or a single, e.g. enhanced multi-frame, DICOM file).

    `series_uid` picks a series when the folder holds several (see `list_series`).
    `spacing_tolerance` is the relative deviation from the median slice gap accepted before the
    series counts as having missing slices / uneven spacing. With `canonical` (default) the array is
    flipped/permuted to standard axial (z -> S, y -> P, x -> L); geometry stays exact.
    `workers` > 1 reads and decodes files in threads: faster on idle multi-core machines, slower
    on a busy 2-core one (measured), hence the default of 1.
    """
    path = Path(folder)
    chosen = series_items(path, series_uid, pixels=True, workers=workers)
    kinds = Counter(_n_frames(ds) > 1 for _, ds in chosen)
    logger.debug("reading %d files (%s multi-frame)", len(chosen), kinds[True])
    return volume_from_datasets(
        chosen,
        path,
        allow_non_ct=allow_non_ct,
        spacing_tolerance=spacing_tolerance,
        canonical=canonical,
        workers=workers,
    )
