"""Lesion candidates of a new CT study from a segmentation run (`radlens train --task
segmentation`), for the service's viewer and draft report; `LesionFinders` merges several finders
(segmentation runs and `radlens.deploy.DetectorScorer`s).

Rules (all in one place):

- the study volume (canonical, z -> S, y -> P, x -> L, as `radlens.data.volumes.load_volume`
  gives it) is resampled to the run's spacing by `radlens.data.volumes.preprocess_volume` and
  windowed per the run's HU windows (the preparation segmentation training used), and
  the run's model predicts it with sliding windows (`radlens.training.predict_volume`);
- candidates per finding are the components of its probability map at >= `threshold`
  (`radlens.evaluation.lesion_candidates`: score = maximum probability, volume, equivalent and
  longest axial diameter), measured in mm on the run's grid; components under
  `min_volume_mm3` are dropped and at most `max_candidates` (the highest scores) are kept;
- their voxels are painted into one label volume on the study's own grid (nearest neighbour:
  volume index i covers run index round(i * study spacing / run spacing)), numbered 1..N over
  all findings (a voxel claimed by two findings keeps the higher-scoring candidate), so the
  viewer draws each candidate's contour on the slices it shows; `axial_slice` and `centre_voxel`
  are given on the study's grid;
- side: patient right or left of the body's midline on the candidate's slice (the centre of the
  voxels above -500 HU); the service names the lobe only where the classifier located it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from monai.transforms import ScaleIntensityRange
from scipy import ndimage

from radlens.core import CHECKPOINT
from radlens.data.volumes import Volume, preprocess_volume
from radlens.deploy.run_loading import load_named_run
from radlens.errors import ModelError
from radlens.evaluation import label_components, lesion_candidates
from radlens.reports import load_vocabulary
from radlens.training import load_segmentation_run, predict_volume

__all__ = [
    "BODY_HU",
    "MAX_CANDIDATES",
    "LesionFinders",
    "LesionResult",
    "SegmentationScorer",
    "StudyLesion",
    "body_side",
]

log = logging.getLogger(__name__)
#: voxels above this HU are the body (for the midline that decides a candidate's side)
BODY_HU = -500.0
#: candidates kept per study (the highest scores; a viewer list, not a probability map)
MAX_CANDIDATES = 50


@dataclass(frozen=True)
class StudyLesion:
    """One candidate on a study (module's rules): `label` is its number in the label volume."""

    label: int
    finding: str
    score: float
    volume_ml: float
    diameter_mm: float  # longest axial diameter (calliper on the axial slice)
    equivalent_diameter_mm: float
    axial_slice: int  # on the study's grid
    centre_voxel: tuple[float, float, float]  # (z, y, x) on the study's grid
    side: str  # "right" | "left"
    measured: bool = True  # False: the size is the detector's blob estimate, not the image's

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LesionResult:
    """The candidates of one study and their label volume (uint16, the study's shape);
    `study_scores`: per finding, a study-level score that replaces the classifier's (a
    detector's; a segmentation run gives none)."""

    lesions: list[StudyLesion]
    labels: np.ndarray
    study_scores: dict[str, float] = field(default_factory=dict)


def body_side(volume: Volume, z: int, x: float) -> str:
    """Patient "right" or "left" of the body's midline on slice `z` (the centre of the voxels
    above `BODY_HU`) for column `x` of a canonical volume (x -> patient left)."""
    body = np.asarray(volume.array[z]) > BODY_HU
    mid = float(np.argwhere(body)[:, 1].mean()) if body.any() else volume.shape[2] / 2
    return "left" if x > mid else "right"


def _check_run(run_dir: Path, findings: tuple[str, ...], vocab: str) -> None:
    known = load_vocabulary(vocab).abnormalities
    unknown = [f for f in findings if f not in known]
    if unknown:
        raise ModelError(
            f"--seg-run {run_dir}: finding(s) {unknown} are not abnormalities of the {vocab!r} "
            "vocabulary the draft report is written in; train the segmentation run on masks "
            "named by it (e.g. nodule, mass, lymphadenopathy)"
        )


class SegmentationScorer:
    """A segmentation run as the service's lesion finder (module's rules)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        threshold: float = 0.5,
        min_volume_mm3: float = 0.0,
        max_candidates: int = MAX_CANDIDATES,
        vocab: str = "chest_ct",
        device: str = "cpu",
    ) -> None:
        self.run_dir = Path(run_dir)
        if not 0.0 < threshold < 1.0:
            raise ModelError(f"segmentation threshold {threshold}: expected a value in (0, 1)")
        run = load_named_run(
            load_segmentation_run, self.run_dir, "--seg-run", "radlens train --task segmentation"
        )
        self.findings = tuple(run.findings)
        _check_run(self.run_dir, self.findings, vocab)
        self.model, self.windows = run.model.eval(), tuple(run.windows)
        self.spacing = tuple(float(s) for s in run.config.spacing)
        self.patch = tuple(int(p) for p in run.config.patch)
        self.threshold, self.min_volume_mm3, self.device = threshold, min_volume_mm3, device
        self.max_candidates = max_candidates
        digest = hashlib.sha256((self.run_dir / CHECKPOINT).read_bytes()).hexdigest()
        self.model_version = f"{self.run_dir.name}@{digest[:12]}"
        log.info("segmentation scorer %s: %s", self.model_version, ", ".join(self.findings))

    def _image(self, volume: Volume) -> np.ndarray:
        """(C, D', H', W') float32: the volume at the run's spacing (resampled once, in HU), one
        channel per window, scaled as `preprocess_volume` scales a window (MONAI
        `ScaleIntensityRange`, clipped)."""
        hu = preprocess_volume(volume, target_spacing=self.spacing)
        channels = [ScaleIntensityRange(lo, hi, 0.0, 1.0, clip=True)(hu) for lo, hi in self.windows]
        return np.concatenate([np.asarray(c, dtype=np.float32) for c in channels])

    def _to_study(self, run_shape, study: Volume) -> tuple[np.ndarray, ...]:
        """Per axis, the run-grid index each study-grid index takes (nearest neighbour)."""
        out = []
        for n_run, n_vol, sp_run, sp_vol in zip(
            run_shape, study.shape, self.spacing, study.spacing, strict=True
        ):
            idx = np.rint(np.arange(n_vol) * float(sp_vol) / sp_run).astype(np.int64)
            out.append(np.clip(idx, 0, n_run - 1))
        return tuple(out)

    def _found(self, prob: np.ndarray) -> list[tuple[str, object, tuple, np.ndarray]]:
        """(finding, candidate, its box, the finding's component labels), best score first,
        at most `max_candidates`."""
        found = []
        for i, finding in enumerate(self.findings):
            cands = lesion_candidates(
                prob[i], self.spacing, threshold=self.threshold, min_volume_mm3=self.min_volume_mm3
            )
            components, _ = label_components(prob[i] >= self.threshold)
            boxes = ndimage.find_objects(components)
            found += [(finding, c, boxes[c.label - 1], components) for c in cands]
        found.sort(key=lambda f: -f[1].score)  # numbered by score; a higher one keeps overlaps
        if len(found) > self.max_candidates:
            log.warning("%d lesion candidates: the %d best kept", len(found), self.max_candidates)
        return found[: self.max_candidates]

    def lesions(self, volume: Volume) -> LesionResult:
        """The study's candidates (highest score first) and their label volume."""
        prob = predict_volume(self.model, self._image(volume), self.patch, device=self.device)
        ratio = np.asarray(self.spacing) / np.asarray(volume.spacing, dtype=float)
        run_labels = np.zeros(prob.shape[1:], dtype=np.uint16)
        lesions = []
        for number, (finding, cand, box, components) in enumerate(self._found(prob), start=1):
            target = run_labels[box]  # a view: painted in place
            target[(components[box] == cand.label) & (target == 0)] = number
            centre = tuple(float(c * r) for c, r in zip(cand.centre_voxel, ratio, strict=True))
            z = int(np.clip(round(cand.axial_slice * ratio[0]), 0, volume.shape[0] - 1))
            lesions.append(StudyLesion(
                label=number, finding=finding, score=cand.score,
                volume_ml=cand.volume_mm3 / 1000.0, diameter_mm=cand.longest_axial_diameter_mm,
                equivalent_diameter_mm=cand.equivalent_diameter_mm, axial_slice=z,
                centre_voxel=centre, side=body_side(volume, z, centre[2]),
            ))  # fmt: skip
        labels = run_labels[np.ix_(*self._to_study(run_labels.shape, volume))]
        return LesionResult(lesions, labels)


class LesionFinders:
    """Several lesion finders (segmentation and detector runs) as one: their candidates in one
    list, numbered on in the order the finders are given (a voxel two claim keeps the first's),
    and their study scores (a finding scored by two: the later finder's)."""

    def __init__(self, finders: list) -> None:
        if not finders:
            raise ModelError("LesionFinders needs at least one segmentation or detector run")
        self.finders = list(finders)
        self.findings = tuple(f for finder in self.finders for f in finder.findings)
        self.model_version = "+".join(str(f.model_version) for f in self.finders)

    def lesions(self, volume: Volume) -> LesionResult:
        """Every finder's `LesionResult` of `volume`, merged (class rules)."""
        lesions: list[StudyLesion] = []
        labels = np.zeros(volume.shape, dtype=np.uint16)
        scores: dict[str, float] = {}
        for finder in self.finders:
            result = finder.lesions(volume)
            offset = len(lesions)
            for les in result.lesions:
                lesions.append(replace(les, label=les.label + offset))
            free = (labels == 0) & (result.labels > 0)
            labels[free] = result.labels[free] + offset
            scores.update(result.study_scores)
        return LesionResult(lesions, labels, scores)
