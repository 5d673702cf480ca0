"""The demo's triage list with the segmentation model's measured sizes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radlens.demos.ct_report import triage_list
from radlens.demos.ct_segmentation import measured_diameters


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
    # s1: mass measured 31 mm, nodule not found by the segmentation (0); s2: mass below threshold
    sizes = {"s1": {"mass": 31.0, "nodule": 0.0}, "s2": {"mass": 40.0, "nodule": 7.6}}
    got = triage_list(tmp_path, evaluation, ["mass", "nodule"], measurements=sizes)
    got = got.set_index("study_id")
    assert got.loc["s1", "findings"] == "mass 0.90 (measured: 3.1 cm mass); nodule 0.70"
    assert got.loc["s2", "findings"] == "nodule 0.80 (measured: 8 mm nodule)"
    assert got.loc["s1", "draft_report"].endswith(
        "MEASURED (segmentation model, not reviewed): 3.1 cm mass.\n"
    )
    plain = triage_list(tmp_path, evaluation, ["mass", "nodule"]).set_index("study_id")
    assert plain.loc["s1", "findings"] == "mass 0.90; nodule 0.70"
    assert "MEASURED" not in plain.loc["s1", "draft_report"]


def test_measured_diameters_reads_the_test_rows_of_the_step(tmp_path: Path):
    assert measured_diameters(tmp_path) == {}  # no segmentation step ran
    (tmp_path / "segmentation").mkdir()
    pd.DataFrame(
        {"study_id": ["v1", "t1"], "split": ["val", "test"], "seg:mass": [0.2, 0.9],
         "diameter_mm:mass": [0.0, 31.5], "diameter_mm:nodule": [5.0, 0.0]}
    ).to_csv(tmp_path / "segmentation" / "focal_scores.csv", index=False)  # fmt: skip
    assert measured_diameters(tmp_path) == {"t1": {"mass": 31.5, "nodule": 0.0}}
