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
    train = ["train", "--cohort", str(cohort), "--cohort-shape", "16,32,32", "--model", "resnet18"]
    train += ["--epochs", "1", "--batch-size", "4", "--threads", "2", "--no-channels-last"]
    assert main([*train, "--precision", "32-true", "--out", str(run)]) == 0
    config = (run / "config.yaml").read_text()
    assert "cohort_shape" in config and str(cohort) in config

    assert main(["evaluate", str(run), "--bootstrap", "0", "--device", "cpu"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    labels = {row["label"] for row in evaluation["labels"]}
    assert {"pleural_effusion", "pneumothorax"} <= labels
    assert (run / "report.html").is_file()

    heat = tmp_path / "heat"
    assert main(["explain", str(run), "--cases", "1", "--out", str(heat)]) == 0
    assert (heat / "index.csv").is_file() and list(heat.glob("*.png"))


def test_two_data_sources_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--dataset", "pneumoniamnist", "--cohort", str(tmp_path), "--out", "x"])
    assert code == 2
    assert "--dataset and --cohort" in capsys.readouterr().err
