"""Write a `Volume` as a DICOM CT series (CT Image Storage, int16 pixels + rescale slope/intercept).

One file per axial slice, explicit VR little endian, fresh UIDs from `pydicom.uid.generate_uid`,
geometry tags (ImagePositionPatient / ImageOrientationPatient / PixelSpacing / SliceThickness /
SpacingBetweenSlices) so that `load_dicom_series` gives back the same HU, spacing and origin.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.datadict import keyword_dict, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

from radlens.core import suggest
from radlens.data.volumes.volume import Volume
from radlens.errors import DataError

logger = logging.getLogger(__name__)

_INT16 = np.iinfo(np.int16)


def _ds(value: float) -> DSfloat:
    return DSfloat(float(value), auto_format=True)


def _check_extra(extra: Mapping[str, Any]) -> None:
    for key in extra:
        if tag_for_keyword(key) is None:
            hint = suggest(key, keyword_dict)
            raise DataError(f"write_dicom_series extra: {key!r} is not a DICOM keyword{hint}")


def _stored_values(volume: Volume, slope: float, intercept: float) -> np.ndarray:
    stored = np.rint((volume.array.astype(np.float64) - intercept) / slope)
    lo, hi = float(stored.min()), float(stored.max())
    if lo < _INT16.min or hi > _INT16.max:
        raise DataError(
            f"write_dicom_series: HU range [{volume.array.min():.1f}, {volume.array.max():.1f}] "
            f"does not fit int16 with slope {slope} and intercept {intercept}; "
            "pass a larger rescale_slope"
        )
    return stored.astype(np.int16)


def _check_arguments(volume: Volume, rescale_slope: float, study_date: str) -> None:
    if rescale_slope <= 0:
        raise DataError(f"write_dicom_series: rescale_slope must be > 0; got {rescale_slope}")
    direction = volume.direction
    if np.dot(np.cross(direction[:, 0], direction[:, 1]), direction[:, 2]) < 0:
        raise DataError(
            "write_dicom_series: the volume's z axis points against the slice normal "
            "(left-handed direction); reorient it first (radlens.data.volumes.io.reorient_standard)"
        )
    try:
        dt.datetime.strptime(study_date, "%Y%m%d")
    except ValueError:
        raise DataError(
            f"write_dicom_series: study_date {study_date!r} is not a YYYYMMDD date"
        ) from None


def _patient_study_tags(base: Dataset, meta: Mapping[str, Any], ids: Mapping[str, str]) -> None:
    """Patient, study, series and equipment tags shared by every slice."""
    base.SpecificCharacterSet = "ISO_IR 100"
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.SOPClassUID = CTImageStorage
    date = ids["study_date"]
    base.StudyDate = base.SeriesDate = base.ContentDate = base.AcquisitionDate = date
    base.StudyTime = base.SeriesTime = base.ContentTime = base.AcquisitionTime = "120000"
    base.AccessionNumber = ids["accession"]
    base.Modality = "CT"
    base.Manufacturer = str(meta.get("manufacturer") or "radlens")
    if meta.get("model"):
        base.ManufacturerModelName = str(meta["model"])
    base.InstitutionName = ids["institution"] or str(meta.get("institution") or "")
    base.ReferringPhysicianName = ""
    base.StudyDescription = ids["study_description"]
    base.SeriesDescription = ids["series_description"]
    base.PatientName = ids["patient_name"]
    base.PatientID = ids["patient_id"]
    base.PatientBirthDate = ""
    base.PatientSex = str(meta.get("patient_sex") or "")
    age = meta.get("patient_age")
    if isinstance(age, int | float) and 0 <= age < 1000:
        base.PatientAge = f"{int(age):03d}Y"
    elif isinstance(age, str) and age:
        base.PatientAge = age
    base.BodyPartExamined = str(meta.get("body_part") or "CHEST")
    base.KVP = _ds(float(meta.get("kvp") or 120.0))
    if meta.get("kernel"):
        base.ConvolutionKernel = str(meta["kernel"])
    base.PatientPosition = "HFS"
    base.StudyInstanceUID = ids["study_uid"]
    base.SeriesInstanceUID = ids["series_uid"]
    base.StudyID = "1"
    base.AcquisitionNumber = 1


def _image_tags(base: Dataset, volume: Volume, slope: float, intercept: float) -> None:
    """Geometry, pixel format, display window and rescale tags shared by every slice."""
    meta = volume.metadata
    _, ny, nx = volume.shape
    sz, sy, sx = volume.spacing
    base.SliceThickness = _ds(float(meta.get("slice_thickness") or sz))
    base.SpacingBetweenSlices = _ds(sz)
    base.ImageOrientationPatient = [
        _ds(v) for v in (*volume.direction[:, 0], *volume.direction[:, 1])
    ]
    base.FrameOfReferenceUID = generate_uid()
    base.PositionReferenceIndicator = ""
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows = ny
    base.Columns = nx
    base.PixelSpacing = [_ds(sy), _ds(sx)]
    base.BitsAllocated = 16
    base.BitsStored = 16
    base.HighBit = 15
    base.PixelRepresentation = 1
    base.WindowCenter = _ds(float(meta.get("window_center", 40.0)))
    base.WindowWidth = _ds(float(meta.get("window_width", 400.0)))
    base.RescaleIntercept = _ds(intercept)
    base.RescaleSlope = _ds(slope)
    base.RescaleType = "HU"


def _slice(base: Dataset, k: int, position: np.ndarray, normal: np.ndarray, pixels: np.ndarray):
    """Slice `k` (0-based) at LPS `position`: the shared tags plus its own."""
    ds = Dataset()
    ds.update(base)
    sop_uid = generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = k + 1
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.SliceLocation = _ds(float(np.dot(position, normal)))
    ds.SmallestImagePixelValue = int(pixels.min())
    ds.LargestImagePixelValue = int(pixels.max())
    ds["SmallestImagePixelValue"].VR = ds["LargestImagePixelValue"].VR = "SS"
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = CTImageStorage
    file_meta.MediaStorageSOPInstanceUID = sop_uid
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = file_meta
    return ds


def write_dicom_series(
    volume: Volume,
    out_dir: str | Path,
    *,
    patient_id: str,
    patient_name: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    study_date: str = "20260101",
    study_description: str = "",
    series_description: str = "",
    accession: str = "",
    institution: str = "",
    extra: Mapping[str, Any] | None = None,
    series_number: int = 1,
    rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0,
) -> list[Path]:
    """Write `volume` as a CT series, one file per slice (`0001.dcm` ...), ascending along z.

    Files of the same names already in `out_dir` are replaced: write each series to its own
    folder (a stale extra file from another series makes the reader report two series).

    HU are stored as int16 = round((HU - intercept) / slope), so they come back exactly to rescale
    precision (1 HU with the default slope). `extra` sets further DICOM keywords on every slice
    (e.g. {"ConvolutionKernel": "B45f", "Manufacturer": "ACME"}). Returns the written paths.
    """
    extra = dict(extra or {})
    _check_extra(extra)
    _check_arguments(volume, rescale_slope, study_date)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stored = _stored_values(volume, rescale_slope, rescale_intercept)
    ids = {
        "patient_id": patient_id, "patient_name": patient_name, "study_date": study_date,
        "study_uid": study_uid or generate_uid(), "series_uid": series_uid or generate_uid(),
        "study_description": study_description, "series_description": series_description,
        "accession": accession, "institution": institution,
    }  # fmt: skip
    base = Dataset()
    _patient_study_tags(base, volume.metadata, ids)
    base.SeriesNumber = int(series_number)
    _image_tags(base, volume, rescale_slope, rescale_intercept)
    for key, value in extra.items():
        setattr(base, key, value)
    paths: list[Path] = []
    positions, normal = volume.slice_positions(), volume.direction[:, 2]
    for k in range(volume.shape[0]):
        path = out / f"{k + 1:04d}.dcm"
        _slice(base, k, positions[k], normal, stored[k]).save_as(path, enforce_file_format=True)
        paths.append(path)
    logger.info("wrote %d CT slices (%dx%d) to %s", volume.shape[0], *volume.shape[1:], out)
    return paths
