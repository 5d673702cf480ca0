"""The viewer's "show where: <sentence>" maps (issue 16): with `--text-run` a sentence gives its
peak slice and an overlay PNG per slice of the study; without one the routes say how to get it;
an unfit run stops the start."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from _support.text_run import train_3d_text_run
from fastapi.testclient import TestClient
from PIL import Image

from radlens.data.volumes import Volume, write_nifti
from radlens.errors import ModelError
from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.settings import Settings

SHAPE = (12, 20, 24)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    return train_3d_text_run(tmp_path_factory.mktemp("text3d"))


def _client(tmp_path: Path, text_run: Path | None) -> tuple[Services, TestClient, int]:
    svc = Services.build(
        Settings(service_dir=tmp_path / "svc", enable_dicom=False, text_run=text_run)
    )
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    hu = np.random.default_rng(0).normal(-800, 50, SHAPE).astype(np.float32)
    hu[3:8, 4:10, 4:10] = 40.0
    path = write_nifti(Volume(hu, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)), tmp_path / "v.nii.gz")
    files = [("files", ("v.nii.gz", path.read_bytes(), "application/gzip"))]
    response = client.post("/studies", files=files, data={"patient_id": "T-1"},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 201, response.text
    client.post("/login", data={"token": token})
    return svc, client, response.json()["study_ids"][0]


def test_a_sentence_gives_its_peak_and_an_overlay_per_slice(tmp_path, text_run) -> None:
    svc, client, study_id = _client(tmp_path, text_run)
    page = client.get(f"/view/{study_id}").text
    assert 'id="text-map-form"' in page and "Show where:" in page
    where = client.get(f"/studies/{study_id}/text-map", params={"text": "right upper lobe mass"})
    assert where.status_code == 200, where.text
    body = where.json()
    assert body["text"] == "right upper lobe mass" and body["run"] == "run"
    z, y, x = body["peak"]
    assert body["peak_slice"] == z and 0 <= z < SHAPE[0] and 0 <= y < SHAPE[1] and x < SHAPE[2]
    png = client.get(
        f"/studies/{study_id}/text-map/{z}.png", params={"text": "right upper lobe mass"}
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    rgba = np.asarray(Image.open(io.BytesIO(png.content)))
    assert rgba.shape == (SHAPE[1], SHAPE[2], 4) and rgba[y, x, 3] == 255  # opaque at the peak
    assert client.get(f"/studies/{study_id}/text-map/{SHAPE[0]}.png",
                      params={"text": "mass"}).status_code == 404  # fmt: skip
    assert client.get(f"/studies/{study_id}/text-map", params={"text": ""}).status_code == 422
    svc.db.dispose()


def test_without_a_text_run_the_routes_say_how_to_get_one(tmp_path) -> None:
    svc, client, study_id = _client(tmp_path, None)
    assert 'id="text-map-form"' not in client.get(f"/view/{study_id}").text
    missing = client.get(f"/studies/{study_id}/text-map", params={"text": "mass"})
    assert missing.status_code == 404 and "--text-run DIR" in missing.json()["detail"]
    svc.db.dispose()


def test_an_unfit_text_run_stops_the_start(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"--text-run .*no checkpoint.pt"):
        Services.build(Settings(service_dir=tmp_path / "a", text_run=tmp_path))
