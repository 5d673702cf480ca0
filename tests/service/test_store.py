"""Store, ingest atomicity and exactly-once scoring on SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from _support.service import TinyNetScorer, write_series
from _support.service_fixtures import db_url, postgres_server  # noqa: F401  (fixtures)
from sqlalchemy import func, select, update

from radlens.errors import ServiceError
from radlens.service import ingest
from radlens.service.auth import add_user, authenticate, hash_token, list_users, revoke_tokens
from radlens.service.files import FileStore
from radlens.service.store import (
    Database,
    Instance,
    Prediction,
    Report,
    Study,
    StudyStatus,
    Token,
    migrate,
    utcnow,
)
from radlens.service.uploads import UploadError
from radlens.service.worker import Worker


@pytest.fixture
def db(db_url: str):  # noqa: F811
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "cas")


def _uploads(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def test_migrations_are_idempotent(db: Database) -> None:
    migrate(db.engine)  # second upgrade is a no-op
    with db.session() as session:
        assert session.scalar(select(func.count(Study.id))) == 0


def test_ingest_groups_instances_and_dedupes(db, files, tmp_path) -> None:
    uid, paths = write_series(tmp_path / "a", seed=1)
    result = ingest.ingest_dicom_files(db, files, _uploads(paths))
    assert result.new_instances == len(paths) and len(result.study_ids) == 1
    again = ingest.ingest_dicom_files(db, files, _uploads(paths))
    assert again.new_instances == 0 and again.duplicate_instances == len(paths)
    with db.session() as session:
        study = session.scalar(select(Study).where(Study.study_uid == uid))
        assert study.visible and study.status == StudyStatus.PENDING
        n = session.scalar(select(func.count(Instance.id)))
        shas = session.scalars(select(Instance.sha256)).all()
    assert n == len(paths)
    assert all(files.path_of(s).is_file() for s in shas)


def test_crash_mid_ingest_leaves_no_visible_study(db, files, tmp_path, monkeypatch) -> None:
    _, paths = write_series(tmp_path / "a", seed=2)
    real = ingest._add_instance
    calls = {"n": 0}

    def exploding(session, series, item):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash mid-ingest")
        real(session, series, item)

    monkeypatch.setattr(ingest, "_add_instance", exploding)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest.ingest_dicom_files(db, files, _uploads(paths))
    with db.session() as session:
        assert session.scalar(select(func.count(Study.id))) == 0
        assert session.scalar(select(func.count(Instance.id))) == 0
    monkeypatch.setattr(ingest, "_add_instance", real)
    result = ingest.ingest_dicom_files(db, files, _uploads(paths))  # a retry then works
    assert result.new_instances == len(paths)


def test_invalid_file_in_batch_stores_nothing(db, files, tmp_path) -> None:
    _, paths = write_series(tmp_path / "a", seed=3)
    uploads = [*_uploads(paths), ("notes.txt", b"this is not DICOM")]
    with pytest.raises(UploadError, match=r"notes\.txt: not a DICOM file"):
        ingest.ingest_dicom_files(db, files, uploads)
    with db.session() as session:
        assert session.scalar(select(func.count(Study.id))) == 0
    assert not [p for p in files.root.rglob("*") if p.is_file()]  # validated before writing


def test_injection_strings_are_stored_verbatim(db, files, tmp_path) -> None:
    evil = "Robert'); DROP TABLE studies;--"
    _, paths = write_series(
        tmp_path / "a", seed=4, patient_name=evil, study_description="<script>alert(1)</script>"
    )
    ingest.ingest_dicom_files(db, files, _uploads(paths))
    with db.session() as session:
        study = session.scalar(select(Study))
        assert study.patient.name == evil
        assert study.description == "<script>alert(1)</script>"


def _worker(db, files, scorer=None, **kw) -> Worker:
    return Worker(db, files, scorer or TinyNetScorer(), completion_timeout_s=0, **kw)


def test_worker_scores_each_study_exactly_once(db, files, tmp_path) -> None:
    for i in range(3):
        _, paths = write_series(tmp_path / f"s{i}", seed=10 + i, patient_id=f"P{i}")
        ingest.ingest_dicom_files(db, files, _uploads(paths))
    scorer = TinyNetScorer()
    worker = _worker(db, files, scorer)
    assert worker.run_once() == 3
    assert worker.run_once() == 0
    assert scorer.calls == 3
    with db.session() as session:
        studies = session.scalars(select(Study)).all()
        assert {s.status for s in studies} == {StudyStatus.SCORED}
        assert {s.n_scorings for s in studies} == {1}
        assert session.scalar(select(func.count(Prediction.id))) == 3 * len(scorer.names)
        assert all(r.draft_text.startswith("FINDINGS") for r in session.scalars(select(Report)))


def test_completion_timeout_waits_for_quiet_series(db, files, tmp_path) -> None:
    _, paths = write_series(tmp_path / "a", seed=5)
    ingest.ingest_dicom_files(db, files, _uploads(paths))
    worker = Worker(db, files, TinyNetScorer(), completion_timeout_s=3600)
    assert worker.claim_next() is None  # instances just arrived: not complete yet
    with db.session() as session:
        session.execute(update(Study).values(last_instance_at=utcnow() - timedelta(hours=2)))
    assert worker.claim_next() is not None


def test_claim_left_by_crash_is_recovered_once(db, files, tmp_path) -> None:
    _, paths = write_series(tmp_path / "a", seed=6)
    ingest.ingest_dicom_files(db, files, _uploads(paths))
    crashed = _worker(db, files)
    study_id, _token = crashed.claim_next()  # claimed, then the process "dies"
    fresh = _worker(db, files)
    assert fresh.claim_next() is None  # still claimed within the lease
    assert fresh.recover() == 1  # start-up of the next process re-queues it
    assert fresh.run_once() == 1
    with db.session() as session:
        study = session.get(Study, study_id)
        assert study.status == StudyStatus.SCORED and study.n_scorings == 1


def test_lost_claim_drops_results(db, files, tmp_path) -> None:
    _, paths = write_series(tmp_path / "a", seed=7)
    ingest.ingest_dicom_files(db, files, _uploads(paths))
    slow = _worker(db, files, claim_lease_s=0.001)
    study_id, token = slow.claim_next()
    fast = _worker(db, files, claim_lease_s=0.001)
    assert fast.run_once() == 1  # lease expired: another worker takes and finishes it
    assert slow.process(study_id, token) is False  # the first worker's commit is refused
    with db.session() as session:
        assert session.get(Study, study_id).n_scorings == 1
        n_preds = session.scalar(select(func.count(Prediction.id)))
    assert n_preds == len(TinyNetScorer().names)


def test_new_instances_after_scoring_requeue_the_study(db, files, tmp_path) -> None:
    _uid, paths = write_series(tmp_path / "a", seed=8)
    ingest.ingest_dicom_files(db, files, _uploads(paths[:4]))
    worker = _worker(db, files)
    worker.run_once()
    ingest.ingest_dicom_files(db, files, _uploads(paths[4:]))
    with db.session() as session:
        assert session.scalar(select(Study.status)) == StudyStatus.PENDING
    worker.run_once()
    with db.session() as session:
        study = session.scalar(select(Study))
        assert study.status == StudyStatus.SCORED and study.n_scorings == 2


def test_failed_volume_marks_study_failed(db, files, tmp_path) -> None:
    _, paths = write_series(tmp_path / "a", seed=9)
    ingest.ingest_dicom_files(db, files, _uploads(paths))

    def broken_loader(path):
        raise ValueError("cannot decode")

    worker = _worker(db, files, loader=broken_loader)
    assert worker.run_once() == 1
    with db.session() as session:
        study = session.scalar(select(Study))
        assert study.status == StudyStatus.FAILED and "cannot decode" in study.error


def test_tokens_are_stored_hashed_and_revocable(db) -> None:
    token = add_user(db, "dr.who", "radiologist")
    with db.session() as session:
        stored = session.scalars(select(Token.token_hash)).all()
    assert token not in stored and hash_token(token) in stored
    assert authenticate(db, f"Bearer {token}").name == "dr.who"
    assert list_users(db)[0]["tokens"] == 1
    with pytest.raises(ServiceError, match="did you mean 'radiologist'"):
        add_user(db, "x", "radiolgist")
    assert revoke_tokens(db, "dr.who") == 1
    with pytest.raises(ServiceError, match="revoked"):
        authenticate(db, f"Bearer {token}")
