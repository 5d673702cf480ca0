"""Send a scored study's DICOM results (SR + heatmap Parametric Maps) to a PACS by C-STORE.

`send_datasets` is one association (pynetdicom) with presentation contexts for the Comprehensive
3D SR, Parametric Map and Secondary Capture storage classes; every instance must come back
Success, else ServiceError naming the instance and the status (with the peer's Error Comment).
`ResultSender` is what the worker calls after it committed a study's scores (`radlens serve
--send-results AE@HOST:PORT`): it builds the results (`radlens.service.results_dicom`), tries
`attempts` times with a growing pause, and records the outcome as an audit event
(`results_sent` with the SOP Instance UIDs, or `results_send_failed` with the reason). It never
raises: the scores are already committed and stay whatever happens to the sending.
`ResultSender.resend_unsent` (run once at start-up, `radlens serve --send-results`) sends what a
stopped process or an unreachable PACS left unsent: every scored study with no `results_sent`
event since it was scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime

from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import (
    Comprehensive3DSRStorage,
    ParametricMapStorage,
    SecondaryCaptureImageStorage,
)
from sqlalchemy import and_, exists, select

from radlens.errors import ServiceError
from radlens.service.dicom_address import DicomAddress
from radlens.service.files import FileStore
from radlens.service.results_dicom import study_results_datasets
from radlens.service.store import AuditEvent, Database, Study, StudyStatus

log = logging.getLogger(__name__)
RESULT_SOP_CLASSES = (Comprehensive3DSRStorage, ParametricMapStorage, SecondaryCaptureImageStorage)
SENT = "results_sent"
SEND_FAILED = "results_send_failed"


def send_datasets(
    datasets: Sequence[Dataset],
    destination: DicomAddress,
    *,
    calling_ae: str = "RADLENS",
    timeout_s: float = 30.0,
) -> list[str]:
    """C-STORE `datasets` to `destination` in one association; their SOP Instance UIDs."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    for sop_class in RESULT_SOP_CLASSES:
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        raise ServiceError(
            f"C-STORE to {destination}: association refused or no answer "
            "(check the AE title, host, port, and that the PACS knows our AE title "
            f"{calling_ae!r})"
        )
    sent = []
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code != 0x0000:
                comment = getattr(status, "ErrorComment", "") if status else "no response"
                raise ServiceError(
                    f"C-STORE of {ds.SOPInstanceUID} ({ds.SOPClassUID.name}) to {destination}: "
                    f"status {code if code is None else hex(code)} {comment}".rstrip()
                )
            sent.append(str(ds.SOPInstanceUID))
    finally:
        assoc.release()
    return sent


class ResultSender:
    """The worker's after-scoring hook: build and send a study's results, with retries."""

    def __init__(
        self,
        db: Database,
        files: FileStore,
        destination: DicomAddress,
        *,
        calling_ae: str = "RADLENS",
        attempts: int = 3,
        pause_s: float = 2.0,
    ) -> None:
        self.db, self.files, self.destination = db, files, destination
        self.calling_ae = calling_ae
        self.attempts = max(1, attempts)
        self.pause_s = pause_s

    def send(self, study_id: int) -> list[str]:
        """Build and send once; the SOP Instance UIDs sent (ServiceError when it fails)."""
        datasets = study_results_datasets(self.db, self.files, study_id)
        return send_datasets(datasets, self.destination, calling_ae=self.calling_ae)

    def __call__(self, study_id: int) -> bool:
        """Send with retries; record the outcome; True when the PACS stored everything."""
        reason = ""
        for attempt in range(1, self.attempts + 1):
            try:
                sent = self.send(study_id)
            except Exception as exc:  # any failure is recorded; the scores stay committed
                reason = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "sending results of study id %d to %s failed (attempt %d/%d): %s",
                    study_id, self.destination, attempt, self.attempts, reason,
                )  # fmt: skip
                if attempt < self.attempts:
                    time.sleep(self.pause_s * attempt)
                continue
            self._record(study_id, SENT, {"destination": str(self.destination), "sop": sent})
            log.info("sent %d result instance(s) of study id %d", len(sent), study_id)
            return True
        detail = {"destination": str(self.destination), "reason": reason[:500]}
        self._record(study_id, SEND_FAILED, detail | {"attempts": self.attempts})
        return False

    def unsent(self, scored_before: datetime | None = None) -> list[int]:
        """Ids of scored studies with no `results_sent` event since they were (last) scored;
        only those scored before `scored_before` when given (so a study the running worker
        has just scored and is sending now is not sent twice)."""
        sent = exists().where(
            and_(
                AuditEvent.study_id == Study.id,
                AuditEvent.action == SENT,
                AuditEvent.at >= Study.scored_at,
            )
        )
        query = select(Study.id).where(
            Study.status == StudyStatus.SCORED, Study.scored_at.is_not(None), ~sent
        )
        if scored_before is not None:
            query = query.where(Study.scored_at < scored_before)
        with self.db.session() as session:
            return list(session.scalars(query.order_by(Study.id)))

    def resend_unsent(self, scored_before: datetime | None = None) -> int:
        """Send every `unsent` study (with retries, recorded as usual); how many reached the
        PACS."""
        pending = self.unsent(scored_before)
        if pending:
            log.info("sending the results of %d study(ies) not yet sent", len(pending))
        return sum(1 for study_id in pending if self(study_id))

    def _record(self, study_id: int, action: str, detail: dict) -> None:
        try:
            with self.db.session() as session:
                session.add(AuditEvent(action=action, study_id=study_id, detail=detail))
        except Exception:  # the database is down: the log line above is the record
            log.exception("could not record %s for study id %d", action, study_id)
