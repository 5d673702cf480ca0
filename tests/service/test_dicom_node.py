"""The DICOM node against real peers: dcmtk's echoscu/storescu and a real Orthanc server."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from _support.service import TinyNetScorer, as_modality, write_series
from _support.service_fixtures import free_port, need_program
from sqlalchemy import select

from radlens.service.app import Services
from radlens.service.settings import Settings
from radlens.service.store import Study, StudyStatus

pytestmark = pytest.mark.integration


@pytest.fixture
def node(tmp_path: Path):
    settings = Settings(
        service_dir=tmp_path / "svc",
        dicom_host="127.0.0.1",
        dicom_port=free_port(),
        completion_timeout_s=0.5,
        worker_poll_s=0.2,
        ae_title="RADLENS",
        allowed_calling_aes=("STORESCU", "ORTHANC", "ECHOSCU"),
        check_fitness=False,  # 8-slice test series: this file tests transport, not fitness
    )
    services = Services.build(settings)
    services.start_background(scorer=TinyNetScorer())
    yield services
    services.stop_background()
    services.db.dispose()


def _wait_scored(services: Services, study_uid: str, timeout: float = 30.0) -> Study:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.db.session() as session:
            study = session.scalar(select(Study).where(Study.study_uid == study_uid))
            if study is not None and study.status == StudyStatus.SCORED:
                return study
        time.sleep(0.2)
    raise AssertionError(f"study {study_uid} not scored within {timeout} s")


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_echoscu_and_calling_ae_allow_list(node) -> None:
    echoscu = need_program("echoscu", "dcmtk")
    port = str(node.node.port)
    ok = _run([echoscu, "-aet", "ECHOSCU", "-aec", "RADLENS", "127.0.0.1", port])
    assert ok.returncode == 0, ok.stderr
    refused = _run([echoscu, "-aet", "INTRUDER", "-aec", "RADLENS", "127.0.0.1", port])
    assert refused.returncode != 0 and "Rejected" in (refused.stderr + refused.stdout)
    wrong_called = _run([echoscu, "-aet", "ECHOSCU", "-aec", "NOTME", "127.0.0.1", port])
    assert wrong_called.returncode != 0


def test_storescu_series_is_stored_and_scored(node, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="radlens")
    storescu = need_program("storescu", "dcmtk")
    uid, paths = write_series(
        tmp_path / "series", seed=5, patient_name="Secret^Name", patient_id="MRN-998877"
    )
    sent = _run(
        [
            storescu,
            "-aet",
            "STORESCU",
            "-aec",
            "RADLENS",
            "127.0.0.1",
            str(node.node.port),
            *map(str, paths),
        ]
    )
    assert sent.returncode == 0, sent.stderr
    with node.db.session() as session:  # committed before the release was answered
        stored = session.scalar(select(Study).where(Study.study_uid == uid))
        assert stored is not None and stored.visible
        assert sum(len(s.instances) for s in stored.series) == len(paths)
    study = _wait_scored(node, uid)
    with node.db.session() as session:
        study = session.get(Study, study.id)
        assert study.source == "dicom" and study.n_scorings == 1
        assert sum(len(s.instances) for s in study.series) == len(paths)
    assert caplog.records and "Secret" not in caplog.text and "998877" not in caplog.text


def test_storescu_non_ct_is_refused(node, tmp_path) -> None:
    storescu = need_program("storescu", "dcmtk")
    _, paths = write_series(tmp_path / "series", seed=6)
    mr = tmp_path / "mr.dcm"
    mr.write_bytes(as_modality(paths[0], "MR"))
    sent = _run(
        [storescu, "-aet", "STORESCU", "-aec", "RADLENS", "127.0.0.1", str(node.node.port), str(mr)]
    )
    assert sent.returncode != 0 or "rejected" in (sent.stderr + sent.stdout).lower()
    with node.db.session() as session:
        assert session.scalar(select(Study)) is None


def test_aborted_association_keeps_acknowledged_instances(node, tmp_path) -> None:
    import pydicom
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    uid, paths = write_series(tmp_path / "series", seed=8)
    ae = AE(ae_title="STORESCU")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", node.node.port, ae_title="RADLENS")
    assert assoc.is_established
    for path in paths[:3]:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    assoc.abort()
    deadline = time.monotonic() + 10
    n = 0
    while time.monotonic() < deadline and n != 3:
        with node.db.session() as session:
            study = session.scalar(select(Study).where(Study.study_uid == uid))
            n = sum(len(s.instances) for s in study.series) if study else 0
        time.sleep(0.1)
    assert n == 3  # every instance answered with Success is kept


def _http(url: str, data: bytes | None = None, method: str = "GET") -> object:
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


@pytest.mark.slow
def test_orthanc_pushes_a_study_by_c_store(node, tmp_path) -> None:
    orthanc = need_program("Orthanc", "orthanc")
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "radlens-test",
        "StorageDirectory": str(tmp_path / "orthanc-db"),
        "IndexDirectory": str(tmp_path / "orthanc-db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],
        "DicomModalities": {"radlens": ["RADLENS", "127.0.0.1", node.node.port]},
    }
    cfg = tmp_path / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("w")
    proc = subprocess.Popen([orthanc, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                _http(f"{base}/system")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "orthanc.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        uid, paths = write_series(tmp_path / "series", seed=7)
        for path in paths:
            _http(f"{base}/instances", path.read_bytes(), "POST")
        (orthanc_study,) = _http(f"{base}/studies")
        job = _http(f"{base}/modalities/radlens/store", orthanc_study.encode(), "POST")
        assert job["InstancesCount"] == len(paths) and job["FailedInstancesCount"] == 0
        study = _wait_scored(node, uid)
        assert study.source == "dicom"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_dicom_port_binds_loopback_unless_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: the DICOM port listened on 0.0.0.0 while the web server bound 127.0.0.1."""
    monkeypatch.delenv("RADLENS_DICOM_HOST", raising=False)
    settings = Settings.from_env(service_dir=tmp_path / "svc", dicom_port=free_port())
    assert settings.dicom_host == "127.0.0.1"
    services = Services.build(settings.model_copy(update={"enable_worker": False}))
    services.start_background(scorer=TinyNetScorer())
    try:
        assert services.node is not None and services.node.address[0] == "127.0.0.1"
    finally:
        services.stop_background()
        services.db.dispose()
