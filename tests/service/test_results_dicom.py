"""The DICOM results of a scored study (highdicom SR + Parametric Map), parsed back with pydicom."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _support.service import TinyNetScorer, write_series
from pydicom import Dataset
from sqlalchemy import select

from radlens.data.volumes import Volume, load_volume
from radlens.errors import ServiceError
from radlens.service.files import FileStore
from radlens.service.ingest import ingest_dicom_files
from radlens.service.results_codes import finding_code, site_codes
from radlens.service.results_dicom import (
    FindingResult,
    StudyResults,
    build_measurement_report,
    build_parametric_maps,
    heatmap_on_sources,
    load_study_results,
    study_results_datasets,
)
from radlens.service.store import Database, Finding, Heatmap
from radlens.service.worker import Worker

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
PM_CLASS = "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map


@pytest.fixture
def scored(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = FileStore(tmp_path / "files")
    uid, paths = write_series(tmp_path / "series", seed=3)
    result = ingest_dicom_files(db, files, [(p.name, p.read_bytes()) for p in paths])
    assert Worker(db, files, TinyNetScorer(), completion_timeout_s=0).run_once() == 1
    yield db, files, result.study_ids[0], uid, paths
    db.dispose()


def _roundtrip(ds: Dataset) -> Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def _items(content: Dataset):
    """Every content item of an SR tree, depth first."""
    for item in getattr(content, "ContentSequence", []):
        yield item
        yield from _items(item)


def _groups(sr: Dataset) -> list[list[Dataset]]:
    """The content items of each TID 1501 Measurement Group (DCM 125007)."""
    return [
        list(_items(item))
        for item in _items(sr)
        if item.ValueType == "CONTAINER" and item.ConceptNameCodeSequence[0].CodeValue == "125007"
    ]


def _named(items: list[Dataset], code_value: str) -> list[Dataset]:
    return [i for i in items if i.ConceptNameCodeSequence[0].CodeValue == code_value]


def test_sr_references_the_source_study_and_carries_each_finding(scored) -> None:
    db, files, study_id, uid, paths = scored
    sr, *maps = study_results_datasets(db, files, study_id)
    sr = _roundtrip(sr)
    assert sr.SOPClassUID == SR_CLASS and sr.StudyInstanceUID == uid
    assert sr.PatientID == "P0001"
    (evidence,) = sr.CurrentRequestedProcedureEvidenceSequence
    assert evidence.StudyInstanceUID == uid
    referenced = {
        ref.ReferencedSOPInstanceUID
        for series in evidence.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert referenced == {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    assert sr.ConceptNameCodeSequence[0].CodeValue == "126000"  # Imaging Measurement Report
    with db.session() as session:
        stored = session.scalars(select(Finding).where(Finding.study_id == study_id)).all()
        expected = {(f.abnormality, f.location): (f.status, f.score) for f in stored}
    groups = _groups(sr)
    assert len(groups) == len(expected) == 6
    certainty = {"present": "52101004", "absent": "272519000", "uncertain": "64957009"}
    seen = set()
    for items in groups:
        (ident,) = _named(items, "112039")  # Tracking Identifier "abnormality@location"
        abnormality, location = ident.TextValue.split("@")
        status, score = expected[(abnormality, location)]
        seen.add(abnormality)
        (finding,) = _named(items, "121071")  # Finding
        code = finding.ConceptCodeSequence[0]
        assert (code.CodeValue, code.CodingSchemeDesignator) == (
            finding_code(abnormality).value,
            "SCT",
        )
        (probability,) = _named(items, "122157")
        measured = probability.MeasuredValueSequence[0]
        assert float(measured.NumericValue) == pytest.approx(score, abs=1e-6)
        assert measured.MeasurementUnitsCodeSequence[0].CodeValue == "1"
        (status_item,) = _named(items, "111012")  # Certainty of Finding
        assert status_item.ConceptCodeSequence[0].CodeValue == certainty[status]
        (site,) = _named(items, "363698007")  # Finding Site
        assert site.ConceptCodeSequence[0].CodeValue == site_codes(location)[0].value
        versions = {i.TextValue for i in _named(items, "111003")}  # Algorithm Version
        assert versions == {f"0.1.0+{TinyNetScorer.model_version}"}
    assert seen == {"pneumothorax", "pleural_effusion", "mass", "nodule", "consolidation",
                    "emphysema"}  # fmt: skip
    assert len(maps) == 1


def test_finding_and_site_codes_use_snomed_else_the_private_scheme() -> None:
    # hand-checked SNOMED CT concept ids
    assert finding_code("pleural_effusion").value == "60046008"
    assert finding_code("pneumothorax").value == "36118008"
    assert finding_code("consolidation").value == "95436008"
    assert finding_code("nodule").value == "27925004"
    private = finding_code("ground_glass_opacity")
    assert (private.scheme_designator, private.value) == ("99RADLENS", "ground_glass_opacity")
    location, side = site_codes("left_pleura")
    assert (location.value, side.value) == ("3120008", "7771000")
    assert site_codes("lingula")[0].scheme_designator == "99RADLENS"


def test_sr_declares_the_private_scheme_and_keeps_findings_without_a_site(scored) -> None:
    db, files, study_id, _uid, _paths = scored
    results = load_study_results(db, files, study_id)
    results.findings = [FindingResult("ground_glass_opacity", None, "absent", 0.125)]
    sr = _roundtrip(build_measurement_report(results))
    (items,) = _groups(sr)
    code = _named(items, "121071")[0].ConceptCodeSequence[0]
    assert code.CodingSchemeDesignator == "99RADLENS"
    assert code.CodeMeaning == "ground glass opacity"
    assert not _named(items, "363698007")
    assert _named(items, "111012")[0].ConceptCodeSequence[0].CodeValue == "272519000"
    schemes = {s.CodingSchemeDesignator for s in sr.CodingSchemeIdentificationSequence}
    assert "99RADLENS" in schemes


def test_parametric_map_is_on_the_source_grid_and_frame_of_reference(scored) -> None:
    db, files, study_id, uid, paths = scored
    _sr, pm = study_results_datasets(db, files, study_id)
    pm = _roundtrip(pm)
    sources = sorted(
        (pydicom.dcmread(p) for p in paths), key=lambda d: float(d.ImagePositionPatient[2])
    )
    assert pm.SOPClassUID == PM_CLASS and pm.StudyInstanceUID == uid
    assert pm.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert int(pm.NumberOfFrames) == len(sources)
    assert (pm.Rows, pm.Columns) == (sources[0].Rows, sources[0].Columns)
    refs = {
        ref.ReferencedSOPInstanceUID
        for frame in pm.PerFrameFunctionalGroupsSequence
        for derivation in frame.DerivationImageSequence
        for ref in derivation.SourceImageSequence
    }
    assert refs == {s.SOPInstanceUID for s in sources}
    positions = [
        [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
        for f in pm.PerFrameFunctionalGroupsSequence
    ]
    by_uid = {s.SOPInstanceUID: [float(v) for v in s.ImagePositionPatient] for s in sources}
    frame_sources = [
        f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for f in pm.PerFrameFunctionalGroupsSequence
    ]
    assert positions == [by_uid[u] for u in frame_sources]  # each frame on its source slice
    with db.session() as session:
        sha = session.scalar(select(Heatmap.sha256).where(Heatmap.study_id == study_id))
    heat = np.load(io.BytesIO(files.read_bytes(sha))).astype(np.float32)
    # same grid as the scored volume: each frame is the heatmap slice at the frame's position
    volume_z = [round(float(p[2]), 3) for p in load_volume(paths[0].parent).slice_positions()]
    expected = heat[[volume_z.index(round(p[2], 3)) for p in positions]]
    (mapping,) = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence
    assert float(mapping.RealWorldValueSlope) == pytest.approx(1 / 65535)
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "1"
    np.testing.assert_allclose(pm.pixel_array * (1 / 65535), expected, atol=1 / 65535)


def _fake_source(z: float, rows: int = 3, cols: int = 2) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns = rows, cols
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.PixelSpacing = [1.0, 1.0]
    return ds


def test_heatmap_follows_the_source_position_not_the_list_order() -> None:
    volume = Volume(array=np.zeros((4, 3, 2), np.float32), spacing=(2, 1, 1), origin=(0, 0, 0))
    heat = np.arange(24, dtype=np.float32).reshape(4, 3, 2) / 23
    frames = heatmap_on_sources(heat, volume, [_fake_source(6.0), _fake_source(0.0)])
    np.testing.assert_allclose(frames, heat[[3, 0]], atol=1e-6)
    # a heatmap at half the volume's z resolution: slice z=2 mm (index 1) lies between
    # heat slices 0 and 1 at heat index (1 + 0.5) * 2 / 4 - 0.5 = 0.25
    half = heat[::2]
    (frame,) = heatmap_on_sources(half, volume, [_fake_source(2.0)])
    np.testing.assert_allclose(frame, 0.75 * half[0] + 0.25 * half[1], atol=1e-6)


def test_an_unscored_study_has_no_results(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = FileStore(tmp_path / "files")
    _uid, paths = write_series(tmp_path / "series", seed=1)
    (study_id,) = ingest_dicom_files(db, files, [(p.name, p.read_bytes()) for p in paths]).study_ids
    with pytest.raises(ServiceError, match=r"study id \d+ is pending; only scored"):
        load_study_results(db, files, study_id)
    with pytest.raises(ServiceError, match="no source instances"):
        build_measurement_report(StudyResults("1.2.3", "m", [], []))
    multi_frame = Dataset()  # an Enhanced CT instance: positions per frame, none at the top
    volume = Volume(array=np.zeros((2, 3, 2), np.float32), spacing=(1, 1, 1), origin=(0, 0, 0))
    results = StudyResults("1.2.3", "m", [], [multi_frame], volume, {"mass": np.zeros((2, 3, 2))})
    with pytest.raises(ServiceError, match="need single-frame source slices"):
        build_parametric_maps(results)
    db.dispose()
