"""`radlens train --task survival` and `radlens evaluate` on a user's own cohort table with time
and event columns; bad follow-up cells are refused naming file, column, row and value."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from radlens.cli import main
from tests._support.survival_cohort import write_survival_cohort

TRAIN = ["train", "--task", "survival", "--cohort-shape", "16,32,32", "--model", "ctnet_3d"]
TRAIN += ["--batch-size", "16", "--lr", "0.003", "--device", "cpu", "--threads", "2"]


@pytest.mark.slow
def test_train_and_evaluate_a_survival_run_from_the_cli(tmp_path: Path, capsys) -> None:
    write_survival_cohort(tmp_path / "cohort", n_studies=40)
    run = tmp_path / "run"
    args = [*TRAIN, "--cohort", str(tmp_path / "cohort"), "--covariates", "age,sex"]
    assert main([*args, "--epochs", "3", "--out", str(run)]) == 0
    assert "test C-index" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "C-index (model)" in out and "C-index (covariates_only)" in out
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["c_index"]["low"] <= saved["c_index"]["estimate"] <= saved["c_index"]["high"]
    assert "Kaplan-Meier" in (run / "report.html").read_text()


def test_a_bad_event_value_is_refused_with_file_column_row_and_value(tmp_path, capsys) -> None:
    table = write_survival_cohort(tmp_path / "cohort", n_studies=6)
    table.loc[2, "event"] = 2
    table.to_csv(tmp_path / "cohort" / "cohort.csv", index=False)
    args = [*TRAIN, "--cohort", str(tmp_path / "cohort"), "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cohort.csv: column 'event', row 3 (CSV line 4, study S002): value '2'" in err


def test_a_negative_time_in_an_outcomes_file_is_refused(tmp_path, capsys) -> None:
    write_survival_cohort(tmp_path / "cohort", n_studies=6)
    own = tmp_path / "follow_up.csv"
    pd.DataFrame({"study_id": [f"S{i:03d}" for i in range(6)], "days": [5, 6, 7, -1, 8, 9],
                  "event": 1}).to_csv(own, index=False)  # fmt: skip
    args = [*TRAIN, "--cohort", str(tmp_path / "cohort"), "--outcomes", str(own)]
    assert main([*args, "--time-column", "days", "--out", str(tmp_path / "run")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "follow_up.csv: column 'days', row 4 (CSV line 5, study S003): value '-1' is negative"
        in err
    )
