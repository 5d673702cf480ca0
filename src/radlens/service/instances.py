"""What the store keeps of one image instance, and how it is read from a DICOM file.

`InstanceMeta` is the record both ingest paths build: `parse_dicom_bytes` / `meta_from_dataset`
for DICOM (uploads and the DICOM node), `radlens.service.nifti.nifti_meta` for NIfTI uploads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom
from pydicom.errors import InvalidDicomError

from radlens.service.uploads import UploadError

CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
}


@dataclass(frozen=True)
class InstanceMeta:
    """What the store keeps of one image instance (identifiers and descriptive text)."""

    patient_key: str  # DICOM PatientID; "" when the instance has none
    patient_name: str
    birth_date: str
    sex: str
    study_uid: str
    study_date: str
    study_description: str
    accession: str
    series_uid: str
    series_description: str
    modality: str
    sop_uid: str
    instance_number: int | None
    kind: str = "dicom"
    issuer: str = ""  # DICOM IssuerOfPatientID


def _text(ds: pydicom.Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword, "")
    return str(value if value is not None else "").strip()[:limit]


def not_ct_reason(ds: pydicom.Dataset) -> str:
    """Why a dataset is not a CT image ("Modality MR", "SOP Class UID ..."); "" when it may be."""
    modality = _text(ds, "Modality", 16).upper()
    if modality and modality != "CT":
        return f"Modality {modality}"
    sop_class = _text(ds, "SOPClassUID", 64)
    if sop_class and sop_class not in CT_SOP_CLASSES:
        return f"SOP Class UID {sop_class}"
    return ""


def meta_from_dataset(ds: pydicom.Dataset, name: str) -> InstanceMeta:
    """Validate a dataset as a CT image instance and extract what the store keeps."""
    missing = [
        k
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality")
        if not _text(ds, k, 64)
    ]
    if missing:
        raise UploadError(f"{name}: DICOM file lacks required attribute(s) {missing}", 422)
    modality = _text(ds, "Modality", 16).upper()
    if modality != "CT":
        raise UploadError(f"{name}: modality is {modality!r}; only CT studies are accepted", 422)
    sop_class = _text(ds, "SOPClassUID", 64)
    if sop_class and sop_class not in CT_SOP_CLASSES:
        raise UploadError(
            f"{name}: SOP class {sop_class} is not a CT image (expected CT Image Storage)", 422
        )
    if "PixelData" not in ds:
        raise UploadError(f"{name}: DICOM file has no pixel data", 422)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise UploadError(f"{name}: Rows/Columns missing or zero ({rows}x{cols})", 422)
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is not None and not ts.is_compressed:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        expected = rows * cols * frames * samples * bits // 8
        actual = len(ds.PixelData)
        if actual < expected:
            raise UploadError(
                f"{name}: pixel data holds {actual} bytes, expected {expected} "
                f"({rows}x{cols}x{frames} at {bits} bits): file truncated",
                422,
            )
    number = ds.get("InstanceNumber", None)
    try:
        instance_number = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        instance_number = None
    return InstanceMeta(
        patient_key=_text(ds, "PatientID", 128),
        issuer=_text(ds, "IssuerOfPatientID", 64),
        patient_name=_text(ds, "PatientName", 256),
        birth_date=_text(ds, "PatientBirthDate", 16),
        sex=_text(ds, "PatientSex", 16),
        study_uid=_text(ds, "StudyInstanceUID", 64),
        study_date=_text(ds, "StudyDate", 16),
        study_description=_text(ds, "StudyDescription", 256),
        accession=_text(ds, "AccessionNumber", 64),
        series_uid=_text(ds, "SeriesInstanceUID", 64),
        series_description=_text(ds, "SeriesDescription", 256),
        modality=modality,
        sop_uid=_text(ds, "SOPInstanceUID", 64),
        instance_number=instance_number,
    )


def parse_dicom_bytes(data: bytes, name: str) -> InstanceMeta:
    """Parse one uploaded DICOM file (Part 10, with preamble/meta) and validate it."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise UploadError(f"{name}: not a DICOM file ({exc})", 422) from None
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise UploadError(f"{name}: malformed DICOM ({type(exc).__name__}: {exc})", 422) from None
    return meta_from_dataset(ds, name)
