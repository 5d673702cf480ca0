"""`radlens train --task detection` and `radlens evaluate` on a detector run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radlens.cli import main
from tests._support.nodule_cohort import write_nodule_cohort


@pytest.mark.slow
def test_train_and_evaluate_a_nodule_detector_from_the_cli(tmp_path: Path, capsys) -> None:
    write_nodule_cohort(tmp_path / "cohort", n_studies=10)
    run = tmp_path / "run"
    args = ["train", "--task", "detection", "--cohort", str(tmp_path / "cohort"), "--epochs", "2"]
    assert main([*args, "--batch-size", "32", "--threads", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "val FROC nodule all:" in out and "run directory:" in out
    saved = json.loads((run / "detector.json").read_text())
    assert saved["config"]["epochs"] == 2 and saved["config"]["lr"] == 2e-3  # detector default
    assert main(["evaluate", str(run), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "test FROC nodule >= 6 mm:" in out and "test study AUROC" in out
    result = json.loads((run / "detection_evaluation.json").read_text())
    point = result["pointing"]  # the top candidate against each test study's nodules
    assert point["n"] >= 1 and f"of {point['n']} studies with one" in out
    assert result["splits"] == ["test"] and result["studies"] == 4
    assert (run / "froc.png").read_bytes()[:4] == b"\x89PNG"


def test_detection_flags_are_checked(tmp_path: Path, capsys) -> None:
    args = ["train", "--task", "detection", "--dataset", "pneumoniamnist"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    assert "--task detection needs --cohort" in capsys.readouterr().err
    write_nodule_cohort(tmp_path / "c", n_studies=2)
    args = ["train", "--task", "detection", "--cohort", str(tmp_path / "c")]
    assert main([*args, "--findings", "nodule,mass", "--out", str(tmp_path / "r")]) == 2
    assert "detects one finding" in capsys.readouterr().err
    assert main([*args, "--patience", "3", "--out", str(tmp_path / "r")]) == 2
    assert "--patience" in capsys.readouterr().err
    assert main([*args, "--resume", "--out", str(tmp_path / "r")]) == 2
    assert "--resume does not apply to --task detection" in capsys.readouterr().err
