"""A study whose scoring fails goes back to the unscored state: no stale rank or findings, after
the scored studies in the worklist, a short reason without file paths, and a viewer page that
says "Scoring failed" instead of drawing a canvas."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.service import TinyNetScorer, write_series
from fastapi.testclient import TestClient
from sqlalchemy import update

from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.failures import failure_reason
from radlens.service.settings import Settings
from radlens.service.store import UNSCORED_RANK, Study, StudyStatus
from radlens.service.worker import Worker


class _BrokenScorer:
    model_version = "broken-0"

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def score(self, volume):
        raise OSError(f"cannot read '{self.scratch}/tmpq1w2/volume.npy'\nTraceback: more")


@pytest.fixture
def svc(tmp_path: Path):
    services = Services.build(Settings(service_dir=tmp_path / "svc", enable_dicom=False))
    yield services
    services.db.dispose()


def test_failure_reason_is_one_short_line_without_paths() -> None:
    reason = failure_reason("OSError: no '/tmp/abc/x.nii' or C:\\Users\\me\\y.log\nline 2 " * 40)
    assert reason == "OSError: no '<path>/x.nii' or <path>/y.log"
    assert len(failure_reason("E: " + "x" * 5000)) == 300
    assert failure_reason("mime application/dicom in a/b") == "mime application/dicom in a/b"


def test_failed_rescoring_clears_rank_and_findings_and_the_viewer_says_so(svc, tmp_path) -> None:
    client = TestClient(create_app(services=svc))
    token = add_user(svc.db, "rad", "radiologist")
    rad = {"Authorization": f"Bearer {token}"}
    ids = []
    for i in range(2):
        _, paths = write_series(tmp_path / f"s{i}", seed=i, patient_id=f"P{i}")
        files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
        ids.append(client.post("/studies", files=files, headers=rad).json()["study_ids"][0])
    Worker(svc.db, svc.files, TinyNetScorer(), completion_timeout_s=0).run_once()
    failing, other = ids
    assert client.get(f"/studies/{failing}", headers=rad).json()["findings"]
    with svc.db.session() as session:  # new images arrived: the study is scored again
        session.execute(update(Study).where(Study.id == failing).values(status=StudyStatus.PENDING))
    scratch = tmp_path / "scratch"
    assert Worker(svc.db, svc.files, _BrokenScorer(scratch), completion_timeout_s=0).run_once()

    study = client.get(f"/studies/{failing}", headers=rad).json()
    assert study["status"] == "failed" and study["scoring_failed"] is True
    assert study["urgency_rank"] == UNSCORED_RANK and study["urgency"] == "unscored"
    assert study["findings"] == [] and study["predictions"] == [] and study["heatmaps"] == []
    assert study["top_score"] is None and study["top_abnormality"] == ""
    assert study["error"] == "OSError: cannot read '<path>/volume.npy'"
    assert str(tmp_path) not in study["error"]
    order = [s["id"] for s in client.get("/studies", headers=rad).json()]
    assert order == [other, failing]
    assert client.get(f"/studies/{other}", headers=rad).json()["scoring_failed"] is False

    client.post("/login", data={"token": token}, follow_redirects=False)
    page = client.get(f"/view/{failing}").text
    assert 'id="scoring-failed"' in page and 'data-state="failed"' in page
    assert "Scoring failed: OSError: cannot read &#39;&lt;path&gt;/volume.npy&#39;" in page
    assert "<canvas" not in page and str(tmp_path) not in page
    assert "<canvas" in client.get(f"/view/{other}").text
