"""Synthetic follow-up: the documented rules, seeding, censoring, and a learnable signal."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from radlens.errors import DataError
from radlens.evaluation import concordance_index
from radlens.phantom import (
    COLUMNS,
    FINDING_COLUMNS,
    OUTCOME_COLUMNS,
    OutcomeRules,
    log_hazard,
    outcome_covariates,
    synthesize_outcomes,
)


def _tables(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"P{i:04d}-S1" for i in range(n)]
    studies = pd.DataFrame({"study_id": ids, "age": rng.integers(40, 85, n)})
    rows = []
    for sid in ids:
        if rng.random() < 0.5:
            rows.append((sid, "mass", float(rng.lognormal(2.0, 1.0))))
        if rng.random() < 0.3:
            rows.append((sid, "nodule", float(rng.lognormal(-1.0, 0.7))))
        if rng.random() < 0.3:
            rows.append((sid, "lymphadenopathy", 2.0))
        if rng.random() < 0.3:
            rows.append((sid, "pleural_effusion", 300.0))  # not a tumour: no effect
    return studies, pd.DataFrame(rows, columns=["study_id", "abnormality", "volume_ml"])


def test_log_hazard_follows_the_documented_formula() -> None:
    studies = pd.DataFrame({"study_id": ["A", "B"], "age": [70, 60]})
    findings = pd.DataFrame(
        {
            "study_id": ["A", "A", "A", "B"],
            "abnormality": ["mass", "nodule", "lymphadenopathy", "pleural_effusion"],
            "volume_ml": [8.0, 1.0, 3.0, 500.0],
        }
    )
    out = synthesize_outcomes(studies, findings, seed=0)
    assert list(out.columns) == list(OUTCOME_COLUMNS)
    r = OutcomeRules()
    # A: tumour 8 + 1 = 9 ml -> ln 10; lymphadenopathy; 10 years over 60. B: nothing counts
    expected_a = r.volume_coef * math.log(10.0) + r.lymph_coef + r.age_coef * 10
    assert out["log_hazard"].tolist() == pytest.approx([expected_a, 0.0])


def test_seeded_per_study_and_censoring_rules() -> None:
    studies, findings = _tables(300)
    a = synthesize_outcomes(studies, findings, seed=5)
    pd.testing.assert_frame_equal(a, synthesize_outcomes(studies, findings, seed=5))
    assert not a["time_months"].equals(
        synthesize_outcomes(studies, findings, seed=6)["time_months"]
    )
    # a study's outcome does not depend on the others in the table
    sub = synthesize_outcomes(studies.iloc[::-1].head(50), findings, seed=5).set_index("study_id")
    pd.testing.assert_frame_equal(sub, a.set_index("study_id").loc[sub.index])
    rules = OutcomeRules()
    assert (a["time_months"] <= rules.follow_up_months).all()
    admin = a["censoring"] == "administrative"
    assert (a.loc[admin, "time_months"] == rules.follow_up_months).all()
    assert (a["event"] == (a["censoring"] == "event")).all()
    assert set(a["censoring"]) == {"event", "administrative", "dropout"}


def test_true_risk_ranks_the_outcomes_well() -> None:
    studies, findings = _tables(400, seed=1)
    out = synthesize_outcomes(studies, findings, seed=0)
    c = concordance_index(out["time_months"], out["event"], out["log_hazard"])
    assert c > 0.65  # well above chance (0.5); the frailty noise keeps it below 1
    # pure noise cannot rank: a shuffled risk sits near 0.5
    shuffled = np.random.default_rng(0).permutation(out["log_hazard"].to_numpy())
    assert abs(concordance_index(out["time_months"], out["event"], shuffled) - 0.5) < 0.1


def test_bad_tables_are_refused() -> None:
    studies, findings = _tables(3)
    with pytest.raises(DataError, match=r"study table lacks columns \['age'\]"):
        synthesize_outcomes(studies.drop(columns="age"), findings)
    with pytest.raises(DataError, match="volume_ml"):
        synthesize_outcomes(studies, findings.drop(columns="volume_ml"))
    with pytest.raises(DataError, match="repeats study ids"):
        synthesize_outcomes(pd.concat([studies, studies.head(1)]), findings)
    with pytest.raises(DataError, match="age"):
        synthesize_outcomes(studies.assign(age=[60, None, 70]), findings)


def test_rules_are_the_ones_in_use() -> None:
    studies, findings = _tables(50)
    strong = OutcomeRules(volume_coef=2.0)
    cov_lp = synthesize_outcomes(studies, findings, rules=strong)["log_hazard"]
    base = synthesize_outcomes(studies, findings)["log_hazard"]
    assert (cov_lp >= base - 1e-12).all() and (cov_lp > base).any()
    assert log_hazard(outcome_covariates(studies, findings), strong) == pytest.approx(cov_lp)


def test_the_cohort_writer_tables_carry_the_inputs() -> None:
    # synthesize_outcomes(cohort.csv, findings.csv) is what the cohort writer can call
    assert {"study_id", "age"} <= set(COLUMNS)
    assert {"study_id", "abnormality", "volume_ml"} <= set(FINDING_COLUMNS)
