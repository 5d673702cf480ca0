"""Segmentation data: own NIfTI image + mask folders, alignment refusal, lesion-weighted patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.data.volumes import Volume, write_nifti
from radlens.errors import ConfigError, DataError
from radlens.training import SegCase, load_seg_cases, read_seg_table
from radlens.training.seg_data import SAMPLES_PER_VOLUME, patch_loader, window_image
from tests._support.seg_cohort import SPACING, write_sphere_cohort


def test_user_folders_give_one_channel_per_finding_and_empty_masks_are_zero(tmp_path: Path):
    write_sphere_cohort(tmp_path, n_studies=4)
    seg = read_seg_table(tmp_path)
    assert seg.findings == ("nodule", "mass") and seg.user_masks
    cases = load_seg_cases(seg, SPACING, windows=[(-1000.0, 400.0)])
    assert [c.split for c in cases] == ["train", "val", "test", "test"]
    case = cases[0]
    assert case.image.shape == (1, 16, 32, 32) and case.label.shape == (2, 16, 32, 32)
    assert case.label[0].sum() > 0 and case.label[1].sum() > 0
    assert cases[3].label[1].sum() == 0  # study 3 has no mass: an empty channel
    # resampled to a coarser grid: the label follows the image's grid
    coarse = load_seg_cases(seg, (8.0, 4.0, 4.0), windows=[(-1000.0, 400.0)], splits=("train",))
    assert coarse[0].image.shape[1:] == coarse[0].label.shape[1:] == (8, 16, 16)


def test_unknown_finding_is_named(tmp_path: Path):
    write_sphere_cohort(tmp_path, n_studies=2)
    with pytest.raises(ConfigError, match="'nodul' is not in"):
        read_seg_table(tmp_path, ["nodul"])


@pytest.mark.parametrize(
    "bad",
    [
        Volume(np.zeros((16, 32, 30), np.float32), SPACING, (0, 0, 0)),  # shape
        Volume(np.zeros((16, 32, 32), np.float32), (4.0, 2.5, 2.0), (0, 0, 0)),  # spacing
        Volume(np.zeros((16, 32, 32), np.float32), SPACING, (0, 0, 0), np.diag([1.0, -1, -1])),
    ],
    ids=["shape", "spacing", "orientation"],
)
def test_misaligned_mask_is_refused(tmp_path: Path, bad: Volume):
    table = write_sphere_cohort(tmp_path, n_studies=1)
    write_nifti(bad, tmp_path / "bad.nii.gz")
    table.loc[0, "mask_path:nodule"] = "bad.nii.gz"
    table.to_csv(tmp_path / "cohort.csv", index=False)
    seg = read_seg_table(tmp_path)
    with pytest.raises(DataError, match=r"bad\.nii\.gz \(mask_path:nodule\) is not aligned"):
        load_seg_cases(seg, SPACING)


def test_window_image_maps_each_window_to_unit_range():
    hu = np.array([[[-1100.0, -1000.0, -300.0, 400.0, 900.0]]])
    out = window_image(hu, [(-1000.0, 400.0), (-160.0, 240.0)])
    assert out.shape == (2, 1, 1, 5)
    np.testing.assert_allclose(out[0, 0, 0], [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(out[1, 0, 0], [0, 0, 0, 1, 1])


def test_patches_are_weighted_towards_lesions(tmp_path: Path):
    # one tiny lesion in a 32x64x64 volume: a random 8x16x16 patch holds it ~2% of the time;
    # RandCropByLabelClassesd, background:nodule = 1:1, centres half the patches on it
    write_sphere_cohort(tmp_path, n_studies=1, shape=(32, 64, 64))
    cases = load_seg_cases(read_seg_table(tmp_path, ["nodule"]), SPACING, [(-1000.0, 400.0)])
    loader = patch_loader(cases, (8, 16, 16), batch_size=SAMPLES_PER_VOLUME, seed=0)
    hits = [bool(b["label"][k].sum() > 0) for _ in range(25) for b in loader for k in range(4)]
    assert len(hits) == 100
    assert 0.35 <= np.mean(hits) <= 0.7


def test_patches_are_balanced_over_findings_not_voxels():
    # finding 0 fills half the volume, finding 1 is one voxel: a draw on the union of lesion
    # voxels would almost never centre a patch on finding 1; by class it gets ~1/3 of them
    label = np.zeros((2, 32, 64, 64), np.uint8)
    label[0, :, :32] = 1
    label[1, 20, 50, 10] = 1
    case = SegCase("s", "p", "train", np.zeros((1, 32, 64, 64), np.float32), label, (1, 1, 1))
    loader = patch_loader([case], (8, 16, 16), batch_size=SAMPLES_PER_VOLUME, seed=0)
    hits = [bool(b["label"][k, 1].sum() > 0) for _ in range(30) for b in loader for k in range(4)]
    assert 0.2 <= np.mean(hits) <= 0.5


def test_volumes_of_different_sizes_give_patches_of_one_size():
    shapes = [(12, 20, 24), (9, 16, 16)]
    cases = [
        SegCase(
            f"s{i}",
            f"p{i}",
            "train",
            np.zeros((1, *s), np.float32),
            np.ones((2, *s), np.uint8),
            (1.0, 1.0, 1.0),
        )
        for i, s in enumerate(shapes)
    ]
    batches = list(patch_loader(cases, (8, 16, 16), batch_size=2 * SAMPLES_PER_VOLUME, seed=0))
    assert len(batches) == 1 and set(batches[0]) == {"image", "label"}
    assert batches[0]["image"].shape == (2 * SAMPLES_PER_VOLUME, 1, 8, 16, 16)
    assert batches[0]["label"].shape == (2 * SAMPLES_PER_VOLUME, 2, 8, 16, 16)


def test_table_without_masks_is_refused(tmp_path: Path):
    pd.DataFrame({"patient_id": ["a"], "nifti_path": ["x.nii.gz"], "report_text": [""]}).to_csv(
        tmp_path / "cohort.csv", index=False
    )
    with pytest.raises(DataError, match="no mask_path column"):
        read_seg_table(tmp_path)


def test_an_npz_cohort_is_read_and_a_missing_volume_is_named(tmp_path: Path):
    hu = np.full((6, 8, 8), -800, dtype=np.int16)
    hu[2:4, 3:5, 3:5] = 40
    spacing = np.array([4.0, 2.0, 2.0])
    np.savez(tmp_path / "image.npz", hu=hu, spacing=spacing, origin=np.zeros(3))
    np.savez(tmp_path / "masks.npz", **{"nodule@right_upper_lobe": hu > 0})
    row = {"patient_id": "P1", "study_id": "S1", "npz_path": "image.npz",
           "mask_path": "masks.npz", "true:nodule": 1, "split": "test"}  # fmt: skip
    pd.DataFrame([row]).to_csv(tmp_path / "cohort.csv", index=False)
    seg = read_seg_table(tmp_path, ["nodule"])
    assert seg.image_column == "npz_path"
    (case,) = load_seg_cases(seg, (4.0, 2.0, 2.0), [(-1000.0, 400.0)])
    assert case.label.shape == (1, 6, 8, 8) and case.label.sum() == 8
    assert case.image[0, 2, 3, 3] == pytest.approx(1040 / 1400)
    (tmp_path / "image.npz").unlink()
    with pytest.raises(DataError, match=r"study S1: volume .*image\.npz not found"):
        load_seg_cases(seg, (4.0, 2.0, 2.0))
