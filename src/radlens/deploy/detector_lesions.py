"""Lesion candidates of a new CT study from a detector run (`radlens train --task detection`:
nodules, or masses with `--findings mass`), in the same form as a segmentation run's
(`LesionResult`), for the service's viewer, draft report and triage.

Rules (all in one place):

- the run's detector finds and scores blob candidates on its grid (`NoduleDetector.detect_volume`:
  the study resampled to the run's spacing; canonical study, index i on the detection grid is
  i * run spacing / study spacing on the study's);
- study score: the highest candidate score, which replaces the classifier's score for the
  finding (measured: benchmarks/results/README.md "Nodule detection" and "Masses", the detector
  ranks studies with the finding above those without better than the classifier does);
- listed candidates: score >= `threshold`, highest first, at most `max_candidates`; one closer
  to a listed, higher-scoring one than the larger of their two blob radii is the same blob (a
  lesion found at two scales) and is dropped, and so is one whose centre lies in a listed one's
  extent (a mass found at several spots);
- extent and size: `radlens.data.blob_extent` on the study's own HU grid (a threshold halfway
  between the blob's core and the lung around it), kept inside the lung region the candidates
  came from (the detection grid's, grown by `LUNG_MARGIN_VOXELS` there: a lung lesion against
  the chest wall or mediastinum does not take their soft tissue into its extent); for a plaque
  detector (dense-peak candidates) the voxels at or above the detector's `min_hu` within the
  candidate's blob radius (a plaque is a few millimetres; the midpoint rule would follow the
  bone or vessel it lies on); either measured as a segmentation component is
  (`radlens.evaluation.lesion_candidates`: volume, equivalent and longest axial diameter); a
  candidate without contrast there keeps a ball of its blob radius (scale x sqrt(3)), marked
  `measured=False`; a voxel two candidates claim keeps the higher-scoring one;
- side: patient right or left of the body's midline (as `SegmentationScorer`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from radlens.data import blob_extent
from radlens.data.volumes import Volume
from radlens.deploy.lesions import MAX_CANDIDATES, LesionResult, StudyLesion, body_side
from radlens.deploy.run_loading import load_named_run
from radlens.errors import ModelError
from radlens.evaluation import lesion_candidates
from radlens.training import is_detector_run, load_detector

__all__ = ["DetectorScorer"]

log = logging.getLogger(__name__)

#: a lung lesion's extent may reach this many voxels past the lung region (its pleural edge)
LUNG_MARGIN_VOXELS = 1


def _loader(device: str):
    def load(run_dir: Path):
        if not is_detector_run(run_dir):
            raise ModelError("no detector.pt + detector.json: not a nodule detector run")
        return load_detector(run_dir, device=device)

    return load


class DetectorScorer:
    """A detector run as the service's finder of its finding's lesions (module's rules)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        threshold: float = 0.5,
        max_candidates: int = MAX_CANDIDATES,
        device: str = "cpu",
    ) -> None:
        self.run_dir = Path(run_dir)
        if not 0.0 < threshold < 1.0:
            raise ModelError(f"detector threshold {threshold}: expected a value in (0, 1)")
        self.detector = load_named_run(
            _loader(device), self.run_dir, "--detector-run", "radlens train --task detection"
        )
        self.finding = self.detector.config.finding
        self.findings = (self.finding,)
        self.threshold, self.max_candidates = threshold, max_candidates
        digest = hashlib.sha256((self.run_dir / "detector.pt").read_bytes()).hexdigest()
        self.model_version = f"{self.run_dir.name}@{digest[:12]}"
        log.info("detector %s: %s", self.model_version, self.finding)

    def _listed(self, found, scores: np.ndarray, ratio: np.ndarray, study_sp) -> list[tuple]:
        """(score, study-grid centre, blob radius mm) of the listed candidates (module's rules)."""
        listed: list[tuple] = []
        for i in np.argsort(-scores, kind="stable"):
            if scores[i] < self.threshold or len(listed) == self.max_candidates:
                break
            centre = found.centres[i] * ratio
            radius = float(found.scales_mm[i]) * math.sqrt(3.0)
            if any(np.linalg.norm((centre - c) * study_sp) <= max(radius, r) for _, c, r in listed):
                continue
            listed.append((float(scores[i]), centre, radius))
        return listed

    def _extent(self, volume: Volume, centre, radius: float, sp: np.ndarray, lungs) -> tuple:
        """(box, mask on the box, measured) of a listed candidate (module's rules); `lungs`: the
        grown lung region of a lung-blob detector's study (else None)."""
        config = self.detector.config
        if config.candidates == "mediastinal_peaks":
            box, ball = _ball_box(volume.shape, centre, radius, sp)
            dense = ball & (volume.array[box] >= config.min_hu)
            return (box, dense, True) if dense.any() else (box, ball, False)
        extent = blob_extent(volume.array, sp, centre, radius, region=lungs)
        if extent is None:
            return (*_ball_box(volume.shape, centre, radius, sp), False)
        return extent.box, extent.mask, True

    def _lungs(self, region: np.ndarray, shape, ratio: np.ndarray) -> np.ndarray | None:
        """The detection grid's candidate region of a lung-blob detector, grown by
        `LUNG_MARGIN_VOXELS` there, on the study's grid (nearest detection voxel); else None."""
        if self.detector.config.candidates != "lung_blobs":
            return None
        if LUNG_MARGIN_VOXELS:
            region = ndimage.binary_dilation(region, iterations=LUNG_MARGIN_VOXELS)
        index = [np.clip(np.rint(np.arange(n) / r).astype(int), 0, m - 1)
                 for n, r, m in zip(shape, ratio, region.shape, strict=True)]  # fmt: skip
        return region[np.ix_(*index)]

    def lesions(self, volume: Volume) -> LesionResult:
        """The study's listed candidates (highest score first), their label volume and the study
        score of the finding."""
        found, scores, _, region = self.detector.detect_volume(volume)
        study_sp = np.asarray(volume.spacing, dtype=float)
        ratio = np.asarray(self.detector.config.spacing, dtype=float) / study_sp
        labels = np.zeros(volume.shape, dtype=np.uint16)
        lungs, lesions = self._lungs(region, volume.shape, ratio), []
        for score, centre, radius in self._listed(found, scores, ratio, study_sp):
            at = tuple(np.clip(np.rint(centre), 0, np.asarray(volume.shape) - 1).astype(int))
            if labels[at]:  # inside a higher-scoring candidate's extent: the same lesion
                continue
            number = len(lesions) + 1
            box, mask, measured = self._extent(volume, centre, radius, study_sp, lungs)
            target = labels[box]  # a view: painted in place
            target[mask & (target == 0)] = number
            comp = lesion_candidates(mask, study_sp, threshold=0.5)[0]  # on the box
            start = np.array([b.start for b in box], dtype=float)
            z = comp.axial_slice + box[0].start
            centre_voxel = tuple(float(v) for v in np.asarray(comp.centre_voxel) + start)
            lesions.append(StudyLesion(
                label=number, finding=self.finding, score=score, volume_ml=comp.volume_mm3 / 1e3,
                diameter_mm=comp.longest_axial_diameter_mm,
                equivalent_diameter_mm=comp.equivalent_diameter_mm, axial_slice=z,
                centre_voxel=centre_voxel, side=body_side(volume, z, centre_voxel[2]),
                measured=measured,
            ))  # fmt: skip
        top = float(scores.max()) if len(scores) else 0.0
        return LesionResult(lesions, labels, {self.finding: top})


def _ball_box(shape, centre, radius_mm: float, sp: np.ndarray) -> tuple[tuple, np.ndarray]:
    """The box and mask of a ball of `radius_mm` around `centre` (at least its centre voxel)."""
    c = np.clip(np.rint(centre), 0, np.asarray(shape) - 1).astype(int)
    reach = np.ceil(radius_mm / sp).astype(int)
    box = tuple(
        slice(max(ci - r, 0), min(ci + r + 1, n)) for ci, r, n in zip(c, reach, shape, strict=True)
    )
    grids = np.ogrid[tuple(slice(b.start, b.stop) for b in box)]
    d2 = sum(((g - ci) * s) ** 2 for g, ci, s in zip(grids, c, sp, strict=True))
    mask = d2 <= radius_mm**2
    mask[tuple(ci - b.start for ci, b in zip(c, box, strict=True))] = True
    return box, mask
