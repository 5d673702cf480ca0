"""A nodule detector run in the service (issue 15): `--detector-run` lists its candidates with
sizes measured on the image, its study score replaces the classifier's nodule score for the
triage and the draft, and a candidate without an edge to measure gives no size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _support.nodule_cohort import SPACING, chest
from _support.nodule_detector import train_tiny_detector
from fastapi.testclient import TestClient

from radlens.cli import main
from radlens.data.volumes import Volume, write_nifti
from radlens.deploy import LesionResult, StudyLesion
from radlens.errors import ModelError
from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.lesions import with_lesion_scores
from radlens.service.scoring import Prediction
from radlens.service.settings import Settings
from radlens.service.triage import draft_report
from radlens.service.worker import Worker


class ClassifierScorer:
    """The classifier side: it misses the nodule (0.05) and sees a small effusion."""

    model_version = "classifier-test"

    def score(self, volume) -> list[Prediction]:
        return [Prediction("nodule", None, 0.05), Prediction("nodule", "left_lung", 0.02),
                Prediction("pleural_effusion", "right_pleura", 0.7)]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_detector(tmp_path_factory.mktemp("det"))


def _lesion(label: int, score: float, side: str, measured: bool = True) -> StudyLesion:
    return StudyLesion(label, "nodule", score, 0.5, 9.6, 9.0, 4, (4.0, 5.0, 6.0), side, measured)


def test_the_detector_score_replaces_the_classifiers() -> None:
    preds = ClassifierScorer().score(None)
    result = LesionResult([_lesion(1, 0.9, "right"), _lesion(2, 0.6, "left")],
                          np.zeros((2, 2, 2)), {"nodule": 0.93})  # fmt: skip
    out = with_lesion_scores(preds, result)
    assert Prediction("nodule", "right_lung", 0.93) in out
    nodule = [p for p in out if p.abnormality == "nodule"]
    assert nodule == [Prediction("nodule", "right_lung", 0.93)]
    assert Prediction("pleural_effusion", "right_pleura", 0.7) in out
    # nothing listed: the score stays, without a place; a segmentation run's result changes nothing
    bare = with_lesion_scores(preds, LesionResult([], np.zeros(1), {"nodule": 0.2}))
    assert Prediction("nodule", None, 0.2) in bare
    assert with_lesion_scores(preds, LesionResult([], np.zeros(1))) == preds
    assert with_lesion_scores(preds, None) == preds


def test_only_measured_sizes_reach_the_draft() -> None:
    preds = [Prediction("nodule", "right_lung", 0.9)]
    assert "10 mm" in draft_report(preds, 0.5, [_lesion(1, 0.9, "right")])
    draft = draft_report(preds, 0.5, [_lesion(1, 0.9, "right", measured=False)])
    assert "mm" not in draft and "measured on the image" not in draft


def test_served_detector_lists_measured_nodules_and_drives_the_triage(run, tmp_path) -> None:
    hu, ball = chest(np.random.default_rng(7))
    path = write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), tmp_path / "study.nii.gz")
    settings = Settings(service_dir=tmp_path / "svc", enable_dicom=False, detector_runs=(run,),
                        detector_threshold=0.01)  # fmt: skip
    svc = Services.build(settings)
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    files = [("files", ("study.nii.gz", path.read_bytes(), "application/gzip"))]
    response = client.post("/studies", files=files, data={"patient_id": "D-1"},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 201, response.text
    study_id = response.json()["study_ids"][0]
    worker = Worker(svc.db, svc.files, ClassifierScorer(), completion_timeout_s=0,
                    segmenter=svc.segmenter, threshold=0.01)  # fmt: skip
    assert worker.run_once() == 1
    client.post("/login", data={"token": token})
    listed = client.get(f"/studies/{study_id}/lesions").json()
    assert listed["segmentation"] is True and listed["lesions"]
    best = max(les["score"] for les in listed["lesions"])
    centre = np.argwhere(ball).mean(axis=0)  # the nodule's candidate: within 3 voxels of it
    on_ball = [les for les in listed["lesions"]
               if np.linalg.norm(np.asarray(les["centre"]) - centre) <= 3.0]  # fmt: skip
    assert len(on_ball) == 1 and on_ball[0]["measured"] is True
    assert on_ball[0]["diameter_mm"] >= 2 * 2.2 * SPACING[1]  # at least the ball's width
    detail = client.get(f"/studies/{study_id}").json()
    nodule = [p for p in detail["predictions"] if p["abnormality"] == "nodule"]
    assert len(nodule) == 1 and nodule[0]["score"] >= best  # the detector's, not 0.05
    page = client.get(f"/view/{study_id}").text
    assert 'id="lesions"' in page and f"{on_ball[0]['diameter_mm']:.1f}" in page
    # the draft states the nodule (present at the worker's threshold) with a measured size
    draft = client.get(f"/studies/{study_id}/report").json()["text"]
    assert " mm " in draft and "measured on the image" in draft
    svc.db.dispose()


def test_an_unusable_detector_run_stops_the_start(tmp_path, capsys) -> None:
    with pytest.raises(ModelError, match=r"--detector-run .*not a nodule detector run"):
        Services.build(Settings(service_dir=tmp_path / "a", detector_runs=(tmp_path,)))
    argv = ["serve", "--service-dir", str(tmp_path / "b"), "--detector-run", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "no such directory" in capsys.readouterr().err


def test_detector_runs_from_the_environment() -> None:
    env = {"RADLENS_DETECTOR_RUNS": "runs/nodule, runs/mass", "RADLENS_DETECTOR_THRESHOLD": "0.7"}
    settings = Settings.from_env(env)
    assert settings.detector_runs == (Path("runs/nodule"), Path("runs/mass"))
    assert settings.detector_threshold == 0.7
    assert Settings.from_env({}).detector_runs == ()
