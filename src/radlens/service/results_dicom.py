"""A scored study's results as DICOM, built with highdicom, for sending back to the PACS.

- `build_measurement_report`: a Comprehensive 3D SR holding a TID 1500 Measurement Report. Its
  evidence is the scored source series (Current Requested Procedure Evidence Sequence, same
  Study Instance UID). Each finding is one TID 1501 measurement group: Finding (SNOMED CT where one
  exists, else the private scheme `99RADLENS`, see `radlens.service.results_codes`), Finding Site
  (+ Laterality), the model's probability as a Measurement (DCM 122157 "Probability", UCUM unit
  "1"), the status as a Qualitative Evaluation (Certainty of Finding: Present / Absent / Uncertain)
  and the algorithm (name "radlens", version "<radlens version>+<model version>", the model
  version, i.e. run name @ checkpoint digest, also as parameter "model=...").
- `build_parametric_maps`: one DICOM Parametric Map per Grad-CAM heatmap (16-bit frames with a
  Real World Value Mapping back to [0, 1], one per source slice, on the source series' grid and
  Frame of Reference, source images referenced per frame). A Parametric Map keeps the heatmap
  as numbers a viewer can window and fuse, which a Secondary Capture with burnt-in colours
  cannot; highdicom builds it from the source images, so the geometry is the source's.
- `study_results_datasets(db, files, study_id)`: both, for a scored study of the store.

The heatmap (Z, Y, X) lives in the scored volume's array space (`load_volume`, reoriented to
standard axial); each source pixel's LPS position is mapped back into it through the volume's
affine and sampled linearly (`scipy.ndimage.map_coordinates`), so any source orientation works.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr import CodedConcept
from pydicom import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from scipy.ndimage import map_coordinates
from sqlalchemy import select

from radlens import __version__
from radlens.data.volumes import Volume, load_volume
from radlens.errors import ServiceError
from radlens.service.files import FileStore
from radlens.service.results_codes import (
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    finding_code,
    site_codes,
    status_code,
)
from radlens.service.store import Database, Finding, Heatmap, Study, StudyStatus
from radlens.service.worker import materialise_series

log = logging.getLogger(__name__)
MANUFACTURER = "radlens"
SR_SERIES_NUMBER = 9901
MAP_SERIES_NUMBER = 9902
PROBABILITY = CodedConcept(codes.DCM.Probability.value, "DCM", codes.DCM.Probability.meaning)
UNIT_ONE = CodedConcept("1", "UCUM", "no units")
CERTAINTY = CodedConcept(
    codes.DCM.CertaintyOfFinding.value, "DCM", codes.DCM.CertaintyOfFinding.meaning
)
CT_CHEST = CodedConcept("418023006", "SCT", "CT of chest")  # the procedure reported
#: heatmaps are stored as 16-bit integers, value = round(heat * HEAT_LEVELS); the Real World
#: Value Mapping (slope 1 / HEAT_LEVELS) gives the heat back in [0, 1] (half a float32's size)
HEAT_LEVELS = 65535


@dataclass(frozen=True)
class FindingResult:
    """One stored finding of a scored study."""

    abnormality: str
    location: str | None
    status: str  # present | uncertain | absent
    score: float | None


@dataclass
class StudyResults:
    """What the DICOM results are built from: the scored series (headers, ordered as the
    volume's slices), its volume geometry, the findings and heatmaps, the model version."""

    study_uid: str
    model_version: str
    findings: list[FindingResult]
    sources: list[Dataset]
    volume: Volume | None = None
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)


def load_study_results(db: Database, files: FileStore, study_id: int) -> StudyResults:
    """The results of a scored study of the store; ServiceError when it is not scored or was
    not DICOM (a NIfTI upload has no source instances to reference)."""
    with db.session() as session:
        study = session.get(Study, study_id)
        if study is None or study.status != StudyStatus.SCORED:
            state = "missing" if study is None else study.status.value
            raise ServiceError(f"study id {study_id} is {state}; only scored studies have results")
        findings = [
            FindingResult(f.abnormality, f.location, f.status, f.score)
            for f in session.scalars(
                select(Finding).where(Finding.study_id == study_id).order_by(Finding.id)
            )
        ]
        blobs = {
            h.abnormality: h.sha256
            for h in session.scalars(select(Heatmap).where(Heatmap.study_id == study_id))
        }
        uid, version = study.study_uid, study.model_version
    with tempfile.TemporaryDirectory(prefix="radlens-results-") as tmp:
        source = materialise_series(db, files, study_id, Path(tmp))
        if not source.is_dir():
            raise ServiceError(
                f"study id {study_id} came from a NIfTI upload; DICOM results need DICOM sources"
            )
        volume = load_volume(source)
        sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(source.iterdir())]
    heatmaps = {k: np.load(io.BytesIO(files.read_bytes(s))) for k, s in sorted(blobs.items())}
    if all("ImagePositionPatient" in ds for ds in sources):  # single-frame slices
        sources.sort(key=lambda d: float(_slice_normal(d) @ np.asarray(d.ImagePositionPatient)))
    return StudyResults(uid, version, findings, sources, volume, heatmaps)


def _slice_normal(ds: Dataset) -> np.ndarray:
    iop = np.asarray(ds.ImageOrientationPatient, dtype=np.float64)
    return np.cross(iop[:3], iop[3:])


def algorithm(model_version: str) -> hd.sr.AlgorithmIdentification:
    """Algorithm Identification: name radlens, version "<radlens version>+<model version>" (the
    model version is the run name @ checkpoint digest), the model version also as a parameter."""
    return hd.sr.AlgorithmIdentification(
        name="radlens",
        version=f"{__version__}+{model_version}"[:64],
        parameters=[f"model={model_version}"],
    )


def _finding_group(
    index: int, finding: FindingResult, model_version: str
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    sites = []
    if finding.location:
        location, laterality = site_codes(finding.location)
        sites.append(hd.sr.FindingSite(location, laterality=laterality))
    measurements = []
    if finding.score is not None:
        measurements.append(
            hd.sr.Measurement(
                name=PROBABILITY,
                value=float(finding.score),
                unit=UNIT_ONE,
                algorithm_id=algorithm(model_version),
            )
        )
    label = finding.abnormality + (f"@{finding.location}" if finding.location else "")
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=label[:64]),
        finding_type=finding_code(finding.abnormality),
        finding_sites=sites or None,
        algorithm_id=algorithm(model_version),
        measurements=measurements or None,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(CERTAINTY, status_code(finding.status))
        ],
        session=f"finding {index + 1}",
    )


def _device_context(model_version: str) -> hd.sr.ObservationContext:
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(),
        name="radlens",
        manufacturer_name=MANUFACTURER,
        model_name=model_version[:64] or "unknown",
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device, observer_identifying_attributes=device
    )
    return hd.sr.ObservationContext(observer_device_context=observer)


def build_measurement_report(results: StudyResults) -> hd.sr.Comprehensive3DSR:
    """The study's findings as a TID 1500 Measurement Report in a Comprehensive 3D SR."""
    if not results.sources:
        raise ServiceError(f"study {results.study_uid} has no source instances to reference")
    groups = [_finding_group(i, f, results.model_version) for i, f in enumerate(results.findings)]
    report = hd.sr.MeasurementReport(
        observation_context=_device_context(results.model_version),
        procedure_reported=CT_CHEST,
        imaging_measurements=groups or None,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=results.sources,
        content=report,
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,  # a draft until a radiologist signs the report
        is_verified=False,
    )
    sr.SeriesDescription = "radlens triage findings"
    scheme = Dataset()
    scheme.CodingSchemeDesignator = PRIVATE_SCHEME
    scheme.CodingSchemeName = PRIVATE_SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = "radlens"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def heatmap_on_sources(heat: np.ndarray, volume: Volume, sources: list[Dataset]) -> np.ndarray:
    """(len(sources), Rows, Columns) float32: `heat` (Z, Y, X in `volume`'s array space, any
    size) sampled at each source pixel's LPS position (linear, clipped to [0, 1])."""
    heat = np.asarray(heat, np.float32)
    inverse = np.linalg.inv(volume.affine)  # LPS -> (x, y, z) index of the volume
    scale = np.asarray(heat.shape, np.float64) / np.asarray(volume.shape, np.float64)
    frames = []
    for ds in sources:
        rows, cols = int(ds.Rows), int(ds.Columns)
        iop = np.asarray(ds.ImageOrientationPatient, np.float64)
        dr, dc = (float(v) for v in ds.PixelSpacing)  # between rows, between columns
        # LPS of pixel (r, c) = position + c * dc * row direction + r * dr * column direction;
        # the heatmap index is affine in (c, r): per axis, offset + c * step_c + r * step_r
        to_zyx = inverse[:3, :3][::-1]  # rows give z, y, x
        step_c = to_zyx @ (iop[:3] * dc) * scale
        step_r = to_zyx @ (iop[3:] * dr) * scale
        origin = np.asarray(ds.ImagePositionPatient, np.float64)
        offset = (to_zyx @ origin + inverse[:3, 3][::-1] + 0.5) * scale - 0.5
        c = np.arange(cols, dtype=np.float32)[None, None, :]
        r = np.arange(rows, dtype=np.float32)[None, :, None]
        coords = (
            offset.astype(np.float32)[:, None, None]
            + step_c.astype(np.float32)[:, None, None] * c
            + step_r.astype(np.float32)[:, None, None] * r
        )
        frames.append(map_coordinates(heat, coords, order=1, mode="nearest"))
    return np.clip(np.stack(frames), 0.0, 1.0).astype(np.float32)


def build_parametric_maps(results: StudyResults) -> list[hd.pm.ParametricMap]:
    """One Parametric Map per heatmap, all in one new series, on the source series' grid."""
    if not results.heatmaps:
        return []
    if results.volume is None:
        raise ServiceError(f"study {results.study_uid}: heatmaps need the scored volume")
    if not all("ImagePositionPatient" in ds for ds in results.sources):
        raise ServiceError(
            f"study {results.study_uid}: heatmap maps need single-frame source slices "
            "(ImagePositionPatient per instance); a multi-frame series gets the SR only"
        )
    series_uid = generate_uid()
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="gradcam",
        lut_explanation="Grad-CAM relevance",
        unit=UNIT_ONE,
        value_range=(0, HEAT_LEVELS),
        slope=1.0 / HEAT_LEVELS,
        intercept=0.0,
    )
    maps: list[hd.pm.ParametricMap] = []
    for number, (key, heat) in enumerate(results.heatmaps.items(), start=1):
        frames = heatmap_on_sources(np.asarray(heat), results.volume, results.sources)
        pixels = np.round(frames * HEAT_LEVELS).astype(np.uint16)
        maps.append(
            hd.pm.ParametricMap(
                source_images=results.sources,
                pixel_array=pixels,
                series_instance_uid=series_uid,
                series_number=MAP_SERIES_NUMBER,
                sop_instance_uid=generate_uid(),
                instance_number=number,
                manufacturer=MANUFACTURER,
                manufacturer_model_name=results.model_version[:64] or "unknown",
                software_versions=__version__,
                device_serial_number="0",
                contains_recognizable_visual_features=False,
                real_world_value_mappings=[mapping],
                voi_lut_transformations=[
                    hd.VOILUTTransformation(window_center=HEAT_LEVELS / 2, window_width=HEAT_LEVELS)
                ],
                content_label="GRADCAM",
                content_description=f"Grad-CAM {key}"[:64],
            )
        )
        maps[-1].SeriesDescription = "radlens Grad-CAM heatmaps"
    return maps


def study_results_datasets(db: Database, files: FileStore, study_id: int) -> list[Dataset]:
    """The SR then the heatmap Parametric Maps of a scored study of the store (the SR alone,
    with a warning, when the maps cannot be built, e.g. for a multi-frame source series)."""
    results = load_study_results(db, files, study_id)
    sr = build_measurement_report(results)
    try:
        return [sr, *build_parametric_maps(results)]
    except ServiceError as exc:
        log.warning("study id %d: sending the SR without heatmap maps: %s", study_id, exc)
        return [sr]
