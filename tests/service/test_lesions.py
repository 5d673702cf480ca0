"""Lesion candidates in the service (issue 15): `--seg-run` is checked at start, the worker
stores the candidates and their label volume with the scores, the viewer lists them (diameter,
volume, score, finding, location) with slice links and draws their contours, and the draft report
states the measured size."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from _support.seg_cohort import SPACING, sphere
from _support.seg_service import PlantedSeg, train_tiny_seg_run
from _support.service_fixtures import db_url, postgres_server  # noqa: F401  (fixtures)
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from radlens.cli import main
from radlens.data.volumes import Volume, write_nifti
from radlens.errors import ModelError
from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.scoring import Prediction
from radlens.service.settings import Settings
from radlens.service.store import Lesion, LesionMask
from radlens.service.worker import Worker

SHAPE = (16, 32, 32)


class LocatedScorer:
    """The classifier side of the test: a mass in the left upper lobe, no nodule."""

    model_version = "located-test"

    def score(self, volume) -> list[Prediction]:
        return [Prediction("mass", "left_upper_lobe", 0.9), Prediction("nodule", None, 0.1)]


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> Path:
    return train_tiny_seg_run(tmp_path_factory.mktemp("seg"))


def _upload(client: TestClient, headers: dict, tmp_path: Path) -> int:
    hu = np.full(SHAPE, -800.0, dtype=np.float32)
    hu[:, 4:28, 2:30] = 30.0
    hu[:, 6:26, 4:28] = -800.0
    hu[sphere(SHAPE, (8, 12, 8), (1.5, 2.5, 2.5))] = 40.0
    hu[sphere(SHAPE, (8, 18, 22), (3, 5, 5))] = 60.0
    path = write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), tmp_path / "study.nii.gz")
    files = [("files", ("study.nii.gz", path.read_bytes(), "application/gzip"))]
    form = {"patient_id": "L-1", "patient_name": "Lesion^Pat"}
    response = client.post("/studies", files=files, data=form, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["study_ids"][0]


def test_viewer_lists_contours_candidates_and_slice_links(seg_run, tmp_path, db_url) -> None:  # noqa: F811
    settings = Settings(
        service_dir=tmp_path / "svc", database_url=db_url, enable_dicom=False, seg_run=seg_run
    )
    svc = Services.build(settings)  # SQLite and PostgreSQL: the same Alembic migrations
    svc.segmenter.model = PlantedSeg()  # known output: exactly the painted balls
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    study_id = _upload(client, {"Authorization": f"Bearer {token}"}, tmp_path)
    worker = Worker(svc.db, svc.files, LocatedScorer(), completion_timeout_s=0,
                    segmenter=svc.segmenter)  # fmt: skip
    assert worker.run_once() == 1
    client.post("/login", data={"token": token})
    listed = client.get(f"/studies/{study_id}/lesions").json()
    assert listed["segmentation"] is True
    lesions = {les["finding"]: les for les in listed["lesions"]}
    assert sorted(lesions) == ["mass", "nodule"]
    mass = lesions["mass"]
    # the classifier located the mass on the candidate's side: its lobe names the candidate
    assert mass["side"] == "left" and mass["location"] == "left_upper_lobe"
    assert lesions["nodule"]["side"] == "right" and lesions["nodule"]["location"] == "right_lung"
    ball = sphere(SHAPE, (8, 18, 22), (3, 5, 5))
    assert mass["volume_ml"] == pytest.approx(ball.sum() * np.prod(SPACING) / 1000.0)
    assert mass["axial_slice"] == 8 and mass["diameter_mm"] > 20
    page = client.get(f"/view/{study_id}").text
    assert 'id="lesions"' in page and 'id="no-segmentation"' not in page
    z = mass["axial_slice"]
    assert f'href="#slice-{z}" data-slice="{z}"' in page and "left upper lobe" in page
    assert f"{mass['diameter_mm']:.1f}" in page and f"{mass['volume_ml']:.2f}" in page
    png = client.get(f"/studies/{study_id}/lesions/{z}.png?selected={mass['label']}")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(png.content)))
    assert rgba.shape == (32, 32, 4) and (rgba[..., 3] > 0).sum() > 8
    assert (rgba[..., :3] == (255, 214, 0)).all(axis=-1).any()  # the selected one's colour
    empty = client.get(f"/studies/{study_id}/lesions/0.png").content
    assert (np.asarray(Image.open(io.BytesIO(empty)))[..., 3] == 0).all()
    # the draft report states the size measured on the image, in the classifier's lobe
    size = f"{mass['diameter_mm'] / 10:.1f} cm"
    draft = client.get(f"/studies/{study_id}/report").json()["text"]
    assert f"{size} lung mass in the left upper lobe" in draft and "measured on the image" in draft
    # the worklist gives the top finding's measured size
    row = client.get("/studies").json()[0]
    assert row["top_abnormality"] == "mass" and row["top_size"] == size
    # rescoring replaces the candidates instead of adding to them
    client.post(f"/studies/{study_id}/rescore", headers={"X-Requested-With": "radlens"})
    worker.run_once()
    with svc.db.session() as session:
        assert session.scalar(select(func.count(Lesion.id))) == 2
        assert session.scalar(select(func.count(LesionMask.id))) == 1
    svc.db.dispose()


def test_without_a_segmentation_run_the_viewer_says_so(tmp_path) -> None:
    svc = Services.build(Settings(service_dir=tmp_path / "svc", enable_dicom=False))
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    study_id = _upload(client, {"Authorization": f"Bearer {token}"}, tmp_path)
    Worker(svc.db, svc.files, LocatedScorer(), completion_timeout_s=0).run_once()
    client.post("/login", data={"token": token})
    page = client.get(f"/view/{study_id}").text
    assert 'id="no-segmentation"' in page and "--seg-run DIR" in page and 'id="lesions"' not in page
    assert client.get(f"/studies/{study_id}/lesions").json() == {
        "segmentation": False,
        "lesions": [],
    }
    assert client.get(f"/studies/{study_id}/lesions/3.png").status_code == 404
    assert "cm" not in client.get(f"/studies/{study_id}/report").json()["text"]
    assert client.get("/studies").json()[0]["top_size"] == ""
    svc.db.dispose()


def test_an_unusable_seg_run_stops_the_start_with_its_reason(seg_run, tmp_path, capsys) -> None:
    with pytest.raises(ModelError, match=r"--seg-run .*missing: no such directory"):
        Services.build(Settings(service_dir=tmp_path / "a", seg_run=tmp_path / "missing"))
    assert not (tmp_path / "a").exists()  # refused before the store was created
    with pytest.raises(ModelError, match=r"--seg-run .*not a run directory"):
        Services.build(Settings(service_dir=tmp_path / "b", seg_run=tmp_path))
    # `radlens serve --seg-run` stops before serving, with the reason (exit status 2)
    argv = ["serve", "--service-dir", str(tmp_path / "c"), "--seg-run", str(tmp_path / "gone")]
    assert main(argv) == 2
    assert "no such directory" in capsys.readouterr().err
