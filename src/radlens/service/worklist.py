"""Typed read/write functions behind the API: worklist, study detail, reports, audit trail.

Route handlers call only these. Studies are reachable only when visible (fully committed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, nulls_last, select

from radlens.core import look_up_option
from radlens.errors import ServiceError
from radlens.reports import NO_FINDING, NO_FINDING_RANK, URGENCY_LEVELS, URGENCY_RANK
from radlens.service.auth import Principal
from radlens.service.failures import failure_reason
from radlens.service.store import (
    MAX_ROW_ID,
    UNSCORED_RANK,
    AuditEvent,
    Database,
    Finding,
    Heatmap,
    Instance,
    Lesion,
    Patient,
    Prediction,
    Report,
    Series,
    Study,
    StudyStatus,
    User,
    utcnow,
    valid_row_id,
)
from radlens.service.triage import size_text

RANK_NAME = dict(enumerate(URGENCY_LEVELS)) | {
    NO_FINDING_RANK: NO_FINDING,
    UNSCORED_RANK: "unscored",
}
MAX_REPORT_CHARS = 50_000


class NotFoundError(ServiceError):
    status_code = 404


class ConflictError(ServiceError):
    status_code = 409


def _finding_order(f: Finding) -> tuple[int, float]:
    """Most urgent first, then the highest score."""
    return URGENCY_RANK.get(f.urgency, NO_FINDING_RANK), -(f.score or 0)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _study_summary(study: Study, patient: Patient, n_instances: int) -> dict[str, Any]:
    return {
        "id": study.id,
        "study_uid": study.study_uid,
        "patient_name": patient.name,
        "patient_id": patient.patient_key,
        "study_date": study.study_date,
        "description": study.description,
        "accession": study.accession,
        "source": study.source,
        "status": study.status.value,
        "urgency": RANK_NAME.get(study.urgency_rank, NO_FINDING),
        "urgency_rank": study.urgency_rank,
        "top_abnormality": study.top_abnormality,
        "top_score": study.top_score,
        "model_version": study.model_version,
        "received_at": _iso(study.received_at),
        "scored_at": _iso(study.scored_at),
        "n_instances": n_instances,
        "incomplete": study.incomplete,
        "patient_placeholder": patient.placeholder,
        "issuer": patient.issuer,
        "error": study.error if study.status == StudyStatus.NOT_SCORABLE else "",
    }


def worklist(db: Database, *, limit: int = 200, status: str | None = None) -> list[dict]:
    """Visible studies: most urgent present finding first, then top model score, then arrival;
    `top_size`: the longest axial diameter of the top finding's largest lesion candidate."""
    counts = (
        select(Series.study_id, func.count(Instance.id).label("n"))
        .join(Instance, Instance.series_id == Series.id)
        .group_by(Series.study_id)
        .subquery()
    )
    # the largest measured candidate of the top finding (segmentation or detector run), if any
    sizes = (
        select(Lesion.study_id, Lesion.finding, func.max(Lesion.diameter_mm).label("mm"))
        .where(Lesion.measured.is_(True))
        .group_by(Lesion.study_id, Lesion.finding)
        .subquery()
    )
    query = (
        select(Study, Patient, func.coalesce(counts.c.n, 0), sizes.c.mm)
        .join(Patient, Patient.id == Study.patient_id)
        .outerjoin(counts, counts.c.study_id == Study.id)
        .outerjoin(
            sizes, and_(sizes.c.study_id == Study.id, sizes.c.finding == Study.top_abnormality)
        )
        .where(Study.visible.is_(True))
    )
    if status is not None:
        names = [s.value for s in StudyStatus]
        chosen = look_up_option(status, names, what="status", error=ServiceError)
        query = query.where(Study.status == StudyStatus(chosen))
    query = query.order_by(
        Study.urgency_rank, nulls_last(Study.top_score.desc()), Study.received_at, Study.id
    ).limit(max(1, min(limit, 1000)))
    with db.session() as session:
        return [
            _study_summary(s, p, n)
            | {"top_size": size_text(s.top_abnormality, mm) if mm is not None else ""}
            for s, p, n, mm in session.execute(query).all()
        ]


def get_visible_study(session, study_id: int) -> Study:
    """The visible study `study_id`; NotFoundError (404) for an unknown, hidden or out-of-range
    id (every route taking a study id comes here before any other query uses it)."""
    if not valid_row_id(study_id):
        raise NotFoundError(f"no study with id {study_id}: study ids run from 1 to {MAX_ROW_ID}")
    study = session.get(Study, study_id)
    if study is None or not study.visible:
        raise NotFoundError(f"no study with id {study_id}")
    return study


def heatmap_key(abnormality: str, location: str | None, keys) -> str | None:
    """The heatmap shown for a finding: its located map ('mass@right_upper_lobe') when the
    scorer gave one, else the abnormality's map, else None."""
    located = f"{abnormality}@{location}" if location else None
    if located is not None and located in keys:
        return located
    return abnormality if abnormality in keys else None


def study_detail(db: Database, study_id: int, principal: Principal) -> dict[str, Any]:
    """Summary, series, predictions, findings, heatmaps and report state of one study."""
    with db.session() as session:
        study = get_visible_study(session, study_id)
        series = []
        n_total = 0
        for s in session.scalars(select(Series).where(Series.study_id == study_id)):
            n = session.scalar(select(func.count(Instance.id)).where(Instance.series_id == s.id))
            n_total += n or 0
            series.append(
                {
                    "id": s.id,
                    "series_uid": s.series_uid,
                    "description": s.description,
                    "modality": s.modality,
                    "kind": s.kind,
                    "n_instances": n,
                }
            )
        preds = session.scalars(
            select(Prediction)
            .where(Prediction.study_id == study_id)
            .order_by(Prediction.score.desc())
        ).all()
        findings = session.scalars(select(Finding).where(Finding.study_id == study_id)).all()
        heatmaps = session.scalars(
            select(Heatmap.abnormality).where(Heatmap.study_id == study_id)
        ).all()
        out = _study_summary(study, study.patient, n_total)
        failed = study.status == StudyStatus.FAILED
        out |= {
            "error": failure_reason(study.error) if study.error else "",
            # the viewer shows this instead of the images when scoring failed
            "scoring_failed": failed,
            "series": series,
            "predictions": [
                {
                    "abnormality": p.abnormality,
                    "location": p.location,
                    "score": p.score,
                    "model_version": p.model_version,
                }
                for p in preds
            ],
            "findings": [
                {
                    "abnormality": f.abnormality,
                    "location": f.location,
                    "status": f.status,
                    "score": f.score,
                    "urgency": f.urgency,
                    "heatmap": heatmap_key(f.abnormality, f.location, heatmaps),
                }
                for f in sorted(findings, key=_finding_order)
            ],
            "heatmaps": sorted(heatmaps),
        }
        session.add(
            AuditEvent(
                user_id=principal.user_id, action="study_viewed", study_id=study_id, detail={}
            )
        )
        return out


def _report_dict(report: Report | None, study_id: int, session) -> dict[str, Any]:
    if report is None:
        return {
            "study_id": study_id,
            "draft_text": "",
            "edited_text": None,
            "text": "",
            "signed": False,
            "signed_by": None,
            "signed_at": None,
            "updated_at": None,
        }
    signer = session.get(User, report.signed_by) if report.signed_by else None
    return {
        "study_id": study_id,
        "draft_text": report.draft_text,
        "edited_text": report.edited_text,
        "text": report.edited_text if report.edited_text is not None else report.draft_text,
        "signed": report.signed_at is not None,
        "signed_by": signer.name if signer else None,
        "signed_at": _iso(report.signed_at),
        "updated_at": _iso(report.updated_at),
    }


def get_report(db: Database, study_id: int) -> dict[str, Any]:
    with db.session() as session:
        get_visible_study(session, study_id)
        report = session.scalar(select(Report).where(Report.study_id == study_id))
        return _report_dict(report, study_id, session)


def _open_report(session, study_id: int) -> Report:
    get_visible_study(session, study_id)
    report = session.scalar(select(Report).where(Report.study_id == study_id))
    if report is None:
        report = Report(study_id=study_id, draft_text="")
        session.add(report)
        session.flush()
    if report.signed_at is not None:
        raise ConflictError(f"report of study {study_id} is signed; it can no longer change")
    return report


def edit_report(db: Database, study_id: int, text: str, principal: Principal) -> dict[str, Any]:
    """Store the radiologist's edited text (the model draft is kept beside it)."""
    if len(text) > MAX_REPORT_CHARS:
        raise ServiceError(f"report text has {len(text)} characters; limit {MAX_REPORT_CHARS}")
    with db.session() as session:
        report = _open_report(session, study_id)
        report.edited_text = text
        report.updated_at = utcnow()
        report.updated_by = principal.user_id
        session.add(
            AuditEvent(
                user_id=principal.user_id,
                action="report_edited",
                study_id=study_id,
                detail={"chars": len(text)},
            )
        )
        session.flush()
        return _report_dict(report, study_id, session)


def sign_report(db: Database, study_id: int, principal: Principal) -> dict[str, Any]:
    """Sign the current text; afterwards the report is read-only."""
    with db.session() as session:
        report = _open_report(session, study_id)
        if report.edited_text is None:
            report.edited_text = report.draft_text
        if not report.edited_text.strip():
            raise ConflictError(f"report of study {study_id} is empty; write it before signing")
        report.signed_by = principal.user_id
        report.signed_at = utcnow()
        session.add(
            AuditEvent(
                user_id=principal.user_id,
                action="report_signed",
                study_id=study_id,
                detail={"chars": len(report.edited_text)},
            )
        )
        session.flush()
        return _report_dict(report, study_id, session)


def rescore(db: Database, study_id: int, principal: Principal) -> dict[str, Any]:
    """Queue a study for scoring again (also an `incomplete` or `not_scorable` one): back to
    pending with its incomplete mark cleared; audited. A study being scored is left alone."""
    with db.session() as session:
        study = get_visible_study(session, study_id)
        if study.status == StudyStatus.SCORING:
            raise ConflictError(f"study {study_id} is being scored now; try again later")
        study.status, study.incomplete, study.claim_token = StudyStatus.PENDING, False, None
        session.add(
            AuditEvent(action="rescore", study_id=study_id, user_id=principal.user_id, detail={})
        )
        return {"id": study_id, "status": StudyStatus.PENDING.value}


def audit_trail(db: Database, *, study_id: int | None = None, limit: int = 500) -> list[dict]:
    query = select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.user_id)
    if study_id is not None:
        if not valid_row_id(study_id):
            return []  # no event names a study id the database cannot hold
        query = query.where(AuditEvent.study_id == study_id)
    query = query.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 5000)))
    with db.session() as session:
        return [
            {
                "id": e.id,
                "at": _iso(e.at),
                "user": name,
                "action": e.action,
                "study_id": e.study_id,
                "detail": e.detail,
            }
            for e, name in session.execute(query).all()
        ]


def counts(db: Database) -> dict[str, int]:
    """Studies per status (visible only) for /health and the load test."""
    with db.session() as session:
        rows = session.execute(
            select(Study.status, func.count(Study.id))
            .where(Study.visible.is_(True))
            .group_by(Study.status)
        ).all()
    return {status.value: n for status, n in rows}
