"""Patient identity at ingest: who an instance belongs to, and when to refuse it.

A patient is keyed by (IssuerOfPatientID, PatientID); a study by its StudyInstanceUID. An instance
without a PatientID gets a placeholder patient of its own study (`NOID-<StudyInstanceUID>`), never
one shared "UNKNOWN" patient. An instance whose patient identity differs from the one its study
already has is refused (`IdentityConflict`, HTTP 409 / a C-STORE processing failure) and recorded
in `identity_events`, never merged. A new name for a known patient is recorded there with the old
one before the patient's shown name changes.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from radlens.service.instances import InstanceMeta
from radlens.service.store import Database, IdentityEvent, Patient, Study
from radlens.service.uploads import UploadError

log = logging.getLogger(__name__)
PLACEHOLDER_PREFIX = "NOID-"


class IdentityConflict(UploadError):
    """An instance whose patient is not the patient of the study it names (HTTP 409)."""

    def __init__(self, message: str, meta: InstanceMeta, detail: dict[str, str]) -> None:
        super().__init__(message, 409)
        self.meta = meta
        self.detail = detail


def identity_of(meta: InstanceMeta) -> tuple[str, str, bool]:
    """(issuer, patient key, placeholder?) of an instance; no PatientID: the study's placeholder."""
    if meta.patient_key:
        return meta.issuer, meta.patient_key, False
    return meta.issuer, f"{PLACEHOLDER_PREFIX}{meta.study_uid}", True


def _describe(issuer: str, key: str, placeholder: bool) -> str:
    if placeholder:
        return "no PatientID"
    return f"PatientID {key!r}" + (f" (issuer {issuer!r})" if issuer else "")


def patient_for_new_study(session: Session, meta: InstanceMeta, source: str) -> Patient:
    """The patient a new study belongs to: found by (issuer, id) or created; a changed name of a
    known patient is recorded (old and new) in `identity_events` before it is shown."""
    issuer, key, placeholder = identity_of(meta)
    patient = session.scalar(
        select(Patient).where(Patient.issuer == issuer, Patient.patient_key == key)
    )
    if patient is None:
        patient = Patient(
            patient_key=key,
            issuer=issuer,
            placeholder=placeholder,
            name=meta.patient_name,
            birth_date=meta.birth_date,
            sex=meta.sex,
        )
        session.add(patient)
        session.flush()
        if placeholder:
            _record(session, "placeholder", patient.id, meta, source, {"patient_key": key})
        return patient
    note_name(session, patient, meta, source)
    return patient


def note_name(session: Session, patient: Patient, meta: InstanceMeta, source: str) -> None:
    """Record a new PatientName for the same patient identity, then show the new one."""
    if meta.patient_name and meta.patient_name != patient.name:
        detail = {"old_name": patient.name, "new_name": meta.patient_name}
        _record(session, "name_change", patient.id, meta, source, detail)
        log.warning("patient id %d: name changed (recorded in identity_events)", patient.id)
        patient.name = meta.patient_name


def check_study_patient(session: Session, study: Study, meta: InstanceMeta) -> None:
    """Raise `IdentityConflict` when the instance's patient is not the study's patient."""
    patient = session.get(Patient, study.patient_id)
    issuer, key, placeholder = identity_of(meta)
    if patient is None or (patient.issuer, patient.patient_key) == (issuer, key):
        return
    theirs = _describe(patient.issuer, patient.patient_key, patient.placeholder)
    mine = _describe(issuer, key, placeholder)
    message = (
        f"patient identity conflict: instance {meta.sop_uid} has {mine} but study "
        f"{meta.study_uid} belongs to {theirs}; refused, not merged"
    )
    detail = {
        "instance_identity": mine,
        "study_identity": theirs,
        "study_id": str(study.id),
        "instance_key": "none" if placeholder else key,
        "study_key": "none" if patient.placeholder else patient.patient_key,
    }
    raise IdentityConflict(message, meta, detail)


def _record(
    session: Session,
    kind: str,
    patient_id: int | None,
    meta: InstanceMeta,
    source: str,
    detail: dict[str, str],
) -> None:
    session.add(
        IdentityEvent(
            kind=kind,
            source=source,
            patient_id=patient_id,
            study_uid=meta.study_uid,
            sop_uid=meta.sop_uid,
            detail=detail,
        )
    )


def record_conflict(db: Database, conflict: IdentityConflict, source: str) -> None:
    """Log a refused conflict in its own transaction (the refused one was rolled back)."""
    with db.session() as session:
        _record(session, "conflict", None, conflict.meta, source, conflict.detail)
    log.warning(
        "refused an instance of study id %s: patient identity conflict (%s)",
        conflict.detail.get("study_id"),
        source,
    )


def identity_events(db: Database, kind: str | None = None) -> list[dict[str, object]]:
    """The identity audit (oldest first), optionally of one kind."""
    with db.session() as session:
        query = select(IdentityEvent).order_by(IdentityEvent.id)
        if kind is not None:
            query = query.where(IdentityEvent.kind == kind)
        return [
            {
                "kind": e.kind,
                "source": e.source,
                "patient_id": e.patient_id,
                "study_uid": e.study_uid,
                "sop_uid": e.sop_uid,
                "detail": dict(e.detail),
            }
            for e in session.scalars(query)
        ]
