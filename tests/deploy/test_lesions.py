"""Lesion candidates of a study from a segmentation run: the run is checked when loaded (clear
errors), the candidates and their label volume follow the run's map on the study's grid, sizes
are measured on the image and each candidate gets its side."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _support.seg_cohort import SPACING, sphere
from _support.seg_service import PlantedSeg, train_tiny_seg_run

from radlens.core import CHECKPOINT, CONFIG
from radlens.data.volumes import Volume
from radlens.deploy import SegmentationScorer
from radlens.errors import ModelError
from radlens.evaluation import lesion_candidates

SHAPE = (16, 32, 32)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> Path:
    return train_tiny_seg_run(tmp_path_factory.mktemp("seg"))


def _study() -> tuple[Volume, np.ndarray, np.ndarray]:
    """-800 HU with a nodule ball (40 HU, patient right: low x) and a mass ball (60 HU, left)."""
    hu = np.full(SHAPE, -800.0, dtype=np.float32)
    hu[:, 4:28, 2:30] = 30.0  # the body: its midline is x = 15.5
    hu[:, 6:26, 4:28] = -800.0  # lungs
    nodule = sphere(SHAPE, (8, 12, 8), (1.5, 2.5, 2.5))
    mass = sphere(SHAPE, (8, 18, 22), (3, 5, 5))
    hu[nodule], hu[mass] = 40.0, 60.0
    return Volume(hu, SPACING, (0.0, 0.0, 0.0)), nodule, mass


def test_candidates_and_labels_follow_the_runs_map_on_the_studys_grid(seg_run) -> None:
    scorer = SegmentationScorer(seg_run)
    assert scorer.findings == ("nodule", "mass") and scorer.model_version.startswith("run@")
    scorer.model = PlantedSeg()
    volume, nodule, mass = _study()
    result = scorer.lesions(volume)
    assert result.labels.shape == SHAPE and result.labels.dtype == np.uint16
    by_finding = {les.finding: les for les in result.lesions}
    assert sorted(by_finding) == ["mass", "nodule"] and len(result.lesions) == 2
    # the label volume paints each candidate's voxels with its number, nothing else
    assert np.array_equal(result.labels == by_finding["nodule"].label, nodule)
    assert np.array_equal(result.labels == by_finding["mass"].label, mass)
    # sizes: the candidates of the painted masks themselves, measured in mm at this spacing
    expected = lesion_candidates(mass.astype(float), SPACING)[0]
    got = by_finding["mass"]
    assert got.diameter_mm == pytest.approx(expected.longest_axial_diameter_mm)
    assert got.volume_ml == pytest.approx(mass.sum() * np.prod(SPACING) / 1000.0)
    assert got.axial_slice == 8 and got.centre_voxel == pytest.approx((8.0, 18.0, 22.0))
    # canonical arrays: x grows towards the patient's left
    assert by_finding["nodule"].side == "right" and got.side == "left"
    # a capped list keeps the best scores (a tie: the run's finding order) and paints only them
    capped = SegmentationScorer(seg_run, max_candidates=1)
    capped.model = PlantedSeg()
    one = capped.lesions(volume)
    assert [les.finding for les in one.lesions] == ["nodule"]
    assert np.array_equal(one.labels > 0, nodule)


def test_a_coarser_run_grid_is_mapped_back_to_the_study(seg_run) -> None:
    scorer = SegmentationScorer(seg_run)
    scorer.model = PlantedSeg()
    volume, _, _ = _study()
    fine = Volume(np.repeat(volume.array, 2, axis=0), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    result = scorer.lesions(fine)  # the run's 4 mm slices: study slices 2k and 2k+1 share one
    assert result.labels.shape == (32, 32, 32)
    got = {les.finding: les for les in result.lesions}["mass"]
    painted = np.flatnonzero((result.labels == got.label).any(axis=(1, 2)))
    assert painted.min() <= got.axial_slice <= painted.max()
    assert got.axial_slice in (16, 17)


def test_bad_segmentation_runs_are_refused_with_the_reason(seg_run, tmp_path) -> None:
    with pytest.raises(ModelError, match=r"--seg-run .*nowhere: no such directory"):
        SegmentationScorer(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"--seg-run .*not a run directory"):
        SegmentationScorer(tmp_path)
    classifier = tmp_path / "classifier"
    shutil.copytree(seg_run, classifier)
    config = (classifier / CONFIG).read_text().replace("task: segmentation", "task: classification")
    (classifier / CONFIG).write_text(config)
    with pytest.raises(ModelError, match="not a segmentation run"):
        SegmentationScorer(classifier)
    renamed = tmp_path / "renamed"
    shutil.copytree(seg_run, renamed)
    ckpt = torch.load(renamed / CHECKPOINT, weights_only=True)
    torch.save({**ckpt, "findings": ["tumour", "mass"]}, renamed / CHECKPOINT)
    with pytest.raises(ModelError, match=r"\['tumour'\] are not abnormalities of the 'chest_ct'"):
        SegmentationScorer(renamed)
    # a checkpoint from another network (e.g. an older radlens): refused, not a traceback
    stale = tmp_path / "stale"
    shutil.copytree(seg_run, stale)
    state = {f"old.{k}": v for k, v in ckpt["model"].items()}
    torch.save({**ckpt, "model": state}, stale / CHECKPOINT)
    with pytest.raises(ModelError, match=r"does not fit the network .* --task segmentation` again"):
        SegmentationScorer(stale)
    with pytest.raises(ModelError, match=r"threshold 1\.5"):
        SegmentationScorer(seg_run, threshold=1.5)
