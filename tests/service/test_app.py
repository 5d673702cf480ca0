"""The JSON API: uploads and their validation, auth and roles, worklist order, viewer images,
reports with audit trail."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _support.service import TinyNetScorer, as_modality, make_volume, write_series, zip_bytes
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, update

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.settings import Settings
from radlens.service.store import Study
from radlens.service.worker import Worker


@pytest.fixture
def svc(tmp_path: Path):
    settings = Settings(
        service_dir=tmp_path / "svc",
        completion_timeout_s=0,
        enable_dicom=False,
        max_upload_bytes=2_000_000,
        max_zip_uncompressed_bytes=5_000_000,
        max_zip_ratio=50,
    )
    services = Services.build(settings)
    yield services
    services.db.dispose()


@pytest.fixture
def client(svc):
    return TestClient(create_app(services=svc))


def _auth(svc, role: str = "radiologist", name: str | None = None) -> dict[str, str]:
    token = add_user(svc.db, name or f"user-{role}", role)
    return {"Authorization": f"Bearer {token}"}


def _files(paths: list[Path]):
    return [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]


def _n_studies(svc) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count(Study.id)))


def test_health_is_open_everything_else_needs_a_token(client, svc) -> None:
    assert client.get("/health").json()["status"] == "ok"
    for path in ("/studies", "/studies/1", "/studies/1/report", "/audit", "/status"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "Bearer" in response.json()["detail"]
    bad = client.get("/studies", headers={"Authorization": "Bearer rl_nonsense"})
    assert bad.status_code == 401 and bad.json()["detail"] == "unknown token"
    for path in ("/docs", "/openapi.json"):  # the API description too needs a token
        assert client.get(path).status_code == 401, path
    viewer = _auth(svc, "viewer")
    docs = client.get("/docs", headers=viewer)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = client.get("/openapi.json", headers=viewer).json()
    assert "/studies" in schema["paths"] and "/docs" not in schema["paths"]


def test_roles_are_enforced(client, svc, tmp_path) -> None:
    viewer = _auth(svc, "viewer")
    _, paths = write_series(tmp_path / "a")
    response = client.post("/studies", files=_files(paths), headers=viewer)
    assert response.status_code == 403 and "needs 'radiologist'" in response.json()["detail"]
    assert client.get("/audit", headers=_auth(svc, "radiologist")).status_code == 403
    assert client.get("/audit", headers=_auth(svc, "admin")).status_code == 200
    assert client.get("/studies", headers=viewer).status_code == 200


def test_upload_dicom_files_and_zip(client, svc, tmp_path) -> None:
    rad = _auth(svc)
    _uid, paths = write_series(tmp_path / "a", seed=1)
    created = client.post("/studies", files=_files(paths), headers=rad)
    assert created.status_code == 201, created.text
    assert created.json()["new_instances"] == len(paths)
    _, paths_b = write_series(tmp_path / "b", seed=2, patient_id="P2")
    archive = zip_bytes([(f"series/{p.name}", p.read_bytes()) for p in paths_b])
    zipped = client.post(
        "/studies", files=[("files", ("s.zip", archive, "application/zip"))], headers=rad
    )
    assert zipped.status_code == 201 and zipped.json()["new_instances"] == len(paths_b)
    listing = client.get("/studies", headers=rad).json()
    assert len(listing) == 2 and listing[0]["status"] == "pending"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../evil.dcm", "escapes the archive"),
        ("/etc/passwd", "absolute path"),
        ("a/../../b.dcm", "escapes the archive"),
        ("C:/x.dcm", "absolute path"),
    ],
)
def test_zip_path_traversal_is_refused(client, svc, tmp_path, entry, message) -> None:
    _, paths = write_series(tmp_path / "a")
    archive = zip_bytes([(entry, paths[0].read_bytes())])
    response = client.post(
        "/studies", files=[("files", ("x.zip", archive, "application/zip"))], headers=_auth(svc)
    )
    assert response.status_code == 400 and message in response.json()["detail"]
    assert _n_studies(svc) == 0


def test_zip_bomb_and_oversize_are_refused(client, svc) -> None:
    rad = _auth(svc)
    bomb = zip_bytes([("zeros.dcm", b"\0" * 20_000_000)])  # ~20 kB inflating to 20 MB
    response = client.post(
        "/studies", files=[("files", ("b.zip", bomb, "application/zip"))], headers=rad
    )
    assert response.status_code == 413 and "zip bomb" in response.json()["detail"]
    big = client.post(
        "/studies", files=[("files", ("big.dcm", b"x" * 3_000_000, "a/b"))], headers=rad
    )
    assert big.status_code == 413 and "RADLENS_MAX_UPLOAD_BYTES" in big.json()["detail"]
    assert _n_studies(svc) == 0


def test_malformed_and_non_ct_dicom_are_refused(client, svc, tmp_path) -> None:
    rad = _auth(svc)
    _, paths = write_series(tmp_path / "a")
    junk = client.post(
        "/studies", files=[("files", ("junk.dcm", b"DICM" * 100, "a/b"))], headers=rad
    )
    assert junk.status_code == 422 and "junk.dcm" in junk.json()["detail"]
    truncated = paths[0].read_bytes()[:-200]
    cut = client.post("/studies", files=[("files", ("cut.dcm", truncated, "a/b"))], headers=rad)
    assert cut.status_code == 422 and "cut.dcm" in cut.json()["detail"]
    mr = client.post(
        "/studies", files=[("files", ("mr.dcm", as_modality(paths[0], "MR"), "x"))], headers=rad
    )
    assert mr.status_code == 422 and "only CT studies" in mr.json()["detail"]
    assert _n_studies(svc) == 0


def test_nifti_upload_with_metadata(client, svc, tmp_path) -> None:
    from radlens.data.volumes.io import write_nifti

    path = write_nifti(make_volume(3), tmp_path / "vol.nii.gz")
    form = {"patient_id": "N-1", "patient_name": "Nifti^Pat", "study_description": "CT"}
    files = [("files", ("vol.nii.gz", path.read_bytes(), "application/gzip"))]
    missing = client.post("/studies", files=files, headers=_auth(svc, name="a"))
    assert missing.status_code == 422 and "patient_id" in missing.json()["detail"]
    response = client.post("/studies", files=files, data=form, headers=_auth(svc, name="b"))
    assert response.status_code == 201, response.text
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    study = client.get(
        f"/studies/{response.json()['study_ids'][0]}", headers=_auth(svc, name="c")
    ).json()
    assert study["status"] == "scored" and study["series"][0]["kind"] == "nifti"


def _ingest(client, rad, tmp_path, i: int, **kw) -> int:
    _, paths = write_series(tmp_path / f"s{i}", seed=i, patient_id=f"P{i}", **kw)
    return client.post("/studies", files=_files(paths), headers=rad).json()["study_ids"][0]


def test_worklist_orders_by_urgency_then_score_then_arrival(client, svc, tmp_path) -> None:
    rad = _auth(svc)
    ids = [_ingest(client, rad, tmp_path, i) for i in range(4)]
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    with svc.db.session() as session:  # set known triage values to check the order exactly
        for study_id, rank, score in zip(ids, [2, 0, 2, 1], [0.9, 0.6, 0.95, 0.99], strict=True):
            session.execute(
                update(Study).where(Study.id == study_id).values(urgency_rank=rank, top_score=score)
            )
    order = [s["id"] for s in client.get("/studies", headers=rad).json()]
    assert order == [ids[1], ids[3], ids[2], ids[0]]
    assert client.get("/studies", headers=rad).json()[0]["urgency"] == "critical"
    # studies not scored yet come after every scored one (no finding included), oldest first
    late = [_ingest(client, rad, tmp_path, i) for i in (7, 8)]
    with svc.db.session() as session:
        session.execute(update(Study).where(Study.id == ids[0]).values(urgency_rank=3))
    listing = client.get("/studies", headers=rad).json()
    assert [s["id"] for s in listing] == [ids[1], ids[3], ids[2], ids[0], *late]
    assert [s["urgency"] for s in listing[-3:]] == ["none", "unscored", "unscored"]


def test_worklist_critical_finding_first_from_real_scores(client, svc, tmp_path) -> None:
    rad = _auth(svc)
    for i in range(3):
        _ingest(client, rad, tmp_path, i)
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    listing = client.get("/studies", headers=rad).json()
    ranks = [s["urgency_rank"] for s in listing]
    assert ranks == sorted(ranks) and all(s["status"] == "scored" for s in listing)
    detail = client.get(f"/studies/{listing[0]['id']}", headers=rad).json()
    assert detail["predictions"] and detail["findings"][0]["urgency"] in {
        "critical",
        "urgent",
        "routine",
    }


def test_slices_heatmaps_report_and_audit(client, svc, tmp_path) -> None:
    rad, admin = _auth(svc), _auth(svc, "admin")
    study_id = _ingest(client, rad, tmp_path, 1, patient_name="<b>O'Hara</b>")
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    geo = client.get(f"/studies/{study_id}/geometry", headers=rad).json()
    assert geo["shape"] == [8, 24, 24]
    lung = client.get(f"/studies/{study_id}/slices/4.png?window=lung", headers=rad)
    bone = client.get(f"/studies/{study_id}/slices/4.png?window=bone", headers=rad)
    assert lung.headers["content-type"] == "image/png" and lung.content != bone.content
    img = np.asarray(Image.open(io.BytesIO(lung.content)))
    assert img.shape == (24, 24) and img.max() > img.min()
    bad = client.get(f"/studies/{study_id}/slices/4.png?window=lugn", headers=rad)
    assert bad.status_code == 400 and "did you mean 'lung'" in bad.json()["detail"]
    assert client.get(f"/studies/{study_id}/slices/99.png", headers=rad).status_code == 404
    overlay = client.get(f"/studies/{study_id}/heatmaps/pneumothorax/4.png", headers=rad)
    rgba = np.asarray(Image.open(io.BytesIO(overlay.content)))
    assert rgba.shape == (24, 24, 4) and rgba[..., 3].max() > 0
    report = client.get(f"/studies/{study_id}/report", headers=rad).json()
    assert report["draft_text"].startswith("FINDINGS") and not report["signed"]
    edited = client.put(
        f"/studies/{study_id}/report", json={"text": "No pneumothorax."}, headers=rad
    ).json()
    assert edited["text"] == "No pneumothorax." and edited["draft_text"] == report["draft_text"]
    signed = client.post(f"/studies/{study_id}/report/sign", headers=rad).json()
    assert signed["signed"] and signed["signed_by"] == "user-radiologist"
    again = client.put(f"/studies/{study_id}/report", json={"text": "x"}, headers=rad)
    assert again.status_code == 409 and "signed" in again.json()["detail"]
    actions = [e["action"] for e in client.get(f"/audit?study_id={study_id}", headers=admin).json()]
    assert {"ingest", "scored", "report_edited", "report_signed"} <= set(actions)
    detail = client.get(f"/studies/{study_id}", headers=rad).json()
    assert detail["patient_name"] == "<b>O'Hara</b>"  # stored verbatim; HTML escapes on output


def test_unknown_study_is_404(client, svc) -> None:
    response = client.get("/studies/12345", headers=_auth(svc))
    assert response.status_code == 404 and "12345" in response.json()["detail"]


def test_zip_limits_hold_on_real_archive_reader(svc) -> None:
    from radlens.service.uploads import UploadError, unpack_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"f{i}", b"a")
    limits = svc.limits.__class__(10**6, 10**6, 10.0, 2)
    with pytest.raises(UploadError, match="more than the limit of 2"):
        unpack_zip(buf.getvalue(), limits)
    with pytest.raises(UploadError, match="not a readable zip"):
        unpack_zip(b"PK\x03\x04garbage", limits)


def test_start_background_seeds_through_the_callers_seeder(tmp_path: Path, caplog) -> None:
    """The service seeds nothing itself: `radlens serve --demo` passes the demo's seeder; a
    fallback run that cannot be loaded leaves the service running unscored."""
    settings = Settings(service_dir=tmp_path / "svc", enable_dicom=False, enable_worker=False)
    services = Services.build(settings)
    calls = []
    stale = tmp_path / "stale-run"
    services.start_background(seed=lambda db, files: calls.append((db, files)), fallback_run=stale)
    assert calls == [(services.db, services.files)]
    assert services.worker is None and services.node is None
    assert services.configured_scorer(stale) is None
    assert "unusable" in caplog.text and "serving unscored" in caplog.text
    services.stop_background()
    services.db.dispose()


def test_every_study_route_answers_404_for_an_id_beyond_the_database_range(client, svc) -> None:
    """Issue 18: ids past the back end's INTEGER overflowed the driver (HTTP 500)."""
    huge = "99999999999999999999999"
    headers = _auth(svc, "admin")
    calls = [("GET", f"/studies/{huge}"), ("GET", f"/studies/{huge}/report"),
             ("GET", f"/view/{huge}"), ("GET", f"/studies/{huge}/slices/1.png"),
             ("GET", f"/studies/{huge}/geometry"), ("GET", f"/studies/{huge}/heatmaps/mass/1.png"),
             ("PUT", f"/studies/{huge}/report"), ("POST", f"/studies/{huge}/report/sign"),
             ("GET", f"/studies/{2**31}"), ("GET", "/studies/0")]  # fmt: skip
    for method, path in calls:
        body = {"text": "x"} if method == "PUT" else None
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 404, (path, response.text)
        assert "study ids run from 1 to 2147483647" in response.json()["detail"], path
    audit = client.get(f"/audit?study_id={huge}", headers=headers)
    assert audit.status_code == 200 and audit.json() == []


def test_rescore_route_queues_a_study_again_for_radiologists_only(client, svc, tmp_path) -> None:
    rad = _auth(svc)
    study_id = _ingest(client, rad, tmp_path, 1)
    with svc.db.session() as session:
        session.get(Study, study_id).incomplete = True
    assert (
        client.post(f"/studies/{study_id}/rescore", headers=_auth(svc, "viewer")).status_code == 403
    )
    done = client.post(f"/studies/{study_id}/rescore", headers=rad)
    assert done.status_code == 200 and done.json() == {"id": study_id, "status": "pending"}
    with svc.db.session() as session:
        assert session.get(Study, study_id).incomplete is False
    assert client.post("/studies/99999/rescore", headers=rad).status_code == 404
