"""Coded concepts of the DICOM results: radlens finding and location ids -> SNOMED CT codes.

A finding or location with a SNOMED CT concept gets it (scheme "SCT"; the codes pydicom ships from
the DICOM standard's tables are taken from `pydicom.sr.codedict.codes.SCT`, the others are listed
here with their SNOMED CT concept id). A side ("right_pleura") is the organ plus a Laterality
modifier (Right 24028007 / Left 7771000), a lobe is "Upper/Middle/Lower lobe of lung" plus the
side. Every other id gets a code of the private coding scheme `99RADLENS` (value: the radlens id
itself, e.g. `99RADLENS ground_glass_opacity "ground glass opacity"`), so a receiver can still
tell findings apart; `99RADLENS` is declared in the SR's Coding Scheme Identification Sequence.
"""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

PRIVATE_SCHEME = "99RADLENS"
PRIVATE_SCHEME_NAME = "radlens finding and location ids"

# radlens abnormality id -> SNOMED CT (value, meaning); pydicom's own codes first
_SCT_FINDINGS: dict[str, tuple[str, str]] = {
    "pleural_effusion": (codes.SCT.PleuralEffusion.value, "Pleural effusion"),
    "pneumothorax": (codes.SCT.Pneumothorax.value, "Pneumothorax"),
    "nodule": (codes.SCT.Nodule.value, "Nodule"),
    "mass": (codes.SCT.Mass.value, "Mass"),
    "cardiomegaly": (codes.SCT.Cardiomegaly.value, "Cardiomegaly"),
    "pericardial_effusion": (codes.SCT.PericardialEffusion.value, "Pericardial effusion"),
    "pulmonary_embolism": (codes.SCT.PulmonaryEmbolism.value, "Pulmonary embolism"),
    "lymphadenopathy": (codes.SCT.Lymphadenopathy.value, "Lymphadenopathy"),
    "pulmonary_edema": (codes.SCT.PulmonaryEdema.value, "Pulmonary edema"),
    "aortic_aneurysm": (codes.SCT.AorticAneurysm.value, "Aortic aneurysm"),
    "aortic_dissection": (codes.SCT.AorticDissection.value, "Aortic dissection"),
    "pneumomediastinum": (codes.SCT.Pneumomediastinum.value, "Pneumomediastinum"),
    "thyroid_nodule": (codes.SCT.ThyroidNodule.value, "Thyroid Nodule"),
    "hepatomegaly": (codes.SCT.Hepatomegaly.value, "Hepatomegaly"),
    "cirrhosis": (codes.SCT.CirrhosisOfLiver.value, "Cirrhosis of liver"),
    "lung_cyst": (codes.SCT.Cyst.value, "Cyst"),
    # SNOMED CT concepts not in pydicom's tables
    "consolidation": ("95436008", "Lung consolidation"),
    "emphysema": ("87433001", "Pulmonary emphysema"),
    "atelectasis": ("46621007", "Atelectasis"),
    "bronchiectasis": ("12295008", "Bronchiectasis"),
    "pneumonia": ("233604007", "Pneumonia"),
}

_RIGHT = codes.SCT.Right
_LEFT = codes.SCT.Left
_UPPER_LOBE = ("45653009", "Upper lobe of lung")
_LOWER_LOBE = (codes.SCT.LowerLobeOfLung.value, "Lower lobe of lung")
_LUNG = (codes.SCT.Lung.value, "Lung")
_PLEURA = (codes.SCT.Pleura.value, "Pleura")
# radlens location id -> (SNOMED CT (value, meaning), laterality or None)
_SCT_SITES: dict[str, tuple[tuple[str, str], object]] = {
    "right_upper_lobe": (_UPPER_LOBE, _RIGHT),
    "right_middle_lobe": (
        (codes.SCT.MiddleLobeOfRightLung.value, "Middle lobe of right lung"),
        None,
    ),
    "right_lower_lobe": (_LOWER_LOBE, _RIGHT),
    "left_upper_lobe": (_UPPER_LOBE, _LEFT),
    "left_lower_lobe": (_LOWER_LOBE, _LEFT),
    "right_lung": (_LUNG, _RIGHT),
    "left_lung": (_LUNG, _LEFT),
    "right_pleura": (_PLEURA, _RIGHT),
    "left_pleura": (_PLEURA, _LEFT),
    "trachea": ((codes.SCT.Trachea.value, "Trachea"), None),
    "bronchi": ((codes.SCT.Bronchus.value, "Bronchus"), None),
    "heart": ((codes.SCT.Heart.value, "Heart"), None),
    "pericardium": ((codes.SCT.Pericardium.value, "Pericardium"), None),
    "aorta": ((codes.SCT.Aorta.value, "Aorta"), None),
    "mediastinum": ((codes.SCT.Mediastinum.value, "Mediastinum"), None),
    "liver": ((codes.SCT.Liver.value, "Liver"), None),
    "spleen": ((codes.SCT.Spleen.value, "Spleen"), None),
    "chest_wall": ((codes.SCT.ChestWall.value, "Chest wall"), None),
    "diaphragm": ((codes.SCT.Diaphragm.value, "Diaphragm"), None),
    "esophagus": ((codes.SCT.Esophagus.value, "Esophagus"), None),
}


def private_code(radlens_id: str) -> CodedConcept:
    """The `99RADLENS` code of a radlens id (value: the id, meaning: the id in words)."""
    return CodedConcept(radlens_id, PRIVATE_SCHEME, radlens_id.replace("_", " "))


def finding_code(abnormality: str) -> CodedConcept:
    """The Finding code of a radlens abnormality id: SNOMED CT where one exists, else 99RADLENS."""
    if abnormality in _SCT_FINDINGS:
        value, meaning = _SCT_FINDINGS[abnormality]
        return CodedConcept(value, "SCT", meaning)
    return private_code(abnormality)


def site_codes(location: str) -> tuple[CodedConcept, CodedConcept | None]:
    """(anatomic location, laterality or None) of a radlens location id."""
    if location in _SCT_SITES:
        (value, meaning), side = _SCT_SITES[location]
        laterality = None if side is None else CodedConcept(side.value, "SCT", side.meaning)
        return CodedConcept(value, "SCT", meaning), laterality
    return private_code(location), None


def status_code(status: str) -> CodedConcept:
    """A finding status (present / absent / uncertain) as its SNOMED CT qualifier value."""
    code = {"present": codes.SCT.Present, "absent": codes.SCT.Absent}.get(
        status, codes.SCT.Uncertain
    )
    return CodedConcept(code.value, code.scheme_designator, code.meaning)
