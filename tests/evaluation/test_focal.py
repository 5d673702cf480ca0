"""Focal findings from lesion candidates: descriptions, AUROC table, val-only stacking and the
study scores of a tiny segmentation run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.errors import EvaluationError
from radlens.evaluation import describe_candidate, focal_auroc, focal_scores, stack_scores
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
