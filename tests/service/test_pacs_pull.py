"""Pull a study from a real Orthanc: C-FIND + C-GET, C-FIND + C-MOVE, DICOMweb (QIDO-RS +
WADO-RS through Orthanc's DicomWeb plugin), `radlens fetch --ingest`, and the errors."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from _support.orthanc import orthanc_server
from _support.service import write_series
from _support.service_fixtures import free_port
from sqlalchemy import func, select

from radlens.cli import main
from radlens.errors import ServiceError
from radlens.service.dicom_address import DicomAddress
from radlens.service.files import FileStore
from radlens.service.pacs_pull import fetch_dicomweb, fetch_dimse, find_study, ingest_fetched
from radlens.service.settings import Settings
from radlens.service.store import Database, Instance, Series, Study

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory):
    """One Orthanc (+ DicomWeb) holding one synthetic CT study; RADLENS known for C-MOVE."""
    tmp = tmp_path_factory.mktemp("pacs")
    move_port = free_port()
    modalities = {"radlens": ["RADLENS", "127.0.0.1", move_port]}
    uid, paths = write_series(tmp / "series", seed=11, patient_id="PULL1")
    with orthanc_server(tmp, modalities=modalities, dicomweb=True) as orthanc:
        for path in paths:
            orthanc.upload(path.read_bytes())
        sops = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
        peer = DicomAddress(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
        yield orthanc, peer, uid, sops, move_port


def _sops(files: list[Path]) -> set[str]:
    return {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in files}


def test_c_find_then_c_get_and_ingest(pacs, tmp_path: Path) -> None:
    _orthanc, peer, uid, sops, _port = pacs
    result = fetch_dimse(peer, uid, tmp_path / "got", method="get")
    assert result.method == "C-GET" and result.found["PatientID"] == "PULL1"
    assert result.found["NumberOfStudyRelatedInstances"] == "8"
    assert _sops(result.files) == sops
    assert sorted(p.name for p in (tmp_path / "got").iterdir()) == sorted(f"{s}.dcm" for s in sops)
    other = pydicom.dcmread(result.files[0])  # a non-CT object in the fetched study
    other.Modality, other.SOPInstanceUID = "SR", pydicom.uid.generate_uid()
    other.save_as(tmp_path / "sr.dcm")
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = [*result.files, tmp_path / "sr.dcm"]
    ingested, skipped = ingest_fetched(db, FileStore(tmp_path / "files"), files)
    assert ingested.new_instances == 8 and skipped == ["sr.dcm: Modality SR"]
    with db.session() as session:
        study = session.scalar(select(Study).where(Study.study_uid == uid))
        assert study.source == "fetch"
        n = session.scalar(
            select(func.count(Instance.id)).join(Series).where(Series.study_id == study.id)
        )
        assert n == 8
    db.dispose()


def test_c_move_to_our_own_storage_scp(pacs, tmp_path: Path) -> None:
    _orthanc, peer, uid, sops, move_port = pacs
    result = fetch_dimse(peer, uid, tmp_path / "moved", method="move", move_port=move_port)
    assert result.method == "C-MOVE" and _sops(result.files) == sops


def test_dicomweb_qido_then_wado(pacs, tmp_path: Path) -> None:
    orthanc, _peer, uid, sops, _port = pacs
    result = fetch_dicomweb(orthanc.dicomweb, uid, tmp_path / "web")
    assert result.method == "DICOMweb" and result.found["PatientID"] == "PULL1"
    assert _sops(result.files) == sops
    first = pydicom.dcmread(result.files[0])
    assert first.StudyInstanceUID == uid and first.pixel_array.shape == (24, 24)


def test_unknown_study_and_unreachable_peer_are_specific_errors(pacs, tmp_path: Path) -> None:
    orthanc, peer, _uid, _sops, _port = pacs
    with pytest.raises(ServiceError, match=r"has no study with StudyInstanceUID 1\.2\.3\.4"):
        find_study(peer, "1.2.3.4")
    with pytest.raises(ServiceError, match=r"QIDO-RS\) has no study with StudyInstanceUID 1\.2"):
        fetch_dicomweb(orthanc.dicomweb, "1.2.3.4", tmp_path / "none")
    with pytest.raises(ServiceError, match="association refused or no answer"):
        find_study(DicomAddress("NOBODY", "127.0.0.1", free_port()), "1.2.3.4")


def test_radlens_fetch_command_ingests(
    pacs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _orthanc, peer, uid, _sops, _port = pacs
    monkeypatch.setenv("RADLENS_SERVICE_DIR", str(tmp_path / "svc"))
    out = tmp_path / "cli"
    argv = ["fetch", "--from", str(peer), "--study", uid, "--out", str(out), "--ingest"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"fetched 8 instance(s) of {uid} by C-GET" in printed and "8 new" in printed
    db = Database(Settings.from_env().resolved_database_url)
    with db.session() as session:
        assert session.scalar(select(Study).where(Study.study_uid == uid)) is not None
    db.dispose()
    assert main(["fetch", "--study", uid, "--out", str(out)]) == 2
    assert "exactly one of --from" in capsys.readouterr().err
    assert main(["fetch", "--from", "PACS-no-port", "--study", uid, "--out", str(out)]) == 2
    assert "expected AE@HOST:PORT" in capsys.readouterr().err
