"""`radlens evaluate` on a survival run: C-index and time-dependent AUC with patient-bootstrap CIs,
baselines, risk groups with Kaplan-Meier curves, evaluation.json and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from radlens.core import write_predictions
from radlens.errors import EvaluationError
from radlens.evaluation import (
    concordance_index,
    evaluate_survival_run,
    is_survival_run,
    kaplan_meier,
    risk_groups,
)


def _run(folder: Path, n: int = 90, seed: int = 0) -> Path:
    """A survival run directory whose predictions carry a known signal (no training needed)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": "survival"}))
    truth = rng.normal(size=n)
    time = rng.exponential(np.exp(-truth)) * 12
    event = rng.random(n) < 0.75
    frame = pd.DataFrame({
        "split": np.repeat(["train", "val", "test"], n // 3),
        "study_id": [f"S{i}" for i in range(n)],
        "patient_id": [f"P{i // 2}" for i in range(n)], "site": "a", "time": time, "event": event,
        "risk": truth + rng.normal(scale=0.5, size=n), "risk_covariates": rng.normal(size=n),
        "true_log_hazard": truth,
    })  # fmt: skip
    frame.attrs["radlens"] = {"task": "survival", "head": "cox"}
    write_predictions(frame, folder / "predictions.parquet")
    return folder


def test_evaluate_writes_c_index_with_ci_baselines_and_report(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    assert is_survival_run(run) and not is_survival_run(tmp_path)
    result = evaluate_survival_run(run, n_bootstrap=200)
    test = pd.read_parquet(run / "predictions.parquet").query("split == 'test'")
    c = concordance_index(test["time"], test["event"], test["risk"])
    assert result["c_index"]["estimate"] == pytest.approx(c)
    assert result["c_index"]["low"] < c < result["c_index"]["high"]
    assert result["horizons"] and len(result["time_auc"]) == len(result["horizons"])
    assert set(result["baselines"]) == {"covariates_only", "true_risk"}
    assert result["difference_vs_covariates"]["versus"] == "risk_covariates"
    assert result["risk_groups"]["cut_on"] == "tertiles of the val risks"
    assert sum(g["n"] for g in result["risk_groups"]["groups"]) == len(test)
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["c_index"] == result["c_index"]
    html = (run / "report.html").read_text()
    assert "C-index" in html and "data:image/png;base64" in html and "true_risk" in html


def test_risk_groups_by_hand() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    event = np.array([1, 1, 0, 1, 1, 0], dtype=bool)
    risk = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    low, mid, high = risk_groups(time, event, risk, [1.0, 3.0])
    assert (low["n"], mid["n"], high["n"]) == (2, 2, 2)  # <= 1, (1, 3], > 3
    assert high["events"] == 2 and high["median_survival"] == 1.0  # S: 0.5 at t=1
    assert low["median_survival"] == 5.0  # t=5: 1 of 2 at risk dies; t=6 censored
    # mid: censored at 3 (S stays 1), the one left dies at 4 (S = 0)
    assert (mid["km_time"], mid["km_survival"]) == ([0.0, 3.0, 4.0], [1.0, 1.0, 0.0])
    assert mid["median_survival"] == 4.0
    km_t, km_s = kaplan_meier(time[:2], event[:2])
    assert high["km_time"][1:] == km_t.tolist() and high["km_survival"][1:] == km_s.tolist()


def test_no_event_in_the_split_is_refused(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    frame = pd.read_parquet(run / "predictions.parquet")
    frame.loc[frame["split"] == "test", "event"] = False
    write_predictions(frame, run / "predictions.parquet")
    with pytest.raises(EvaluationError, match="split 'test' has no event"):
        evaluate_survival_run(run, n_bootstrap=10)
    with pytest.raises(EvaluationError, match="no predictions for split 'holdout'"):
        evaluate_survival_run(run, split="holdout", n_bootstrap=10)
