"""Background scoring of complete studies, exactly once.

A study is complete when it is visible and no instance arrived for `completion_timeout_s` (the PACS
rule). The worker claims it with a conditional UPDATE (pending -> scoring, with a random claim
token); the results are committed together with scoring -> scored in one transaction that only
succeeds while the claim token is still ours. A claim left by a crash is taken back at start-up
(`recover`) or after `claim_lease_s`, so every study is scored and none twice.

With `fitness` rules (`radlens.data.FitnessRules`), the loaded volume is checked before scoring:
a study that is not a plausible chest CT (modality, body part, slices, coverage, spacing,
orientation, HU range) is marked `not_scorable` with the reasons and is never ranked by a score.
A study marked `incomplete` (its sender aborted the association) is not claimed.

With a `segmenter` (`radlens.deploy.SegmentationScorer` or `LesionFinders`, `radlens serve --seg-run
DIR --detector-run DIR`), the same volume's lesion candidates are committed with the scores (rows +
their label-volume blob, see `radlens.service.lesions`), and the draft report states their
measured diameters; a finding a detector scores at study level takes the detector's score in place
of the classifier's (`with_lesion_scores`), for the triage, the draft and the stored predictions;
the candidates are still located (lobe) by the classifier's own outputs.
"""

from __future__ import annotations

import io
import logging
import secrets
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, or_, select, update

from radlens.data import FitnessRules, fitness_problems
from radlens.data.volumes import load_volume
from radlens.errors import NotScorableError, RadlensError
from radlens.service.failures import failure_reason
from radlens.service.files import SCORE_TMP_PREFIX, FileStore
from radlens.service.lesions import lesion_blob, lesion_rows, with_lesion_scores
from radlens.service.scoring import Scorer
from radlens.service.store import (
    UNSCORED_RANK,
    AuditEvent,
    Database,
    Finding,
    Heatmap,
    Instance,
    Lesion,
    LesionMask,
    Prediction,
    Report,
    Series,
    Study,
    StudyStatus,
    utcnow,
)
from radlens.service.triage import draft_report, triage_predictions

log = logging.getLogger(__name__)


def default_loader(path: Path) -> Any:
    """The study's volume from what `materialise_series` linked (`radlens.data.volumes.io`)."""
    return load_volume(path)


def materialise_series(db: Database, files: FileStore, study_id: int, out_dir: Path) -> Path:
    """Link the largest series of a study into `out_dir`; return what `load_volume` reads."""
    with db.session() as session:
        series_rows = session.scalars(select(Series).where(Series.study_id == study_id)).all()
        best: tuple[int, Series, list[Instance]] | None = None
        for series in series_rows:
            inst = session.scalars(select(Instance).where(Instance.series_id == series.id)).all()
            if best is None or len(inst) > best[0]:
                best = (len(inst), series, list(inst))
    if best is None or best[0] == 0:
        raise RadlensError(f"study id {study_id} has no instances to score")
    _, series, instances = best
    if series.kind == "nifti":
        target = out_dir / "volume.nii.gz"
        data = files.read_bytes(instances[0].sha256)
        if data[:2] != b"\x1f\x8b":
            target = out_dir / "volume.nii"
        target.symlink_to(files.path_of(instances[0].sha256))
        return target
    folder = out_dir / "series"
    folder.mkdir()
    for inst in instances:
        (folder / f"{inst.id}.dcm").symlink_to(files.path_of(inst.sha256))
    return folder


def _eligible(now, timeout_s: float, lease_s: float):
    complete_before = now - timedelta(seconds=timeout_s)
    lease_before = now - timedelta(seconds=lease_s)
    return and_(
        Study.visible.is_(True),
        Study.incomplete.is_(False),  # an aborted association's study waits to be completed
        or_(
            and_(Study.status == StudyStatus.PENDING, Study.last_instance_at <= complete_before),
            and_(Study.status == StudyStatus.SCORING, Study.claimed_at <= lease_before),
        ),
    )


class Worker:
    """Claims complete studies, scores them, stores the results; one thread."""

    def __init__(
        self,
        db: Database,
        files: FileStore,
        scorer: Scorer,
        *,
        completion_timeout_s: float = 10.0,
        claim_lease_s: float = 900.0,
        poll_s: float = 1.0,
        threshold: float = 0.5,
        loader=default_loader,
        on_scored=None,
        fitness: FitnessRules | None = None,
        segmenter=None,
    ) -> None:
        self.db, self.files, self.scorer = db, files, scorer
        self.completion_timeout_s = completion_timeout_s
        self.claim_lease_s = claim_lease_s
        self.poll_s = poll_s
        self.threshold = threshold
        self.loader = loader
        self.fitness = fitness  # None: no fitness check before scoring
        self.segmenter = segmenter  # None: no lesion candidates
        # called with the study id after its scores are committed (e.g. `ResultSender`)
        self.on_scored = on_scored
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def recover(self) -> int:
        """At start-up: release claims a crashed process left behind (single-server setup)."""
        with self.db.session() as session:
            result = session.execute(
                update(Study)
                .where(Study.status == StudyStatus.SCORING)
                .values(status=StudyStatus.PENDING, claim_token=None, claimed_at=None)
            )
            n = result.rowcount or 0
        if n:
            log.info("re-queued %d study claim(s) left by an earlier run", n)
        return n

    def claim_next(self) -> tuple[int, str] | None:
        """Claim one complete study; (study id, claim token) or None."""
        now = utcnow()
        cond = _eligible(now, self.completion_timeout_s, self.claim_lease_s)
        with self.db.session() as session:
            ids = session.scalars(
                select(Study.id).where(cond).order_by(Study.received_at, Study.id).limit(8)
            ).all()
        for study_id in ids:
            token = secrets.token_hex(16)
            with self.db.session() as session:
                result = session.execute(
                    update(Study)
                    .where(Study.id == study_id, cond)
                    .values(status=StudyStatus.SCORING, claim_token=token, claimed_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    return study_id, token
        return None

    def _score(self, study_id: int) -> tuple[list, dict[str, np.ndarray], Any]:
        with tempfile.TemporaryDirectory(prefix=SCORE_TMP_PREFIX) as tmp:
            volume = self.loader(materialise_series(self.db, self.files, study_id, Path(tmp)))
            problems = [] if self.fitness is None else fitness_problems(volume, self.fitness)
            if problems:
                raise NotScorableError("not scorable", problems)
            predictions = list(self.scorer.score(volume))
            heatmaps = (
                dict(self.scorer.heatmaps(volume)) if hasattr(self.scorer, "heatmaps") else {}
            )
            lesions = None if self.segmenter is None else self.segmenter.lesions(volume)
        return predictions, heatmaps, lesions

    def _store_heatmaps(self, heatmaps: dict[str, np.ndarray]) -> dict[str, str]:
        out = {}
        for abnormality, array in heatmaps.items():
            buf = io.BytesIO()
            np.save(buf, np.clip(np.asarray(array, np.float32), 0, 1).astype(np.float16))
            out[abnormality] = self.files.put_bytes(buf.getvalue())
        return out

    def process(self, study_id: int, token: str) -> bool:
        """Score one claimed study and commit; False when the claim was lost meanwhile."""
        try:
            located, heatmaps, lesions = self._score(study_id)
            predictions = with_lesion_scores(located, lesions)  # a detector's study scores
            result = triage_predictions(predictions, self.threshold)
            blobs = self._store_heatmaps(heatmaps)
            mask_sha = None if lesions is None else lesion_blob(self.files, lesions)
        except NotScorableError as exc:  # not a chest CT: never ranked by a score
            log.info("study id %d is not scorable: %s", study_id, "; ".join(exc.reasons))
            reason = "not scorable: " + "; ".join(exc.reasons)
            return self._finish_failed(study_id, token, reason, StudyStatus.NOT_SCORABLE)
        except Exception as exc:  # a bad volume or a broken model fails this study only
            log.warning("scoring study id %d failed: %s", study_id, exc, exc_info=True)
            return self._finish_failed(study_id, token, f"{type(exc).__name__}: {exc}")
        version = str(getattr(self.scorer, "model_version", "unknown"))
        with self.db.session() as session:
            claimed = session.execute(
                update(Study)
                .where(
                    Study.id == study_id,
                    Study.claim_token == token,
                    Study.status == StudyStatus.SCORING,
                )
                .values(
                    status=StudyStatus.SCORED,
                    claim_token=None,
                    scored_at=utcnow(),
                    n_scorings=Study.n_scorings + 1,
                    model_version=version,
                    urgency_rank=result.urgency_rank,
                    top_score=result.top_score,
                    top_abnormality=result.top_abnormality,
                    error="",
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                session.rollback()
                log.warning("claim on study id %d was lost; results dropped", study_id)
                return False
            for table in (Prediction, Finding, Heatmap, Lesion, LesionMask):
                session.execute(delete(table).where(table.study_id == study_id))
            self._add_lesions(session, study_id, lesions, mask_sha, located)
            session.add_all(
                Prediction(
                    study_id=study_id,
                    abnormality=p.abnormality,
                    location=p.location,
                    score=float(p.score),
                    model_version=version,
                )
                for p in predictions
            )
            session.add_all(
                Finding(
                    study_id=study_id,
                    abnormality=f.abnormality,
                    location=f.location,
                    status=f.status,
                    score=f.score,
                    urgency=f.urgency,
                )
                for f in result.findings
            )
            session.add_all(
                Heatmap(study_id=study_id, abnormality=a, sha256=s) for a, s in blobs.items()
            )
            measured = [] if lesions is None else lesions.lesions
            self._draft(session, study_id, draft_report(predictions, self.threshold, measured))
            session.add(
                AuditEvent(
                    action="scored",
                    study_id=study_id,
                    detail={"model_version": version, "n_predictions": len(predictions)},
                )
            )
        self._after_scored(study_id, result.urgency_rank)
        return True

    @staticmethod
    def _draft(session, study_id: int, text: str) -> None:
        """The study's draft report text (a signed report is left as it is)."""
        report = session.scalar(select(Report).where(Report.study_id == study_id))
        if report is None:
            session.add(Report(study_id=study_id, draft_text=text))
        elif report.signed_at is None:
            report.draft_text = text

    def _add_lesions(self, session, study_id: int, lesions, mask_sha, predictions) -> None:
        """The segmentation run's candidates and their label volume, in the scoring's
        transaction (nothing without a segmenter)."""
        if lesions is None:
            return
        version = str(getattr(self.segmenter, "model_version", "unknown"))
        session.add_all(lesion_rows(study_id, lesions, predictions, self.threshold, version))
        if mask_sha is not None:
            session.add(LesionMask(study_id=study_id, sha256=mask_sha))

    def _after_scored(self, study_id: int, urgency_rank: int) -> None:
        """Log the committed scoring, then run `on_scored`: a failing hook logs, never undoes
        the scores."""
        log.info("scored study id %d (urgency rank %d)", study_id, urgency_rank)
        if self.on_scored is not None:
            try:
                self.on_scored(study_id)
            except Exception:
                log.exception("after-scoring hook failed for study id %d", study_id)

    def _finish_failed(
        self, study_id: int, token: str, message: str, status=StudyStatus.FAILED
    ) -> bool:
        """Mark the study failed (or `not_scorable`) and back to the unscored state (rank, top
        score and the predictions, findings and heatmaps of an earlier scoring cleared), so the
        worklist puts it after the scored studies; the stored error is a short reason without
        file paths."""
        failed = status == StudyStatus.FAILED
        with self.db.session() as session:
            result = session.execute(
                update(Study)
                .where(Study.id == study_id, Study.claim_token == token)
                .values(
                    status=status,
                    claim_token=None,
                    error=failure_reason(message),
                    urgency_rank=UNSCORED_RANK,
                    top_score=None,
                    top_abnormality="",
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                for table in (Prediction, Finding, Heatmap, Lesion, LesionMask):
                    session.execute(delete(table).where(table.study_id == study_id))
            action = "scoring_failed" if failed else "not_scorable"
            session.add(AuditEvent(action=action, study_id=study_id, detail={}))
            return result.rowcount == 1

    def run_once(self) -> int:
        """Score every study that is complete now; return how many were scored or failed."""
        n = 0
        while not self._stop.is_set() and (claim := self.claim_next()) is not None:
            self.process(*claim)
            n += 1
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep the thread alive across database hiccups
                log.exception("worker iteration failed; retrying")
            self._stop.wait(self.poll_s)

    def start(self) -> None:
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="radlens-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
