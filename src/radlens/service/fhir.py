"""The worklist as FHIR R4 JSON (read-only): `DiagnosticReport` and `ImagingStudy` resources.

Routes (viewer role, the same bearer token / session cookie as every read route):
- `GET /fhir/DiagnosticReport[?status=registered|preliminary|final|cancelled]`: a `searchset`
  `Bundle` of one DiagnosticReport per visible study, in worklist order;
- `GET /fhir/DiagnosticReport/{id}` and `GET /fhir/ImagingStudy/{id}` (id = the study id).

Plain dicts shaped as FHIR R4 (no FHIR library): DiagnosticReport.status is `registered` until
scored, `preliminary` when scored (the AI draft), `final` once a radiologist signed the report,
`cancelled` when scoring failed or the study is not scorable. `conclusionCode` holds the present
and uncertain findings, coded as in the DICOM SR (`radlens.service.results_codes`: SNOMED CT,
else the private `99RADLENS` system). ImagingStudy.identifier is the Study Instance UID as
`urn:oid:`, modalities are DICOM (DCM) codes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from radlens.core import look_up_option
from radlens.errors import ServiceError
from radlens.service.access import Access
from radlens.service.auth import Principal
from radlens.service.results_codes import finding_code
from radlens.service.store import Database, Finding, Report, Study, StudyStatus
from radlens.service.worklist import get_visible_study, worklist

SNOMED = "http://snomed.info/sct"
PRIVATE_SYSTEM = "urn:radlens:99RADLENS"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
STATUSES = ("registered", "preliminary", "final", "cancelled")
_STUDY_STATUS = {
    StudyStatus.PENDING: "registered",
    StudyStatus.SCORING: "registered",
    StudyStatus.SCORED: "preliminary",
}
RADIOLOGY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "RAD",
            "display": "Radiology",
        }
    ]
}
CT_CHEST = {
    "coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "Chest CT"}],
    "text": "CT chest, radlens AI triage",
}


def report_status(study: Study, signed: bool) -> str:
    """The FHIR DiagnosticReport.status of a study."""
    if study.status == StudyStatus.SCORED and signed:
        return "final"
    return _STUDY_STATUS.get(study.status, "cancelled")


def _coding(abnormality: str) -> dict[str, Any]:
    code = finding_code(abnormality)
    system = SNOMED if code.scheme_designator == "SCT" else PRIVATE_SYSTEM
    return {
        "coding": [{"system": system, "code": code.value, "display": code.meaning}],
        "text": abnormality.replace("_", " "),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def diagnostic_report(session, study: Study) -> dict[str, Any]:
    """One study as a FHIR R4 DiagnosticReport."""
    report = session.scalar(select(Report).where(Report.study_id == study.id))
    signed = report is not None and report.signed_at is not None
    text = ""
    if report is not None:
        text = report.edited_text if report.edited_text is not None else report.draft_text
    findings = session.scalars(
        select(Finding)
        .where(Finding.study_id == study.id, Finding.status.in_(("present", "uncertain")))
        .order_by(Finding.id)
    ).all()
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(study.id),
        "status": report_status(study, signed),
        "category": [RADIOLOGY],
        "code": CT_CHEST,
        "subject": {"reference": f"Patient/{study.patient_id}"},
        "imagingStudy": [{"reference": f"ImagingStudy/{study.id}"}],
        "conclusionCode": [_coding(f.abnormality) for f in findings],
    }
    if study.scored_at is not None:
        resource["issued"] = _iso(study.scored_at)
    if text or study.error:
        resource["conclusion"] = text or study.error
    if not resource["conclusionCode"]:
        del resource["conclusionCode"]
    return resource


def imaging_study(session, study: Study) -> dict[str, Any]:
    """One study as a FHIR R4 ImagingStudy (series with their instance counts)."""
    series = [
        {
            "uid": s.series_uid,
            "modality": {"system": DCM, "code": s.modality or "OT"},
            "numberOfInstances": len(s.instances),
            **({"description": s.description} if s.description else {}),
        }
        for s in study.series
    ]
    modalities = sorted({s["modality"]["code"] for s in series})
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": str(study.id),
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}],
        "status": "available",
        "subject": {"reference": f"Patient/{study.patient_id}"},
        "modality": [{"system": DCM, "code": m} for m in modalities],
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series),
        "series": series,
    }
    if len(study.study_date) == 8 and study.study_date.isdigit():
        d = study.study_date
        resource["started"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    if study.description:
        resource["description"] = study.description
    return resource


def report_bundle(db: Database, status: str | None = None) -> dict[str, Any]:
    """The worklist's DiagnosticReports as a FHIR `searchset` Bundle (worklist order)."""
    if status is not None:
        status = look_up_option(
            status, STATUSES, what="DiagnosticReport status", error=ServiceError
        )
    ids = [row["id"] for row in worklist(db, limit=1000)]
    entries = []
    with db.session() as session:
        for study_id in ids:
            resource = diagnostic_report(session, session.get(Study, study_id))
            if status is None or resource["status"] == status:
                entries.append({"fullUrl": f"DiagnosticReport/{study_id}", "resource": resource})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def fhir_router(db: Database, access: Access) -> APIRouter:
    """`/fhir/...`: read-only FHIR R4 views of the worklist (viewers)."""
    router = APIRouter(prefix="/fhir", tags=["fhir"])

    @router.get("/DiagnosticReport")
    def search_reports(
        status: str | None = None, _: Principal = Depends(access.viewer)
    ) -> dict[str, Any]:
        """A Bundle of the worklist's DiagnosticReports, optionally of one status."""
        return report_bundle(db, status)

    @router.get("/DiagnosticReport/{study_id}")
    def read_report(study_id: int, _: Principal = Depends(access.viewer)) -> dict[str, Any]:
        with db.session() as session:
            return diagnostic_report(session, get_visible_study(session, study_id))

    @router.get("/ImagingStudy/{study_id}")
    def read_study(study_id: int, _: Principal = Depends(access.viewer)) -> dict[str, Any]:
        with db.session() as session:
            return imaging_study(session, get_visible_study(session, study_id))

    return router
