"""The read-only FHIR R4 views of the worklist: shape of Bundle / DiagnosticReport / ImagingStudy,
status mapping and filtering, and the same authentication as the other read routes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _support.service import TinyNetScorer, write_series
from fastapi.testclient import TestClient

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.ingest import ingest_dicom_files
from radlens.service.settings import Settings
from radlens.service.worker import Worker

REFERENCE = re.compile(r"^(Patient|ImagingStudy|DiagnosticReport)/[0-9]+$")
OID = re.compile(r"^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$")
DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture
def setup(tmp_path: Path):
    services = Services.build(
        Settings(service_dir=tmp_path / "svc", completion_timeout_s=0, enable_dicom=False)
    )
    ids, uids = [], []
    for seed, patient in ((1, "P1"), (2, "P2")):
        uid, paths = write_series(tmp_path / f"s{seed}", seed=seed, patient_id=patient)
        uploads = [(p.name, p.read_bytes()) for p in paths]
        ids += ingest_dicom_files(services.db, services.files, uploads).study_ids
        uids.append(uid)
    # score only the first study: one preliminary report, one registered
    worker = Worker(services.db, services.files, TinyNetScorer(), completion_timeout_s=0)
    claim = worker.claim_next()
    assert claim is not None
    worker.process(*claim)
    client = TestClient(create_app(services=services))
    token = add_user(services.db, "fhir-viewer", "viewer")
    yield client, {"Authorization": f"Bearer {token}"}, services, claim[0], ids, uids
    services.db.dispose()


def _check_report(resource: dict) -> None:
    assert resource["resourceType"] == "DiagnosticReport"
    for key in ("id", "status", "code", "subject", "imagingStudy", "category"):
        assert key in resource, key
    assert resource["status"] in {"registered", "preliminary", "final", "cancelled"}
    assert REFERENCE.match(resource["subject"]["reference"])
    assert resource["subject"]["reference"].startswith("Patient/")
    for ref in resource["imagingStudy"]:
        assert ref["reference"] == f"ImagingStudy/{resource['id']}"
    assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
    for concept in resource.get("conclusionCode", []):
        (coding,) = concept["coding"]
        assert set(coding) == {"system", "code", "display"}


def test_diagnostic_report_bundle_shape_and_status_filter(setup) -> None:
    client, auth, _services, scored_id, ids, _uids = setup
    response = client.get("/fhir/DiagnosticReport", headers=auth)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle["entry"]) == 2
    for entry in bundle["entry"]:
        _check_report(entry["resource"])
        assert entry["fullUrl"] == f"DiagnosticReport/{entry['resource']['id']}"
    statuses = {e["resource"]["id"]: e["resource"]["status"] for e in bundle["entry"]}
    other = next(i for i in ids if i != scored_id)
    assert statuses == {str(scored_id): "preliminary", str(other): "registered"}
    scored = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == str(scored_id))
    assert scored["conclusion"]  # the draft report text
    assert "issued" in scored
    only = client.get("/fhir/DiagnosticReport?status=preliminary", headers=auth).json()
    assert [e["resource"]["id"] for e in only["entry"]] == [str(scored_id)]
    bad = client.get("/fhir/DiagnosticReport?status=prelimnary", headers=auth)
    assert bad.status_code == 400 and "preliminary" in bad.json()["detail"]  # did-you-mean


def test_a_signed_report_is_final_and_present_findings_are_coded(setup) -> None:
    client, auth, services, scored_id, _ids, _uids = setup
    radiologist = {"Authorization": f"Bearer {add_user(services.db, 'doc', 'radiologist')}"}
    assert client.post(f"/studies/{scored_id}/report/sign", headers=radiologist).status_code == 200
    resource = client.get(f"/fhir/DiagnosticReport/{scored_id}", headers=auth).json()
    _check_report(resource)
    assert resource["status"] == "final"
    detail = client.get(f"/studies/{scored_id}", headers=auth).json()
    shown = {f["abnormality"] for f in detail["findings"] if f["status"] != "absent"}
    coded = {c["text"].replace(" ", "_") for c in resource.get("conclusionCode", [])}
    assert coded == shown
    for concept in resource.get("conclusionCode", []):
        if concept["text"] == "pneumothorax":
            assert concept["coding"][0] == {
                "system": "http://snomed.info/sct",
                "code": "36118008",
                "display": "Pneumothorax",
            }


def test_imaging_study_identifier_counts_and_modality(setup) -> None:
    client, auth, _services, _scored_id, ids, uids = setup
    resource = client.get(f"/fhir/ImagingStudy/{ids[0]}", headers=auth).json()
    assert resource["resourceType"] == "ImagingStudy"
    assert resource["id"] == str(ids[0])
    (identifier,) = resource["identifier"]
    assert identifier == {"system": "urn:dicom:uid", "value": f"urn:oid:{uids[0]}"}
    assert OID.match(identifier["value"])
    assert resource["status"] == "available"
    assert REFERENCE.match(resource["subject"]["reference"])
    assert resource["numberOfSeries"] == 1 and resource["numberOfInstances"] == 8
    assert resource["modality"] == [{"system": DCM, "code": "CT"}]
    (series,) = resource["series"]
    assert series["modality"] == {"system": DCM, "code": "CT"}
    assert series["numberOfInstances"] == 8 and OID.match(f"urn:oid:{series['uid']}")
    assert client.get("/fhir/ImagingStudy/999999", headers=auth).status_code == 404
    assert client.get("/fhir/ImagingStudy/99999999999999999999", headers=auth).status_code == 404


def test_fhir_routes_need_a_token(setup) -> None:
    client, _auth, _services, scored_id, _ids, _uids = setup
    for path in ("/fhir/DiagnosticReport", f"/fhir/DiagnosticReport/{scored_id}",
                 f"/fhir/ImagingStudy/{scored_id}"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 401 and "Bearer" in response.json()["detail"]
        bad = client.get(path, headers={"Authorization": "Bearer rl_nonsense"})
        assert bad.status_code == 401
