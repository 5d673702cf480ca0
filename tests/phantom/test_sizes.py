"""Focal-lesion sizes measured on the rendered masks (cohort.json "lesion_sizes")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.phantom import lesion_size_summary, size_summary_lines, synthesize_cohort
from radlens.phantom.sizes import equivalent_diameter_mm


def test_equivalent_diameter_of_a_sphere() -> None:
    # a 10 mm sphere holds pi/6 * 1000 mm^3 = 0.5236 ml
    assert equivalent_diameter_mm(np.array([np.pi / 6])) == pytest.approx([10.0])
    assert equivalent_diameter_mm(np.array([0.0]))[0] == 0.0


def test_summary_bands_and_percentiles_by_hand() -> None:
    ml = lambda d: np.pi / 6 * d**3 / 1000  # noqa: E731 - volume (ml) of a d mm sphere
    findings = pd.DataFrame(
        {
            "abnormality": ["nodule"] * 4 + ["mass", "consolidation"],
            "volume_ml": [ml(4), ml(8), ml(12), ml(25), ml(55), 300.0],
        }
    )
    summary = lesion_size_summary(findings)
    assert set(summary) == {"nodule", "mass"}  # consolidation is not focal
    nodule = summary["nodule"]
    assert nodule["n"] == 4 and nodule["diameter_mm"]["p50"] == pytest.approx(10.0)
    assert nodule["bands"] == {
        "0-6 mm": 1, "6-10 mm": 1, "10-20 mm": 1, "20-30 mm": 1, "30-50 mm": 0, ">= 50 mm": 0,
    }  # fmt: skip
    assert summary["mass"]["bands"][">= 50 mm"] == 1
    (line, _) = size_summary_lines(summary)
    assert line.startswith("nodule: n=4, diameter median 10.0 mm") and "0-6 mm 1" in line
    with pytest.raises(KeyError, match="volume_ml"):
        lesion_size_summary(findings.drop(columns="volume_ml"))


def test_cohort_json_carries_the_measured_sizes(tmp_path: Path) -> None:
    synthesize_cohort(tmp_path, n_patients=4, seed=5, shape=(16, 32, 32), progress=False)
    manifest = json.loads((tmp_path / "cohort.json").read_text())
    findings = pd.read_csv(tmp_path / "findings.csv")
    assert manifest["lesion_sizes"] == lesion_size_summary(findings)
    for s in manifest["lesion_sizes"].values():
        assert sum(s["bands"].values()) == s["n"]
