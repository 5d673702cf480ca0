"""`DetectorScorer`: a detector run's nodule candidates on a study's own grid, measured on the
image, and `LesionFinders` merging finders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _support.nodule_cohort import SPACING, chest
from _support.nodule_detector import train_tiny_detector
from _support.plaque_cohort import FINDING as PLAQUES
from _support.plaque_cohort import plaque_chest, write_plaque_cohort

from radlens.data.volumes import Volume
from radlens.deploy import DetectorScorer, LesionFinders
from radlens.errors import ModelError
from radlens.evaluation import longest_axial_diameter
from radlens.training import DetectorConfig, train_detector


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_detector(tmp_path_factory.mktemp("det"))


def _study(seed: int, factors=(1, 1, 1)) -> tuple[Volume, np.ndarray]:
    """A chest of the cohort's kind (a ball nodule, vessel mimics), upsampled by `factors` per
    axis (a finer study grid than the detector's, its own spacing per axis)."""
    hu, mask = chest(np.random.default_rng(seed))
    for axis, f in enumerate(factors):
        hu, mask = hu.repeat(f, axis=axis), mask.repeat(f, axis=axis)
    spacing = tuple(s / f for s, f in zip(SPACING, factors, strict=True))
    return Volume(hu, spacing, (0.0, 0.0, 0.0)), mask


@pytest.mark.parametrize("factors", [(1, 1, 1), (2, 3, 1)])
def test_the_nodule_is_listed_measured_and_painted_on_the_study_grid(run, factors) -> None:
    volume, ball = _study(101, factors)
    scorer = DetectorScorer(run, threshold=0.01)
    result = scorer.lesions(volume)
    assert result.labels.shape == volume.shape and scorer.findings == ("nodule",)
    scores = [les.score for les in result.lesions]
    assert scores == sorted(scores, reverse=True) and result.study_scores["nodule"] >= scores[0]
    on_ball = [les for les in result.lesions
               if ball[tuple(round(c) for c in les.centre_voxel)]]  # fmt: skip
    assert len(on_ball) == 1  # listed once: a second centre inside it is the same blob
    nodule = on_ball[0]
    truth, truth_z = longest_axial_diameter(ball, volume.spacing[1:])
    assert nodule.measured and abs(nodule.diameter_mm - truth) <= 1.5 * SPACING[1]
    painted = result.labels == nodule.label
    assert 2 * (painted & ball).sum() / (painted.sum() + ball.sum()) > 0.6
    assert abs(nodule.axial_slice - truth_z) <= factors[0]
    side = "right" if nodule.centre_voxel[2] < volume.shape[2] / 2 else "left"
    assert nodule.side == side
    # a higher threshold lists a prefix of the same candidates
    high = DetectorScorer(run, threshold=max(0.02, np.median(scores))).lesions(volume)
    assert [les.score for les in high.lesions] == scores[: len(high.lesions)]


def test_finders_merge_numbered_on(run) -> None:
    volume, _ = _study(102)
    one = DetectorScorer(run, threshold=0.01)
    single = one.lesions(volume)
    both = LesionFinders([one, DetectorScorer(run, threshold=0.01)])
    merged = both.lesions(volume)
    n = len(single.lesions)
    assert [les.label for les in merged.lesions] == list(range(1, 2 * n + 1))
    assert (merged.labels == single.labels).all()  # the first finder keeps the shared voxels
    assert merged.study_scores == single.study_scores
    assert both.model_version == f"{one.model_version}+{one.model_version}"
    with pytest.raises(ModelError, match="at least one"):
        LesionFinders([])


def test_bad_runs_and_thresholds_are_refused(run, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"--detector-run .*no such directory"):
        DetectorScorer(tmp_path / "missing")
    with pytest.raises(ModelError, match="not a nodule detector run"):
        DetectorScorer(tmp_path)
    with pytest.raises(ModelError, match=r"threshold 1\.5"):
        DetectorScorer(run, threshold=1.5)


def test_a_plaque_detector_lists_dense_plaque_sized_extents_not_the_bone_around(
    tmp_path: Path,
) -> None:
    write_plaque_cohort(tmp_path / "c", n_studies=6)
    config = DetectorConfig.for_finding(PLAQUES, epochs=1, negatives=200, batch_size=64)
    train_detector(tmp_path / "c", tmp_path / "run", config)
    hu, _ = plaque_chest(np.random.default_rng(7), 3)
    volume = Volume(hu, SPACING, (0.0, 0.0, 0.0))
    result = DetectorScorer(tmp_path / "run", threshold=0.01).lesions(volume)
    assert result.lesions and result.study_scores[PLAQUES] >= result.lesions[0].score
    radius = 2.5 * np.sqrt(3.0)  # the candidates' nominal blob radius (mm)
    for les in result.lesions:
        painted = np.argwhere(result.labels == les.label)
        assert len(painted) and (hu[tuple(painted.T)] >= config.min_hu).all()
        reach = np.abs(painted - np.asarray(les.centre_voxel)) * np.asarray(SPACING)
        assert (np.linalg.norm(reach, axis=1) <= 2 * radius).all()  # never the whole spine
        assert les.finding == PLAQUES
