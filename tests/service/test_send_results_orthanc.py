"""Results back to the PACS: the worker scores a study, C-STOREs its SR + Parametric Map to a
real Orthanc, and they are read back over Orthanc's REST API (pydicom) and with dcmtk's dsrdump."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pydicom
import pytest
from _support.orthanc import http_bytes, orthanc_server
from _support.service import TinyNetScorer, write_series
from _support.service_fixtures import free_port, need_program
from sqlalchemy import select

from radlens.cli import main
from radlens.errors import ConfigError
from radlens.service.app import Services
from radlens.service.dicom_address import DicomAddress, parse_dicom_address
from radlens.service.ingest import ingest_dicom_files
from radlens.service.send_results import SEND_FAILED, SENT, ResultSender
from radlens.service.settings import Settings
from radlens.service.store import AuditEvent, Study, StudyStatus
from radlens.service.worker import Worker

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
PM_CLASS = "1.2.840.10008.5.1.4.1.1.30"


@pytest.fixture
def services(tmp_path: Path):
    built = Services.build(Settings(service_dir=tmp_path / "svc", enable_dicom=False))
    yield built
    built.db.dispose()


def _ingest(services: Services, tmp_path: Path) -> tuple[int, str, list[Path]]:
    uid, paths = write_series(tmp_path / "series", seed=5)
    result = ingest_dicom_files(
        services.db, services.files, [(p.name, p.read_bytes()) for p in paths]
    )
    return result.study_ids[0], uid, paths


def _events(services: Services, study_id: int) -> list[AuditEvent]:
    with services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id)))


@pytest.mark.integration
def test_scored_study_results_round_trip_through_orthanc(services, tmp_path: Path) -> None:
    dsrdump = need_program("dsrdump", "dcmtk")
    study_id, uid, paths = _ingest(services, tmp_path)
    with orthanc_server(tmp_path) as orthanc:
        sender = ResultSender(
            services.db, services.files, DicomAddress("ORTHANC", "127.0.0.1", orthanc.dicom_port)
        )
        worker = Worker(
            services.db, services.files, TinyNetScorer(), completion_timeout_s=0, on_scored=sender
        )
        assert worker.run_once() == 1
        stored = [
            pydicom.dcmread(io.BytesIO(http_bytes(f"{orthanc.base}/instances/{i}/file")))
            for i in orthanc.get("/instances")
        ]
        (study,) = orthanc.get("/studies")
        assert orthanc.get(f"/studies/{study}")["MainDicomTags"]["StudyInstanceUID"] == uid
    by_class = {ds.SOPClassUID: ds for ds in stored}
    assert sorted(by_class) == sorted([PM_CLASS, SR_CLASS])
    sr, pm = by_class[SR_CLASS], by_class[PM_CLASS]
    assert sr.StudyInstanceUID == pm.StudyInstanceUID == uid
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == uid
    sources = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
    assert {r.ReferencedSOPInstanceUID for r in evidence.ReferencedSeriesSequence[0]
            .ReferencedSOPSequence} == sources  # fmt: skip
    assert pm.FrameOfReferenceUID == pydicom.dcmread(paths[0]).FrameOfReferenceUID
    sr_file = tmp_path / "sr.dcm"
    sr.save_as(sr_file)
    dump = subprocess.run(
        [dsrdump, "+Pt", "+Pc", str(sr_file)], capture_output=True, text=True, timeout=30
    )
    assert dump.returncode == 0, dump.stderr
    assert "TID 1500" in dump.stdout
    for code in ("36118008", "60046008", "27925004", "4147007", "95436008", "87433001"):
        assert f"({code},SCT," in dump.stdout  # pneumothorax ... emphysema
    assert '"Probability"' in dump.stdout and "(1,UCUM," in dump.stdout
    (event,) = [e for e in _events(services, study_id) if e.action == SENT]
    assert sorted(event.detail["sop"]) == sorted([sr.SOPInstanceUID, pm.SOPInstanceUID])


def test_a_failed_send_is_recorded_and_keeps_the_score(services, tmp_path: Path) -> None:
    study_id, _uid, _paths = _ingest(services, tmp_path)
    nobody = DicomAddress("NOBODY", "127.0.0.1", free_port())  # nothing listens there
    sender = ResultSender(services.db, services.files, nobody, attempts=2, pause_s=0.01)
    worker = Worker(
        services.db, services.files, TinyNetScorer(), completion_timeout_s=0, on_scored=sender
    )
    assert worker.run_once() == 1
    with services.db.session() as session:
        assert session.get(Study, study_id).status == StudyStatus.SCORED
    (event,) = [e for e in _events(services, study_id) if e.action == SEND_FAILED]
    assert event.detail["attempts"] == 2
    assert "association refused" in event.detail["reason"]


def test_send_results_setting_builds_the_sender(tmp_path: Path) -> None:
    settings = Settings(service_dir=tmp_path / "svc", send_results="PACS@10.0.0.7:104")
    sender = Services.build(settings).result_sender()
    assert sender.destination == DicomAddress("PACS", "10.0.0.7", 104)
    assert Services.build(Settings(service_dir=tmp_path / "b")).result_sender() is None
    with pytest.raises(ConfigError, match=r"RADLENS_SEND_RESULTS.*expected AE@HOST:PORT"):
        Settings.from_env({"RADLENS_SEND_RESULTS": "PACS-10.0.0.7-104"})
    with pytest.raises(ConfigError, match="port '0' is not 1-65535"):
        parse_dicom_address("PACS@host:0", option="--send-results")
    with pytest.raises(ConfigError, match="must be 1-16 ASCII"):
        parse_dicom_address("A_VERY_LONG_AE_TITLE@host:104")


def test_serve_send_results_flag_reaches_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import radlens.service

    seen = []
    monkeypatch.setattr(radlens.service, "serve", lambda settings, **_: seen.append(settings))
    monkeypatch.setenv("RADLENS_SERVICE_DIR", str(tmp_path / "svc"))
    assert main(["serve", "--send-results", "PACS@10.0.0.7:104"]) == 0
    assert seen[0].send_results == "PACS@10.0.0.7:104"
    assert main(["serve", "--send-results", "PACS:104"]) == 2
    assert "expected AE@HOST:PORT" in capsys.readouterr().err


@pytest.mark.integration
def test_results_left_unsent_by_a_stopped_process_are_sent_at_start(services, tmp_path) -> None:
    """Scored without a sender (as if the process died before sending): listed as unsent, sent
    by `resend_unsent`, then no longer listed; a study scored after the cut-off is left to the
    worker."""
    study_id, _, _ = _ingest(services, tmp_path)
    assert Worker(services.db, services.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    with orthanc_server(tmp_path) as orthanc:
        sender = ResultSender(
            services.db, services.files, DicomAddress("ORTHANC", "127.0.0.1", orthanc.dicom_port)
        )
        assert sender.unsent() == [study_id]
        with services.db.session() as session:
            scored_at = session.get(Study, study_id).scored_at
        assert sender.unsent(scored_before=scored_at) == []  # scored at/after the cut-off
        assert sender.resend_unsent() == 1
        assert sender.unsent() == []
        assert len(orthanc.get("/instances")) == 2  # the SR and the Parametric Map, once
    assert [e.action for e in _events(services, study_id)].count(SENT) == 1
