"""Follow-up columns and covariates of a survival cohort: sources, codes, and row-level errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.errors import DataError
from radlens.training import CovariateEncoder, covariate_cox, read_outcomes


def _cohort(folder: Path, **columns) -> pd.DataFrame:
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({
        "patient_id": ["P1", "P2", "P3"], "study_id": ["S1", "S2", "S3"],
        "report_text": ["", "", ""], "nifti_path": ["a.nii.gz", "b.nii.gz", "c.nii.gz"],
        **columns,
    })  # fmt: skip
    table.to_csv(folder / "cohort.csv", index=False)
    return table


def test_time_and_event_columns_of_the_cohort_table(tmp_path: Path) -> None:
    _cohort(tmp_path, time=[3.5, 0, 12], event=["1", "0", "true"])
    out = read_outcomes(tmp_path)
    assert out["study_id"].tolist() == ["S1", "S2", "S3"]
    assert out["time"].tolist() == [3.5, 0.0, 12.0]
    assert out["event"].tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("time", [3, -2, 5], "column 'time', row 2 (CSV line 3, study S2): value '-2' is negative"),
        ("time", [3, 4, ""], "column 'time', row 3 (CSV line 4, study S3): missing"),
        ("time", ["x", 4, 5], "row 1 (CSV line 2, study S1): value 'x' is not a number"),
        ("event", [1, 2, 0], "column 'event', row 2 (CSV line 3, study S2): value '2'; expected"),
    ],
)
def test_bad_cells_name_file_column_row_and_value(tmp_path, column, values, expected) -> None:
    good = {"time": [1, 2, 3], "event": [1, 0, 1]}
    _cohort(tmp_path, **{**good, column: values})
    with pytest.raises(DataError) as err:
        read_outcomes(tmp_path)
    assert str(tmp_path / "cohort.csv") in str(err.value)
    assert expected in str(err.value)


def test_missing_event_column_gets_a_did_you_mean(tmp_path: Path) -> None:
    _cohort(tmp_path, time=[1, 2, 3], events=[1, 0, 1])
    with pytest.raises(DataError, match="events"):
        read_outcomes(tmp_path)


def test_outcomes_csv_beside_the_table_and_an_outcomes_file(tmp_path: Path) -> None:
    _cohort(tmp_path)
    phantom = pd.DataFrame({"study_id": ["S3", "S1", "S2"], "log_hazard": [0.1, 0.2, 0.3],
                            "time_months": [9.0, 7.0, 8.0], "event": [1, 0, 1]})  # fmt: skip
    phantom.to_csv(tmp_path / "outcomes.csv", index=False)
    out = read_outcomes(tmp_path)  # joined by study id, in the table's order
    assert out["time"].tolist() == [7.0, 8.0, 9.0]
    assert out["true_log_hazard"].tolist() == [0.2, 0.3, 0.1]
    own = tmp_path / "mine.csv"
    pd.DataFrame({"study_id": ["S1", "S2"], "days": [5, 6], "dead": [1, 0]}).to_csv(own)
    with pytest.raises(DataError, match=r"no follow-up for 1 cohort studies, e\.g\. \['S3'\]"):
        read_outcomes(tmp_path, outcomes=str(own), time_column="days", event_column="dead")


def test_no_follow_up_anywhere_says_what_to_add(tmp_path: Path) -> None:
    _cohort(tmp_path)
    with pytest.raises(DataError, match=r"no follow-up.*--outcomes"):
        read_outcomes(tmp_path)


def test_covariates_standardised_and_one_hot_with_a_reference_level(tmp_path: Path) -> None:
    table = pd.DataFrame({"study_id": ["a", "b", "c", "d"], "age": [50, 70, 60, 90],
                          "site": ["x", "y", "z", "q"]})  # fmt: skip
    enc = CovariateEncoder(["age", "site"]).fit(table, np.array([0, 1, 2]), "t.csv")
    assert enc.columns == ["age", "site=y", "site=z"]
    codes = enc.transform(table, "t.csv")
    sd = np.std([50, 70, 60])
    np.testing.assert_allclose(codes[:, 0], (np.array([50, 70, 60, 90]) - 60) / sd, rtol=1e-6)
    assert codes[:, 1:].tolist() == [[0, 0], [1, 0], [0, 1], [0, 0]]  # unseen "q": reference
    again = CovariateEncoder.from_state(enc.state()).transform(table, "t.csv")
    np.testing.assert_array_equal(again, codes)
    table["age"] = table["age"].astype(object)
    table.loc[3, "age"] = "old"
    with pytest.raises(DataError, match=r"column 'age', row 4 .*study d\): value 'old'"):
        enc.transform(table, "t.csv")
    with pytest.raises(DataError, match="covariate column"):
        CovariateEncoder(["sexx"]).fit(table, np.array([0]), "t.csv")


def test_covariate_cox_equals_scikit_survival() -> None:
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    t = np.round(rng.exponential(np.exp(-(x @ [0.8, -0.5, 0.0]))), 1)  # rounding makes ties
    e = rng.random(120) < 0.7
    beta = covariate_cox(x, t, e, l2=1e-3)
    y = np.array(list(zip(e, t, strict=True)), dtype=[("e", bool), ("t", float)])
    ref = CoxPHSurvivalAnalysis(alpha=2 * 1e-3 * e.sum(), ties="breslow").fit(x, y)
    np.testing.assert_allclose(beta, ref.coef_, atol=1e-5)
