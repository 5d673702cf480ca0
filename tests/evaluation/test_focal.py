"""Focal findings from lesion candidates: descriptions, AUROC table, val-only stacking and the
study scores of a tiny segmentation run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.data.volumes import Volume, write_nifti
from radlens.errors import EvaluationError
from radlens.evaluation import (
    describe_candidate,
    focal_auroc,
    focal_scores,
    lobe_map,
    lobe_names,
    stack_scores,
)
from radlens.training import make_config, train_segmentation
from tests._support.seg_cohort import write_sphere_cohort


def test_describe_candidate_gives_cm_from_10_mm_and_the_lobe():
    assert describe_candidate("mass", 59.2, "right_upper_lobe") == (
        "5.9 cm mass in the right upper lobe"
    )
    assert describe_candidate("nodule", 7.6) == "8 mm nodule"
    assert describe_candidate("lymphadenopathy", 12.0) == "1.2 cm lymph node"


def test_focal_auroc_hand_computed():
    # positives score 0.9, 0.4; negatives 0.5, 0.1: 3 of 4 pairs ordered -> 0.75
    scores = pd.DataFrame({"true:nodule": [1, 1, 0, 0], "seg:nodule": [0.9, 0.4, 0.5, 0.1]})
    table = focal_auroc(scores, {"segmentation": "seg:{f}", "missing": "x:{f}"})
    assert table.loc[0, ["finding", "n", "n_positive"]].tolist() == ["nodule", 4, 2]
    assert table.loc[0, "segmentation"] == 0.75 and np.isnan(table.loc[0, "missing"])


def test_stack_is_fitted_on_val_rows_only():
    rng = np.random.default_rng(0)
    n = 40
    y = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    frame = pd.DataFrame(
        {"split": ["val"] * 20 + ["test"] * 20, "true:mass": np.r_[y[::2], y[1::2]]}
    )
    frame["seg:mass"] = frame["true:mass"] + 0.3 * rng.standard_normal(n)
    out = stack_scores(frame, ["seg:{f}"])
    # a monotone function of one feature: the same AUROC as the feature itself
    assert focal_auroc(out, {"a": "seg:{f}", "b": "stack:{f}"}).loc[0, ["a", "b"]].nunique() == 1
    # flipping the test labels does not change the fit (fitted on val rows only)
    flipped = frame.copy()
    flipped.loc[flipped["split"] == "test", "true:mass"] ^= 1
    np.testing.assert_allclose(stack_scores(flipped, ["seg:{f}"])["stack:mass"], out["stack:mass"])


def test_focal_scores_of_a_tiny_run(tmp_path: Path):
    cohort = tmp_path / "cohort"
    table = write_sphere_cohort(cohort, n_studies=8)
    config = make_config(
        {
            "task": "segmentation",
            "cohort": str(cohort),
            "model": "unet_lite",
            "spacing": "4,2,2",
            "patch": "8,16,16",
            "epochs": 1,
            "batch_size": 4,
            "out": str(tmp_path / "run"),
            "cohort_windows": "-1000:400",
            "threads": 1,
        }
    )
    train_segmentation(config)
    res = focal_scores(tmp_path / "run", split="test")
    test = table[table["split"] == "test"]
    assert list(res.scores["study_id"]) == list(test["study_id"])
    # truth from the masks (no true: columns): every study has a nodule; mass where a path is
    assert res.scores["true:nodule"].tolist() == [1] * len(test)
    assert res.scores["true:mass"].tolist() == [int(bool(p)) for p in test["mask_path:mass"]]
    assert ((res.scores["seg:mass"] >= 0) & (res.scores["seg:mass"] <= 1)).all()
    assert set(res.candidates.columns) >= {"description", "longest_axial_diameter_mm"} or (
        res.candidates.empty
    )
    with pytest.raises(EvaluationError, match="no studies to score"):
        focal_scores(tmp_path / "run", split="nosuch")


def test_case_focal_scores_measures_and_takes_truth_from_the_row_or_the_mask():
    from radlens.evaluation import case_focal
    from radlens.training import SegCase

    prob = np.zeros((2, 4, 20, 20), np.float32)  # channels: mass, nodule
    prob[0, 1:3, 2:8, 2:12] = 0.9  # 6 x 10 voxels of 2 x 2 mm: corner to corner hypot(12, 20)
    prob[0, 1, 15, 15] = 0.7  # a second, one-voxel candidate
    prob[1, 0, 0, 0] = 0.3  # below the 0.5 candidate threshold
    label = np.zeros((2, 4, 20, 20), np.uint8)
    label[1, 2, 5, 5] = 1  # a nodule in the mask, no mass
    case = SegCase("S1", "P1", "test", np.zeros((1, 4, 20, 20), np.float32), label, (5, 2, 2))
    row, cands = case_focal(case, prob, ["mass", "nodule"])
    assert row["study_id"] == "S1" and row["split"] == "test"
    assert row["seg:mass"] == pytest.approx(0.9) and row["n_candidates:mass"] == 2
    assert row["diameter_mm:mass"] == pytest.approx(np.hypot(12.0, 20.0))
    assert row["seg:nodule"] == pytest.approx(0.3) and row["n_candidates:nodule"] == 0
    assert row["diameter_mm:nodule"] == 0.0
    assert (row["true:mass"], row["true:nodule"]) == (0, 1)  # from the masks
    assert "lymphadenopathy" not in " ".join(row)  # only the focal findings the run segments
    assert [c["rank"] for c in cands] == [1, 2] and cands[0]["description"] == "2.3 cm mass"
    # the cohort row's true: columns win over the masks
    row, _ = case_focal(case, prob, ["mass", "nodule"], truth={"true:mass": 1, "true:nodule": 0})
    assert (row["true:mass"], row["true:nodule"]) == (1, 0)
    # with a lobe map: a mass names the lobe at its centre, a lymph node never does
    lobes = np.zeros((4, 20, 20), np.int64)
    lobes[:, :10] = 3
    names = {3: "right_upper_lobe"}
    _, cands = case_focal(case, prob, ["mass", "nodule"], lobes=lobes, lobe_names=names)
    assert cands[0]["description"] == "2.3 cm mass in the right upper lobe"
    assert cands[1]["lobe"] is None  # its centre (1, 15, 15) is off the lung
    _, nodes = case_focal(case, prob, ["lymphadenopathy", "nodule"], lobes=lobes, lobe_names=names)
    assert nodes[0]["finding"] == "lymphadenopathy" and nodes[0]["lobe"] is None


def test_lobe_map_resamples_codes_nearest_and_never_blends_them(tmp_path: Path):
    lobes = np.zeros((8, 8, 8), np.uint8)
    lobes[:, :, :4], lobes[:, :, 4:] = 1, 3  # codes 1 | 3 side by side: a blend would give 2
    image = write_nifti(
        Volume(np.zeros((8, 8, 8), np.float32), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)),
        tmp_path / "ct.nii.gz",
    )
    np.savez(tmp_path / "masks.npz", lobes=lobes)
    (tmp_path / "cohort.json").write_text('{"lobe_codes": {"left_lower_lobe": 1, "lingula": 3}}')
    names = lobe_names(tmp_path)
    assert names == {1: "left_lower_lobe", 3: "lingula"}
    row = pd.Series({"mask_path": str(tmp_path / "masks.npz")})
    got = lobe_map(row, str(image), (2.0, 0.6, 0.6), names)
    assert got is not None and got.shape[0] == 8 and got.shape[2] > 8  # resampled in-plane
    assert set(np.unique(got)) == {1, 3}
    assert lobe_map(pd.Series({"mask_path": ""}), str(image), (2.0, 1.0, 1.0), names) is None
    (tmp_path / "plain").mkdir()
    assert lobe_names(tmp_path / "plain") == {}  # a cohort without lobe codes
