"""Issue 18 identity: patients keyed by (issuer, PatientID), per-study placeholders for a missing
PatientID, recorded name changes, and conflicts refused (C-STORE 0xC409, HTTP 409) and audited."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from _support.service import write_series
from _support.service_fixtures import free_port
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import func, select

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.dicom_node import DicomNode
from radlens.service.identity import identity_events
from radlens.service.ingest import ingest_dicom_files
from radlens.service.settings import Settings
from radlens.service.store import Instance, Patient, Study


@pytest.fixture
def svc(tmp_path: Path):
    settings = Settings(service_dir=tmp_path / "svc", enable_dicom=False, completion_timeout_s=0)
    services = Services.build(settings)
    yield services
    services.db.dispose()


def _series(tmp_path: Path, name: str, **kw) -> tuple[str, list[Path]]:
    return write_series(tmp_path / name, shape=(2, 16, 16), **kw)


def _ingest(svc, paths: list[Path]):
    return ingest_dicom_files(svc.db, svc.files, [(p.name, p.read_bytes()) for p in paths])


def _without_patient_id(paths: list[Path]) -> list[Path]:
    for path in paths:
        ds = pydicom.dcmread(path)
        del ds.PatientID
        ds.save_as(path)
    return paths


def _patients(svc) -> list[Patient]:
    with svc.db.session() as session:
        return list(session.scalars(select(Patient).order_by(Patient.id)))


def test_missing_patient_ids_get_one_placeholder_per_study(svc, tmp_path) -> None:
    _, a = _series(tmp_path, "a", patient_name="NOID^ALPHA")
    _, b = _series(tmp_path, "b", patient_name="NOID^BETA")
    _ingest(svc, _without_patient_id(a))
    _ingest(svc, _without_patient_id(b))
    patients = _patients(svc)
    assert [p.name for p in patients] == ["NOID^ALPHA", "NOID^BETA"]
    assert all(p.placeholder and p.patient_key.startswith("NOID-") for p in patients)
    assert patients[0].patient_key != patients[1].patient_key
    assert "UNKNOWN" not in {p.patient_key for p in patients}
    assert len(identity_events(svc.db, "placeholder")) == 2


def test_name_change_for_the_same_id_is_recorded(svc, tmp_path) -> None:
    _ingest(svc, _series(tmp_path, "a", patient_id="P0001", patient_name="FIRST^PERSON")[1])
    _ingest(svc, _series(tmp_path, "b", patient_id="P0001", patient_name="DIFFERENT^PERSON")[1])
    patients = _patients(svc)
    assert len(patients) == 1 and patients[0].name == "DIFFERENT^PERSON"
    (change,) = identity_events(svc.db, "name_change")
    assert change["detail"] == {"old_name": "FIRST^PERSON", "new_name": "DIFFERENT^PERSON"}
    assert change["patient_id"] == patients[0].id


def test_issuer_separates_equal_patient_ids(svc, tmp_path) -> None:
    _, a = _series(tmp_path, "a", patient_id="123")
    _, b = _series(tmp_path, "b", patient_id="123")
    for path in b:
        ds = pydicom.dcmread(path)
        ds.IssuerOfPatientID = "OTHER-HOSPITAL"
        ds.save_as(path)
    _ingest(svc, a)
    _ingest(svc, b)
    assert sorted((p.issuer, p.patient_key) for p in _patients(svc)) == [
        ("", "123"),
        ("OTHER-HOSPITAL", "123"),
    ]


def _intruder(tmp_path: Path, study_uid: str) -> pydicom.Dataset:
    """An instance with PatientID OTHER123 naming P0001's study."""
    _, paths = _series(tmp_path, "x", patient_id="OTHER123", study_uid=study_uid)
    ds = pydicom.dcmread(paths[0])
    ds.SOPInstanceUID = generate_uid()
    return ds


def test_conflicting_upload_is_409_and_audited(svc, tmp_path) -> None:
    uid, paths = _series(tmp_path, "a", patient_id="P0001")
    _ingest(svc, paths)
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    buf = io.BytesIO()
    _intruder(tmp_path, uid).save_as(buf)
    response = client.post(
        "/studies",
        files=[("files", ("x.dcm", buf.getvalue(), "application/dicom"))],
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "PatientID 'OTHER123'" in detail and "PatientID 'P0001'" in detail
    with svc.db.session() as session:
        assert session.scalar(select(func.count(Instance.id))) == len(paths)
    (conflict,) = identity_events(svc.db, "conflict")
    assert conflict["study_uid"] == uid and conflict["source"] == "upload"


def test_conflicting_c_store_is_refused_with_c409(svc, tmp_path) -> None:
    uid, paths = _series(tmp_path, "a", patient_id="P0001")
    _ingest(svc, paths)
    node = DicomNode(svc.db, svc.files, port=free_port())
    node.start()
    try:
        ae = AE(ae_title="STORESCU")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="RADLENS")
        answer = assoc.send_c_store(_intruder(tmp_path, uid))
        assoc.release()
    finally:
        node.stop()
    assert answer.Status == 0xC409
    assert "OTHER123" in answer.ErrorComment and "P0001" in answer.ErrorComment
    with svc.db.session() as session:
        assert session.scalar(select(func.count(Instance.id))) == len(paths)
        assert session.scalar(select(func.count(Study.id))) == 1
    (conflict,) = identity_events(svc.db, "conflict")
    assert conflict["source"] == "dicom"
    assert conflict["detail"]["instance_identity"] == "PatientID 'OTHER123'"
