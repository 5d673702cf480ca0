"""Labeler findings against a synthetic cohort's true findings (radlens.reports.label_noise)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from radlens.errors import DataError
from radlens.reports.label_noise import measure_label_noise
from radlens.reports.labeler import Finding

ABNS = ("nodule", "pneumothorax", "mass")


def _f(abn: str, loc: str | None, status: str, section: str = "findings") -> Finding:
    return Finding(abn, loc, status, section, "", (0, 0))


def test_label_noise_against_true_findings() -> None:
    table = pd.DataFrame(
        {
            "study_id": ["a", "b", "c"],
            "true_findings": [
                json.dumps([{"abnormality": "nodule", "location": "right_upper_lobe"}]),
                json.dumps([{"abnormality": "pneumothorax", "location": "left_pleura"}]),
                json.dumps([]),
            ],
        }
    )
    findings = [
        [_f("nodule", "right_upper_lobe", "present")],
        [_f("pneumothorax", "left_pleura", "uncertain")],  # uncertain: counted as missed
        [_f("mass", None, "present")],  # false positive
    ]
    noise = measure_label_noise(table, findings, abnormalities=ABNS)
    rows = noise.table.set_index("abnormality")
    assert rows.loc["nodule", "f1"] == 1.0
    assert rows.loc["pneumothorax", "fn"] == 1 and rows.loc["pneumothorax", "n_uncertain"] == 1
    assert rows.loc["mass", "fp"] == 1
    assert noise.micro_f1 == pytest.approx(0.5)
    assert noise.location_micro_f1 == pytest.approx(0.6667)  # RUL nodule found, pleura missed
    assert set(noise.to_dict()["per_abnormality"]) == set(ABNS)
    with pytest.raises(DataError, match="true_findings"):
        measure_label_noise(table.drop(columns="true_findings"), findings, abnormalities=ABNS)
