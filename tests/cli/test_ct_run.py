"""A chest-CT run from the CLI: train --cohort, then evaluate and explain reload its data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radlens.cli import main


@pytest.mark.slow
def test_train_evaluate_explain_a_chest_ct_run(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    synth = ["cohort", "synth", "--patients", "14", "--out", str(cohort)]
    assert main([*synth, "--shape", "24,40,40", "--formats", "nifti", "--quiet"]) == 0
    run = tmp_path / "run"
    # the whole field of view on a 16x32x32 grid (20, 10.5, 10.5 mm), centre-cropped to 16x24x32
    train = ["train", "--cohort", str(cohort), "--cohort-shape", "16,24,32", "--model", "resnet18"]
    train += ["--cohort-spacing", "20,10.5,10.5"]
    train += ["--epochs", "1", "--batch-size", "4", "--threads", "2", "--no-channels-last"]
    assert main([*train, "--precision", "32-true", "--out", str(run)]) == 0
    config = (run / "config.yaml").read_text()
    assert "cohort_shape" in config and "cohort_spacing" in config and str(cohort) in config

    assert main(["evaluate", str(run), "--bootstrap", "0", "--device", "cpu"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    labels = {row["label"] for row in evaluation["labels"]}
    assert {"pleural_effusion", "pneumothorax"} <= labels
    assert (run / "report.html").is_file()

    heat = tmp_path / "heat"
    assert main(["explain", str(run), "--cases", "1", "--out", str(heat)]) == 0
    assert (heat / "index.csv").is_file() and list(heat.glob("*.png"))
    # explain with the cohort folder named: prepared as the run was (spacing, crop, windows)
    heat2 = tmp_path / "heat2"
    explain = ["explain", str(run), "--cases", "1", "--cohort", str(cohort), "--out", str(heat2)]
    assert main(explain) == 0
    assert (heat2 / "index.csv").read_text() == (heat / "index.csv").read_text().replace(
        str(heat), str(heat2)
    )


def test_a_non_positive_cohort_spacing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = ["train", "--cohort", str(tmp_path), "--cohort-spacing", "10,0,5", "--out", "x"]
    assert main(train) == 2
    assert "cohort_spacing must be three positive mm values" in capsys.readouterr().err


def test_two_data_sources_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--dataset", "pneumoniamnist", "--cohort", str(tmp_path), "--out", "x"])
    assert code == 2
    assert "--dataset and --cohort" in capsys.readouterr().err
