"""`read_cohort`: path columns come back absolute, also for a relative cohort path (a caller that
joins them to the cohort folder again must not get cohort/cohort/...)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radlens.data import read_cohort
from radlens.errors import DataError


def test_path_columns_are_absolute_for_a_relative_cohort(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "cohort"
    (folder / "P1").mkdir(parents=True)
    (folder / "P1" / "ct.nii.gz").write_bytes(b"")
    pd.DataFrame(
        {"study_id": ["S1", "S2"], "patient_id": ["P1", "P2"],
         "nifti_path": ["P1/ct.nii.gz", ""], "report_text": ["x", "y"]}
    ).to_csv(folder / "cohort.csv", index=False)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    table = read_cohort("cohort")
    first = Path(table.loc[0, "nifti_path"])
    assert first.is_absolute() and first == folder / "P1" / "ct.nii.gz" and first.is_file()
    assert table.loc[1, "nifti_path"] == ""  # an empty cell stays empty
    assert table.loc[0, "report_text"] == "x"  # other columns untouched


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no cohort table"):
        read_cohort(tmp_path)
