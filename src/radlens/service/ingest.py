"""The one ingest path for uploads and the DICOM node.

Order of work (what makes a crash harmless): (1) every file is parsed and validated, (2) blobs are
written to the content-addressed store, (3) all rows go into the database in one transaction in
which a new study is created hidden (`visible=False`) and flipped visible as the last statement.
A failure anywhere rolls the transaction back: no half study is ever visible; orphan blobs are
harmless. Logs name studies by internal id only, never by patient name or id.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radlens.service.files import FileStore
from radlens.service.instances import InstanceMeta, parse_dicom_bytes
from radlens.service.nifti import is_nifti, nifti_meta
from radlens.service.store import (
    AuditEvent,
    Database,
    Instance,
    Patient,
    Series,
    Study,
    StudyStatus,
    utcnow,
)
from radlens.service.uploads import UploadError, UploadLimits, expand_uploads

log = logging.getLogger(__name__)
_write_lock = threading.Lock()  # serialises ingest transactions inside one process


@dataclass(frozen=True)
class StoredInstance:
    """An instance whose bytes are already in the file store."""

    sha256: str
    size: int
    meta: InstanceMeta


@dataclass
class IngestResult:
    study_ids: list[int] = field(default_factory=list)
    new_instances: int = 0
    duplicate_instances: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "study_ids": self.study_ids,
            "new_instances": self.new_instances,
            "duplicate_instances": self.duplicate_instances,
        }


def store_files(files: FileStore, items: list[tuple[bytes, InstanceMeta]]) -> list[StoredInstance]:
    """Write validated instances to the content-addressed store (step 2)."""
    return [StoredInstance(files.put_bytes(data), len(data), meta) for data, meta in items]


def _get_or_create_patient(session: Session, meta: InstanceMeta) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.patient_key == meta.patient_key))
    if patient is None:
        patient = Patient(
            patient_key=meta.patient_key,
            name=meta.patient_name,
            birth_date=meta.birth_date,
            sex=meta.sex,
        )
        session.add(patient)
        session.flush()
    return patient


def _get_or_create_study(session: Session, meta: InstanceMeta, source: str) -> Study:
    study = session.scalar(select(Study).where(Study.study_uid == meta.study_uid))
    if study is None:
        patient = _get_or_create_patient(session, meta)
        study = Study(
            study_uid=meta.study_uid,
            patient_id=patient.id,
            study_date=meta.study_date,
            description=meta.study_description,
            accession=meta.accession,
            source=source,
            visible=False,
            status=StudyStatus.PENDING,
        )
        session.add(study)
        session.flush()
    return study


def _get_or_create_series(session: Session, study: Study, meta: InstanceMeta) -> Series:
    series = session.scalar(select(Series).where(Series.series_uid == meta.series_uid))
    if series is None:
        series = Series(
            series_uid=meta.series_uid,
            study_id=study.id,
            modality=meta.modality,
            description=meta.series_description,
            kind=meta.kind,
        )
        session.add(series)
        session.flush()
    elif series.study_id != study.id:
        raise UploadError(
            f"series {meta.series_uid} already belongs to another study; refusing", 409
        )
    return series


def _add_instance(session: Session, series: Series, item: StoredInstance) -> None:
    session.add(
        Instance(
            sop_uid=item.meta.sop_uid,
            series_id=series.id,
            sha256=item.sha256,
            size=item.size,
            instance_number=item.meta.instance_number,
        )
    )


def _commit_rows(db: Database, items: list[StoredInstance], source: str) -> IngestResult:
    result = IngestResult()
    with db.session() as session:
        touched: dict[int, Study] = {}
        new_per_study: dict[int, int] = {}
        seen: set[str] = set()
        for item in items:
            meta = item.meta
            if meta.sop_uid in seen:
                result.duplicate_instances += 1
                continue
            seen.add(meta.sop_uid)
            study = _get_or_create_study(session, meta, source)
            touched[study.id] = study
            if session.scalar(select(Instance.id).where(Instance.sop_uid == meta.sop_uid)):
                result.duplicate_instances += 1
                continue
            series = _get_or_create_series(session, study, meta)
            _add_instance(session, series, item)
            new_per_study[study.id] = new_per_study.get(study.id, 0) + 1
            result.new_instances += 1
        session.flush()
        now = utcnow()
        for study_id, study in touched.items():
            added = new_per_study.get(study_id, 0)
            if added:
                study.last_instance_at = now
                if study.status != StudyStatus.PENDING:  # new images: score the study again
                    study.status = StudyStatus.PENDING
                    study.claim_token = None
            session.add(
                AuditEvent(
                    action="ingest",
                    study_id=study_id,
                    detail={"source": source, "new_instances": added},
                )
            )
        session.flush()
        for study in touched.values():  # last statement of the transaction
            study.visible = True
        result.study_ids = sorted(touched)
    return result


def commit_instances(db: Database, items: list[StoredInstance], source: str) -> IngestResult:
    """Step 3: all rows of a batch in one transaction; new studies become visible at its end."""
    if not items:
        raise UploadError("nothing to ingest: no instances", 400)
    for attempt in range(3):
        try:
            with _write_lock:
                result = _commit_rows(db, items, source)
            break
        except IntegrityError:  # another process inserted the same study/series first
            if attempt == 2:
                raise
    log.info(
        "ingested %d new instance(s) into study id(s) %s from %s",
        result.new_instances,
        result.study_ids,
        source,
    )
    return result


def ingest_dicom_files(
    db: Database, files: FileStore, uploads: list[tuple[str, bytes]], source: str = "upload"
) -> IngestResult:
    """Validate every file, then store blobs, then commit rows (all-or-nothing for the batch)."""
    parsed = [(data, parse_dicom_bytes(data, name)) for name, data in uploads]
    check_consistent([meta for _, meta in parsed])
    return commit_instances(db, store_files(files, parsed), source)


def check_consistent(parsed: list[InstanceMeta]) -> None:
    """One upload must not mix patients inside one study."""
    by_study: dict[str, str] = {}
    for meta in parsed:
        prev = by_study.setdefault(meta.study_uid, meta.patient_key)
        if prev != meta.patient_key:
            raise UploadError(
                f"study {meta.study_uid} holds instances of two different patients; refusing",
                422,
            )


def ingest_upload(
    db: Database,
    files: FileStore,
    uploads: list[tuple[str, bytes]],
    limits: UploadLimits,
    form: dict[str, str] | None = None,
) -> IngestResult:
    """`POST /studies`: DICOM files, one zip of DICOM files, or one NIfTI with form metadata."""
    expanded = expand_uploads(uploads, limits)
    form = form or {}
    niftis = [(n, d) for n, d in expanded if is_nifti(n, d)]
    if niftis:
        if len(expanded) != 1:
            raise UploadError("send one NIfTI file per upload, without other files", 422)
        name, data = niftis[0]
        meta = nifti_meta(
            data,
            name,
            patient_id=form.get("patient_id", ""),
            patient_name=form.get("patient_name", ""),
            study_uid=form.get("study_uid", ""),
            study_date=form.get("study_date", ""),
            study_description=form.get("study_description", ""),
            accession=form.get("accession", ""),
            modality=form.get("modality", "CT"),
        )
        return commit_instances(db, store_files(files, [(data, meta)]), "upload")
    return ingest_dicom_files(db, files, expanded, "upload")
