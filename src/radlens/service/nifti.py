"""NIfTI uploads: validation with nibabel and an instance record built from form fields."""

from __future__ import annotations

import gzip

import nibabel as nib
from pydicom.uid import generate_uid

from radlens.service.instances import InstanceMeta
from radlens.service.uploads import UploadError

#: The form fields a NIfTI upload may carry (the keyword arguments of `nifti_meta`).
NIFTI_FORM_FIELDS = (
    "patient_id",
    "patient_name",
    "study_uid",
    "study_date",
    "study_description",
    "accession",
    "modality",
)


def nifti_meta(
    data: bytes,
    name: str,
    *,
    patient_id: str,
    patient_name: str = "",
    study_uid: str = "",
    study_date: str = "",
    study_description: str = "",
    accession: str = "",
    modality: str = "CT",
) -> InstanceMeta:
    """Validate an uploaded NIfTI volume and build its instance record from form fields."""
    if modality.strip().upper() != "CT":
        raise UploadError(f"{name}: modality is {modality!r}; only CT studies are accepted", 422)
    if not patient_id.strip():
        raise UploadError(f"{name}: form field 'patient_id' is required for a NIfTI upload", 422)
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UploadError(f"{name}: corrupt gzip stream ({exc})", 422) from None
    try:
        image = nib.Nifti1Image.from_bytes(raw)
        shape = image.shape
    except Exception as exc:
        raise UploadError(f"{name}: not a readable NIfTI-1 file ({exc})", 422) from None
    if len(shape) != 3 or min(shape) < 1:
        raise UploadError(f"{name}: NIfTI must be a 3D volume, got shape {shape}", 422)
    uid = study_uid.strip() or generate_uid()
    return InstanceMeta(
        patient_key=patient_id.strip()[:128],
        patient_name=patient_name.strip()[:256],
        birth_date="",
        sex="",
        study_uid=uid[:64],
        study_date=study_date.strip()[:16],
        study_description=study_description.strip()[:256],
        accession=accession.strip()[:64],
        series_uid=generate_uid(),
        series_description="NIfTI volume",
        modality="CT",
        sop_uid=generate_uid(),
        instance_number=1,
        kind="nifti",
    )


def is_nifti(name: str, data: bytes) -> bool:
    lower = name.lower()
    return lower.endswith((".nii", ".nii.gz")) or (len(data) > 348 and data[344:348] == b"n+1\0")
