"""The demo's detector-vs-classifier comparison on hand-made scores."""

from __future__ import annotations

import pandas as pd
import pytest

from radlens.demos.ct_detection import detector_vs_classifier


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
