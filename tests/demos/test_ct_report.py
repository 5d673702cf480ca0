"""The demo's triage list with the segmentation model's measured sizes and lobes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radlens.demos.ct_report import triage_list
from radlens.demos.ct_segmentation import measured_lesions


class _Evaluation:
    def __init__(self, labels: list[str], thresholds: list[float]) -> None:
        self.table = pd.DataFrame({"label": labels, "threshold": thresholds})


def test_findings_above_threshold_name_the_measured_size(tmp_path: Path):
    frame = pd.DataFrame(
        {"id": ["s1", "s2"], "patient_id": ["p1", "p2"], "split": "test", "site": "a",
         "score:mass": [0.9, 0.2], "score:nodule": [0.7, 0.8]}
    )  # fmt: skip
    frame.to_parquet(tmp_path / "predictions.parquet", index=False)
    evaluation = _Evaluation(["mass", "nodule"], [0.5, 0.5])
    # s1: mass measured, no nodule candidate; s2: the mass is below its threshold
    sizes = {
        "s1": {"mass": "3.1 cm mass in the right upper lobe"},
        "s2": {"mass": "4.0 cm mass", "nodule": "8 mm nodule in the lingula"},
    }
    got = triage_list(tmp_path, evaluation, ["mass", "nodule"], measurements=sizes)
    got = got.set_index("study_id")
    assert got.loc["s1", "findings"] == (
        "mass 0.90 (measured: 3.1 cm mass in the right upper lobe); nodule 0.70"
    )
    assert got.loc["s2", "findings"] == "nodule 0.80 (measured: 8 mm nodule in the lingula)"
    assert got.loc["s1", "draft_report"].endswith(
        "MEASURED (segmentation model, not reviewed): 3.1 cm mass in the right upper lobe.\n"
    )
    plain = triage_list(tmp_path, evaluation, ["mass", "nodule"]).set_index("study_id")
    assert plain.loc["s1", "findings"] == "mass 0.90; nodule 0.70"
    assert "MEASURED" not in plain.loc["s1", "draft_report"]


def test_measured_lesions_take_the_largest_candidate_per_finding(tmp_path: Path):
    assert measured_lesions(tmp_path) == {}  # no segmentation step ran
    (tmp_path / "segmentation").mkdir()
    pd.DataFrame(
        {"study_id": ["007", "007", "007", "t2"], "finding": ["mass", "mass", "nodule", "mass"],
         "rank": [1, 2, 1, 1], "score": [0.9, 0.95, 0.6, 0.7],
         "longest_axial_diameter_mm": [31.5, 12.0, 6.2, 40.0], "lobe": ["right_upper_lobe", "",
         "lingula", ""], "description": ["3.2 cm mass in the right upper lobe", "1.2 cm mass",
         "6 mm nodule in the lingula", "4.0 cm mass"]}
    ).to_csv(tmp_path / "segmentation" / "focal_candidates.csv", index=False)  # fmt: skip
    assert measured_lesions(tmp_path) == {
        "007": {
            "mass": "3.2 cm mass in the right upper lobe",
            "nodule": "6 mm nodule in the lingula",
        },
        "t2": {"mass": "4.0 cm mass"},
    }  # the largest candidate wins over the most confident; ids stay strings ("007")
