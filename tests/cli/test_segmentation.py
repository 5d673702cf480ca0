"""`radlens train --task segmentation` and `radlens evaluate` on a user's own NIfTI folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radlens.cli import main
from tests._support.seg_cohort import write_sphere_cohort


@pytest.mark.slow
def test_train_and_evaluate_a_segmentation_run_from_the_cli(tmp_path: Path, capsys) -> None:
    write_sphere_cohort(tmp_path / "cohort", n_studies=7)
    run = tmp_path / "run"
    train = ["train", "--task", "segmentation", "--cohort", str(tmp_path / "cohort")]
    train += ["--findings", "nodule,mass", "--spacing", "4,2,2", "--patch", "16,32,32"]
    train += ["--model", "unet_lite", "--epochs", "2", "--batch-size", "8", "--lr", "0.01"]
    assert main([*train, "--cohort-windows", "-1000:400", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "val Dice (last epoch): nodule" in out and "mask thresholds (chosen on val" in out
    assert main(["evaluate", str(run), "--bootstrap", "20", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "FROC nodule: score" in out and "report:" in out
    saved = json.loads((run / "evaluation.json").read_text())
    assert {r["finding"] for r in saved["summary"]} == {"nodule", "mass"}
    assert (run / "report.html").stat().st_size > 10_000  # overlays and FROC plots inlined


def test_segmentation_flags_are_checked(tmp_path: Path, capsys) -> None:
    args = ["train", "--task", "segmentation", "--dataset", "pneumoniamnist"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 2
    assert "--task segmentation needs --cohort" in capsys.readouterr().err
    assert main(["train", "--task", "segment", "--cohort", str(tmp_path)]) == 2
    assert "segmentation" in capsys.readouterr().err
