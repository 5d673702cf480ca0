"""`radlens cohort synth --radiographs`: the CLI writes radiographs and CXR reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radlens.cli import main


def test_cohort_synth_radiographs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    args = ["cohort", "synth", "--patients", "1", "--out", str(out), "--shape", "32,48,48",
            "--formats", "npz", "--radiographs", "--radiograph-size", "320", "-q"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "cxr no_finding" in printed and "cxr lung_lesion" in printed
    table = pd.read_parquet(out / "cohort.parquet")
    assert (out / table["radiograph_path"].iloc[0]).is_file()
    assert table["cxr_report_text"].str.contains("IMPRESSION:").all()
    assert main([*args[:-3], "--radiograph-size", "300", "-q"]) == 2  # only 256 or 320
