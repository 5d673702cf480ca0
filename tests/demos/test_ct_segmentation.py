"""The CT demo's segmentation step: its grid, training subset, tables and report section."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from radlens.demos.ct_report import insert_section
from radlens.demos.ct_seg_report import demo_html, seg_table, wins_table
from radlens.demos.ct_segmentation import seg_grid, training_subset
from radlens.errors import EvaluationError


def test_grid_is_the_classifier_slices_and_the_phantom_in_plane_spacing():
    # FOV 320 x 336 x 336 mm: 32 slices of 10 mm, 96 x 96 pixels of 3.5 mm
    assert seg_grid((32, 64, 64), (64, 96, 96)) == ((10.0, 3.5, 3.5), (16, 48, 48))
    # the tiny demo: 16 slices of 20 mm, 48 x 48 of 7 mm; patches a multiple of 8
    assert seg_grid((16, 32, 32), (32, 48, 48)) == ((20.0, 7.0, 7.0), (16, 24, 24))


def test_training_subset_takes_train_studies_with_a_focal_finding_first():
    table = pd.DataFrame(
        {
            "study_id": [f"S{i}" for i in range(8)],
            "split": ["train"] * 6 + ["val", "test"],
            "true:nodule": [0, 1, 0, 0, 1, 0, 1, 1],
            "true:mass": [0, 0, 0, 1, 0, 0, 1, 1],
        }
    )
    sub = training_subset(table, ["nodule", "mass"], studies=3, seed=0)
    assert sorted(sub["study_id"]) == ["S1", "S3", "S4"]  # every lesion study, no val/test
    sub = training_subset(table, ["nodule", "mass"], studies=4, seed=0)
    assert {"S1", "S3", "S4"} < set(sub["study_id"]) and set(sub["split"]) == {"train"}
    assert list(sub.index) == sorted(sub.index)  # table order kept
    assert len(training_subset(table, ["nodule"], studies=50, seed=1)) == 6


def _figures() -> dict:
    ci = {"estimate": 0.5, "low": 0.25, "high": 0.75}
    return {
        "measured_on": "test split (4 studies, 3 patients), masks on a 10 x 3.5 x 3.5 mm grid",
        "budget": {"model": "unet_lite", "training_studies": 12, "epochs": 2, "train_seconds": 9},
        "dice_lesion_present": {"mass": {"mean": 0.61, "median": 0.7, "n_studies": 2}},
        "lesion_sensitivity": {"mass": ci, "nodule": ci},
        "false_positives_per_scan": {"mass": ci, "nodule": ci},
        "froc": {
            "mass": {"score": 0.42, "score_ci": [0.1, 0.8], "n_lesions": 3},
            "nodule": {"note": "no nodule lesions in the test split"},
        },
        "focal_auroc": [
            {
                "finding": "mass",
                "n": 4,
                "n_positive": 2,
                "classifier": 0.5,
                "segmentation": 0.75,
                "stack": 0.625,
            },
            {
                "finding": "lymphadenopathy",
                "n": 4,
                "n_positive": 1,
                "classifier": 0.6,
                "segmentation": 0.6,
                "stack": None,
            },
            {
                "finding": "nodule",
                "n": 4,
                "n_positive": 0,
                "classifier": np.nan,
                "segmentation": np.nan,
                "stack": np.nan,
            },
        ],
    }


def _text(table) -> str:
    out = io.StringIO()
    Console(file=out, width=100).print(table)
    return out.getvalue()


def test_tables_print_the_figures_and_name_the_winner():
    seg = _text(seg_table(_figures()))
    mass = next(ln for ln in seg.splitlines() if "mass" in ln)
    assert "0.61" in mass and "0.42 [0.10, 0.80]" in mass and "0.50 [0.25, 0.75]" in mass
    nodule = next(ln for ln in seg.splitlines() if "nodule" in ln)
    assert "n/a" in nodule and "–" in nodule  # no lesion-present study, no FROC
    wins = _text(wins_table(_figures()["focal_auroc"]))
    mass = next(ln for ln in wins.splitlines() if "mass" in ln)
    assert "2/4" in mass and "0.750" in mass and mass.rstrip(" │").endswith("segmentation")
    nodes = next(ln for ln in wins.splitlines() if "lymphadenopathy" in ln)
    assert "n/a" in nodes and nodes.rstrip(" │").endswith("tie")  # None: no stack fitted
    assert max(len(ln) for ln in (seg + wins).splitlines()) <= 100


def test_report_section_replaces_an_earlier_one(tmp_path: Path):
    report = tmp_path / "report.html"
    report.write_text("<html><body><h1>run</h1></body></html>")
    section = demo_html(_figures())
    assert "12 training studies" in section and "small budget" in section
    assert "<td>0.750</td>" in section and "<td>0.610</td>" in section
    insert_section(report, "<!-- a -->", "<!-- /a -->", section)
    insert_section(report, "<!-- a -->", "<!-- /a -->", "<p>second</p>")
    page = report.read_text()
    assert page.count("<!-- a -->") == 1 and "<p>second</p>" in page and "0.750" not in page
    assert page.index("<p>second</p>") < page.index("</body>")
    with pytest.raises(EvaluationError, match="not found"):
        insert_section(tmp_path / "none.html", "<!-- a -->", "<!-- /a -->", "x")


def test_a_diverged_training_skips_the_step_with_the_reason(tmp_path: Path, monkeypatch):
    import radlens.demos.ct_segmentation as step
    from radlens.errors import ModelError
    from radlens.phantom import synthesize_cohort

    synthesize_cohort(
        tmp_path / "cohort", n_patients=3, seed=1, shape=(16, 32, 32), formats=("nifti",),
        progress=False,
    )  # fmt: skip
    table = pd.read_csv(tmp_path / "cohort" / "cohort.csv")
    split_of = {str(p): "train" for p in table["patient_id"]}

    def diverged(config):  # as radlens.training.segmentation stops a non-finite loss
        raise ModelError(
            "segmentation loss became nan (bf16 autocast [on]); train with --precision 32-true"
        )

    monkeypatch.setattr(step, "train_segmentation", diverged)
    out = io.StringIO()
    figures = step.segmentation_step(
        tmp_path, tmp_path / "run", split_of, [(-1000.0, 400.0)], Console(file=out, width=100),
        shape=(16, 32, 32), synth_shape=(32, 48, 48),
    )  # fmt: skip
    assert "loss became nan" in figures["skipped"]
    printed = " ".join(out.getvalue().split())
    assert "segmentation skipped: segmentation loss became nan" in printed
    assert "[on]" in printed  # the message, not eaten as console markup
