"""The one ingest path for uploads and the DICOM node.

Order of work (what makes a crash harmless): (1) every file is parsed and validated, (2) blobs are
written to the content-addressed store (fsynced), (3) all rows of the batch (an upload, or one
C-STORE instance) go into the database in one transaction in which a new study is created hidden
(`visible=False`) and flipped visible as the last statement. A failure anywhere rolls the
transaction back: no half batch is ever visible; orphan blobs are removed at start-up
(`reconcile_store`). Patient identity rules: `radlens.service.identity`. Logs name studies by
internal id only, never by patient name or id.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from radlens.service.files import FileStore
from radlens.service.identity import (
    IdentityConflict,
    check_study_patient,
    identity_of,
    note_name,
    patient_for_new_study,
    record_conflict,
)
from radlens.service.instances import InstanceMeta, parse_dicom_bytes
from radlens.service.nifti import is_nifti, nifti_meta
from radlens.service.store import (
    AuditEvent,
    Base,
    Database,
    Instance,
    Series,
    Study,
    StudyStatus,
    utcnow,
)
from radlens.service.uploads import UploadError, UploadLimits, expand_uploads

log = logging.getLogger(__name__)
#: an unreferenced blob younger than this may belong to a batch another process is committing
ORPHAN_MIN_AGE_S = 5.0
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


def _get_or_create_study(session: Session, meta: InstanceMeta, source: str) -> Study:
    """The instance's study; an existing one must belong to the instance's patient."""
    study = session.scalar(select(Study).where(Study.study_uid == meta.study_uid))
    if study is None:
        patient = patient_for_new_study(session, meta, source)
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
    else:
        check_study_patient(session, study, meta)
        note_name(session, study.patient, meta, source)
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


def _commit_rows(
    db: Database, items: list[StoredInstance], source: str, audit: bool, receiving: bool = False
) -> IngestResult:
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
            if not audit:
                continue
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
            if receiving:  # an association is still sending: not scored until its release
                study.incomplete = True
        result.study_ids = sorted(touched)
    return result


def commit_instances(
    db: Database,
    items: list[StoredInstance],
    source: str,
    *,
    audit: bool = True,
    receiving: bool = False,
) -> IngestResult:
    """Step 3: all rows of a batch in one transaction; new studies become visible at its end.
    An instance whose patient conflicts with its study's refuses the whole batch
    (`IdentityConflict`, recorded in `identity_events`). `audit=False` (the DICOM node, which
    commits each instance and audits per association) writes no `ingest` audit events.
    `receiving=True` (the DICOM node) marks the studies incomplete until their association is
    released (`finish_association`): a study is never scored half-received, also after a crash
    in mid-association (the mark stays until a later association completes it, or a rescore)."""
    if not items:
        raise UploadError("nothing to ingest: no instances", 400)
    for attempt in range(3):
        try:
            with _write_lock:
                result = _commit_rows(db, items, source, audit, receiving)
            break
        except IdentityConflict as conflict:
            record_conflict(db, conflict, source)
            raise
        except IntegrityError:  # another process inserted the same study/series first
            if attempt == 2:
                raise
    log.log(
        logging.INFO if audit else logging.DEBUG,
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
    """One upload must not mix patients inside one study (409, like a conflict with the store)."""
    by_study: dict[str, tuple[str, str, bool]] = {}
    for meta in parsed:
        prev = by_study.setdefault(meta.study_uid, identity_of(meta))
        if prev != identity_of(meta):
            raise UploadError(
                f"patient identity conflict: study {meta.study_uid} holds instances of two "
                "different patients in one upload; refused",
                409,
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


def _referenced_blobs(session: Session) -> set[str]:
    """Every digest a table row points at (each table's `sha256` column)."""
    refs: set[str] = set()
    for table in Base.metadata.sorted_tables:
        if "sha256" in table.c:
            refs.update(session.scalars(select(table.c.sha256)).all())
    return refs


def reconcile_store(db: Database, files: FileStore) -> dict[str, int]:
    """Start-up sweep of files against the index. A blob no row points at was written by a
    process that died before its commit, so it was never acknowledged: it is removed when older than
    `ORPHAN_MIN_AGE_S` (a younger one may belong to a batch another process, e.g. `radlens fetch
    --ingest`, is about to commit). An instance row whose file is gone is
    flagged (`Instance.file_missing`) and logged; a flag whose file is back is cleared."""
    cutoff = time.time() - ORPHAN_MIN_AGE_S
    on_disk = {p.name: p for p in files.blobs()}
    with db.session() as session:
        refs = _referenced_blobs(session)
        missing = [
            i
            for i, sha in session.execute(select(Instance.id, Instance.sha256))
            if sha not in on_disk
        ]
        session.execute(
            update(Instance)
            .values(file_missing=False)
            .where(Instance.file_missing.is_(True), Instance.id.not_in(missing))
        )
        if missing:
            session.execute(
                update(Instance).where(Instance.id.in_(missing)).values(file_missing=True)
            )
    removed = 0
    for digest, path in on_disk.items():
        if digest in refs:
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError as exc:  # removed meanwhile, or no permission
            log.warning("cannot remove orphan blob %s: %s", path, exc)
    if removed or missing:
        log.warning(
            "store reconciled: removed %d orphan blob(s) (never acknowledged); %d instance "
            "row(s) have no file (flagged file_missing)",
            removed,
            len(missing),
        )
    return {"orphans_removed": removed, "rows_without_file": len(missing)}


def finish_association(db: Database, study_ids: list[int], new_instances: int, *, complete: bool):
    """The end of a DICOM association that stored into `study_ids`: a released one clears their
    `incomplete` mark, one that ended otherwise (A-ABORT, dropped connection) sets it."""
    with db.session() as session:
        session.execute(
            update(Study).where(Study.id.in_(study_ids)).values(incomplete=not complete)
        )
        session.add_all(
            AuditEvent(
                action="ingest" if complete else "ingest_incomplete",
                study_id=study_id,
                detail={"source": "dicom", "association_new_instances": new_instances},
            )
            for study_id in study_ids
        )
    if not complete:
        log.warning("association aborted: study id(s) %s marked incomplete", study_ids)
