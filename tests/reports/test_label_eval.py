"""Wide prediction tables against wide gold: uncertain cells (NaN, or -1 in older tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.reports.label_eval import evaluate_files


@pytest.mark.parametrize("uncertain_cell", [np.nan, -1.0])
def test_uncertain_predictions_follow_the_policy(tmp_path: Path, uncertain_cell: float) -> None:
    pred = pd.DataFrame({"report_id": ["a", "b", "c"], "nodule": [1.0, uncertain_cell, 0.0]})
    pred.to_parquet(tmp_path / "labels.wide.parquet", index=False)
    pd.DataFrame({"report_id": ["a", "b", "c"], "nodule": [1, 1, 0]}).to_csv(
        tmp_path / "gold.csv", index=False
    )
    args = (tmp_path / "labels.wide.parquet", tmp_path / "gold.csv")
    assert evaluate_files(*args, uncertain="positive").micro_f1 == 1.0  # b counts as found
    negative = evaluate_files(*args, uncertain="negative")
    assert negative.labels[0].fn == 1 and negative.labels[0].tp == 1  # b counts as missed
