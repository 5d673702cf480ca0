"""Focal-lesion sizes measured on the rendered masks (cohort.json "lesion_sizes")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.phantom import lesion_size_summary, size_summary_lines, synthesize_cohort
from radlens.phantom.sizes import equivalent_diameter_mm, focal_short_axis, short_axis_mm


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
        "0-4 mm": 0, "4-6 mm": 1, "6-8 mm": 0, "8-10 mm": 1, "10-15 mm": 1, "15-20 mm": 0,
        "20-30 mm": 1, "30-50 mm": 0, ">= 50 mm": 0,
    }  # fmt: skip
    assert nodule["measure"] == "equivalent diameter"
    assert summary["mass"]["bands"][">= 50 mm"] == 1
    (line, _) = size_summary_lines(summary)
    assert line.startswith("nodule: n=4, equivalent diameter median 10.0 mm") and "4-6 mm 1" in line
    with pytest.raises(KeyError, match="volume_ml"):
        lesion_size_summary(findings.drop(columns="volume_ml"))


def test_cohort_json_carries_the_measured_sizes(tmp_path: Path) -> None:
    synthesize_cohort(tmp_path, n_patients=4, seed=5, shape=(16, 32, 32), progress=False)
    manifest = json.loads((tmp_path / "cohort.json").read_text())
    findings = pd.read_csv(tmp_path / "findings.csv")
    assert manifest["lesion_sizes"] == lesion_size_summary(findings)
    for s in manifest["lesion_sizes"].values():
        assert sum(s["bands"].values()) == s["n"]


def test_short_axis_of_hand_drawn_shapes() -> None:
    yy, xx = np.mgrid[-20:21, -20:21]
    ellipse = np.zeros((3, 41, 41), bool)
    ellipse[1] = (yy / 6.0) ** 2 + (xx / 10.0) ** 2 <= 1  # semi-axes 6 and 10 voxels
    assert short_axis_mm(ellipse, (5.0, 1.0, 1.0)) == pytest.approx(12.0, abs=0.5)
    assert short_axis_mm(ellipse, (5.0, 0.5, 0.5)) == pytest.approx(6.0, abs=0.25)
    one = np.zeros((1, 3, 3), bool)
    one[0, 1, 1] = True  # one 3.5 mm voxel: 4 sqrt(3.5^2 / 12) = 4.04 mm
    assert short_axis_mm(one, (5.0, 3.5, 3.5)) == pytest.approx(4 * 3.5 / np.sqrt(12))
    assert short_axis_mm(np.zeros((2, 4, 4), bool), (1.0, 1.0, 1.0)) == 0.0
    two = ellipse.copy()
    two[1, 0, 0] = True  # a stray voxel: the largest object is measured
    assert short_axis_mm(two, (5.0, 1.0, 1.0)) == short_axis_mm(ellipse, (5.0, 1.0, 1.0))
    assert focal_short_axis("lymphadenopathy", one, (5.0, 3.5, 3.5)) == 4.0
    assert np.isnan(focal_short_axis("pleural_effusion", one, (5.0, 3.5, 3.5)))


def test_lymph_nodes_are_summarised_by_short_axis() -> None:
    findings = pd.DataFrame(
        {
            "abnormality": ["lymphadenopathy"] * 3,
            "volume_ml": [5.0, 6.0, 7.0],  # equivalent diameters 21-24 mm
            "short_axis_mm": [9.0, 12.0, 16.0],
        }
    )
    nodes = lesion_size_summary(findings)["lymphadenopathy"]
    assert nodes["measure"] == "short axis" and nodes["diameter_mm"]["p50"] == 12.0
    assert nodes["bands"]["8-10 mm"] == 1 and nodes["bands"]["10-15 mm"] == 1
    legacy = lesion_size_summary(findings.drop(columns="short_axis_mm"))["lymphadenopathy"]
    assert legacy["measure"] == "equivalent diameter"  # tables written before the column
