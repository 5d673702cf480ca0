"""`radlens predict` and `radlens export` from the command line (radlens.cli.deploy)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from radlens.cli import main


def test_predict_writes_the_scores_and_lists_what_it_skipped(
    run_3d: Path, ct_inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "scores.csv"
    argv = ["predict", str(run_3d), str(ct_inputs["series"]), str(ct_inputs["short"])]
    assert main([*argv, "--out", str(out), "--batch-size", "2"]) == 0
    text = capsys.readouterr().out
    assert f"scored 1 of 2 input(s) -> {out}" in text
    assert f"not scored (not_scorable): {ct_inputs['short']}: 10 slices" in text
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "path", "status", "reason", "nodule", "effusion@left_lung"]
    assert 0 <= frame["nodule"][0] <= 1


def test_predict_refuses_an_unknown_format_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # the run does not even exist: the --out suffix is checked first
    assert main(["predict", str(tmp_path / "norun"), "x.png", "--out", "s.xlsx"]) == 2
    err = capsys.readouterr().err
    assert "unknown format '.xlsx'" in err and ".csv, .parquet, .json" in err


def test_predict_with_nothing_scorable_exits_1(
    run_2d: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "s.json"
    assert main(["predict", str(run_2d), str(tmp_path / "gone.png"), "--out", str(out)]) == 1
    assert json.loads(out.read_text())[0]["reason"] == "no such file or folder"


def test_export_prints_the_verification(
    run_3d: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.pt"
    assert main(["export", str(run_3d), "--format", "torchscript", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out} (torchscript) and {out}.json" in text
    assert "verified: max |difference|" in text and "(tolerance 0.0001)" in text
