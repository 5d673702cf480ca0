"""Issue 18 item 3: the worker runs the chest-CT fitness check (`radlens.data.fitness_problems`)
before scoring; a study that fails it is `not_scorable: <reasons>`, never ranked by a score."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.service import TinyNetScorer, write_series
from fastapi.testclient import TestClient
from pydicom.data import get_testdata_file
from sqlalchemy import select

from radlens.data import DEFAULT_FITNESS
from radlens.service.app import Services, create_app
from radlens.service.auth import add_user
from radlens.service.files import FileStore
from radlens.service.ingest import ingest_dicom_files
from radlens.service.settings import Settings
from radlens.service.store import UNSCORED_RANK, Database, Study, StudyStatus
from radlens.service.uploads import UploadError
from radlens.service.worker import Worker
from radlens.service.worklist import worklist


@pytest.fixture
def store(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield db, FileStore(tmp_path / "files")
    db.dispose()


def _ingest(store, paths: list[Path]) -> int:
    db, files = store
    result = ingest_dicom_files(db, files, [(Path(p).name, Path(p).read_bytes()) for p in paths])
    return result.study_ids[0]


def _score_all(store, fitness) -> None:
    db, files = store
    Worker(db, files, TinyNetScorer(), completion_timeout_s=0, fitness=fitness).run_once()


def _study(store, study_id: int) -> Study:
    with store[0].session() as session:
        return session.get(Study, study_id)


def test_ct_small_and_five_slices_are_not_scorable(store, tmp_path) -> None:
    ct_small = _ingest(store, [get_testdata_file("CT_small.dcm")])
    five = _ingest(store, write_series(tmp_path / "five", seed=1, shape=(5, 24, 24))[1])
    chest = _ingest(store, write_series(tmp_path / "chest", seed=2, shape=(80, 24, 24))[1])
    _score_all(store, DEFAULT_FITNESS)
    for study_id, slices in ((ct_small, "1 slice"), (five, "5 slices")):
        study = _study(store, study_id)
        assert study.status == StudyStatus.NOT_SCORABLE
        assert study.error.startswith("not scorable: ") and slices in study.error
        assert study.urgency_rank == UNSCORED_RANK and study.top_score is None
    assert _study(store, chest).status == StudyStatus.SCORED
    rows = worklist(store[0])
    assert rows[0]["id"] == chest  # the only ranked study comes first
    assert {r["id"]: r["error"] for r in rows[1:]}.keys() == {ct_small, five}
    assert all(r["error"].startswith("not scorable: ") for r in rows[1:])


def test_without_rules_everything_is_scored(store, tmp_path) -> None:
    study_id = _ingest(store, write_series(tmp_path / "five", seed=1, shape=(5, 24, 24))[1])
    _score_all(store, None)
    assert _study(store, study_id).status == StudyStatus.SCORED


def test_rules_come_from_a_settings_yaml(store, tmp_path) -> None:
    rules = tmp_path / "fitness.yaml"
    rules.write_text("min_slices: 4\nmin_z_extent_mm: 5\n")
    settings = Settings(service_dir=tmp_path / "svc", fitness_rules=rules)
    study_id = _ingest(store, write_series(tmp_path / "five", seed=1, shape=(5, 24, 24))[1])
    _score_all(store, settings.fitness_in_force())
    assert _study(store, study_id).status == StudyStatus.SCORED
    assert Settings(service_dir=tmp_path, check_fitness=False).fitness_in_force() is None
    assert Settings(service_dir=tmp_path).fitness_in_force() == DEFAULT_FITNESS


def test_mr_small_is_refused_before_it_is_stored(store) -> None:
    with pytest.raises(UploadError, match="modality is 'MR'"):
        _ingest(store, [get_testdata_file("MR_small.dcm")])
    with store[0].session() as session:
        assert session.scalar(select(Study)) is None


def test_pages_show_not_scorable_in_its_own_section(tmp_path) -> None:
    svc = Services.build(Settings(service_dir=tmp_path / "svc", enable_dicom=False))
    try:
        study_id = _ingest((svc.db, svc.files), [get_testdata_file("CT_small.dcm")])
        _score_all((svc.db, svc.files), DEFAULT_FITNESS)
        client = TestClient(create_app(services=svc))
        headers = {"Authorization": f"Bearer {add_user(svc.db, 'rad', 'radiologist')}"}
        page = client.get("/", headers=headers).text
        assert 'id="not-scorable"' in page and "Not scorable" in page
        view = client.get(f"/view/{study_id}", headers=headers)
        assert view.status_code == 200
        assert 'id="not-scorable"' in view.text and "1 slice" in view.text
    finally:
        svc.db.dispose()
