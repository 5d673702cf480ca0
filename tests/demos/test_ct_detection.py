"""The demo's detector-vs-classifier comparison and pooled pointing game on hand-made figures."""

from __future__ import annotations

import pandas as pd
import pytest

from radlens.demos.ct_detection import detector_vs_classifier
from radlens.demos.ct_localization import merge_localization


def test_detector_and_classifier_are_compared_on_the_studies_both_scored() -> None:
    per_study = pd.DataFrame({
        "study_id": ["a", "b", "c", "d", "e", "f"],
        "patient_id": ["1", "2", "3", "4", "5", "6"],
        "top_score": [0.9, 0.8, 0.7, 0.2, 0.1, 0.3],
    })  # fmt: skip
    predictions = pd.DataFrame({"id": ["a", "b", "c", "d", "e", "f", "x"],
                                "score:nodule": [0.2, 0.9, 0.1, 0.8, 0.3, 0.5, 1.0]})  # fmt: skip
    truth = pd.DataFrame({"study_id": ["a", "b", "c", "d", "e", "f", "x"],
                          "true:nodule": [1, 1, 1, 0, 0, 0, 1]})  # fmt: skip
    out = detector_vs_classifier(per_study, predictions, truth, "nodule")
    assert out["studies"] == 6 and out["n_positive"] == 3  # "x" has no detector score
    assert out["detector"]["auroc"] == pytest.approx(1.0)
    # classifier: positives 0.2, 0.9, 0.1 vs negatives 0.8, 0.3, 0.5 -> 3 of 9 pairs
    assert out["classifier"]["auroc"] == pytest.approx(3 / 9)
    assert out["difference"] == pytest.approx(1.0 - 3 / 9) and 0 <= out["p_value"] <= 1
    one_class = truth.assign(**{"true:nodule": 1})
    assert "note" in detector_vs_classifier(per_study, predictions, one_class, "nodule")


def test_detectors_replace_grad_cam_for_their_findings_and_all_cases_are_pooled() -> None:
    table = pd.DataFrame(
        {"group": ["nodule", "pleural_effusion", "all"], "n": [10, 20, 30],
         "hits": [0, 15, 15], "pointing_game": [0.0, 0.75, 0.5],
         "pointing_game_strict": [0.0, 0.5, 1 / 3], "chance": [0.01, 0.05, 0.04]}
    )  # fmt: skip
    nodule = {"pointing": {"n": 12, "hits": 6, "pointing_game": 0.5,
                           "pointing_game_strict": 0.25, "chance": 0.1}}  # fmt: skip
    out = merge_localization(table, {"nodule": nodule, "mass": None})
    rows = out["per_finding"]
    assert set(rows) == {"nodule", "pleural_effusion"}  # no mass row: no case, no detector
    assert rows["nodule"]["source"] == "detector" and rows["nodule"]["n"] == 12
    assert rows["nodule"]["grad_cam_pointing_game"] == 0.0
    assert rows["pleural_effusion"]["source"] == "grad-cam"
    assert out["all"]["n"] == 32 and out["all"]["hits"] == 21
    assert out["all"]["pointing_game"] == pytest.approx(21 / 32)
    assert out["all"]["pointing_game_strict"] == pytest.approx((12 * 0.25 + 20 * 0.5) / 32)
    # a detector with no positive study leaves Grad-CAM's row as it was
    empty = {"pointing": {"n": 0, "hits": 0, "pointing_game": None}}
    assert merge_localization(table, {"nodule": empty})["per_finding"]["nodule"]["n"] == 10
