"""Wide prediction tables against wide gold: uncertain cells (NaN, or -1 in older tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.errors import EvaluationError
from radlens.reports import evaluate_paths, label_table
from radlens.reports.label_eval import evaluate_files, mapping_vocabulary


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


def _chest_xr_labels(tmp_path: Path) -> Path:
    src = tmp_path / "reports.csv"
    pd.DataFrame({"id": ["r1"], "text": ["Mild cardiomegaly."]}).to_csv(src, index=False)
    out = label_table(src, id_column="id", text_column="text", vocab="chest_xr",
                      out=tmp_path / "labels.parquet")  # fmt: skip
    return out.wide_path


def test_packaged_mappings_declare_their_vocabulary() -> None:
    assert mapping_vocabulary("openi_negbio") == "chest_ct"
    assert mapping_vocabulary("ct_rate") == "chest_ct"
    assert mapping_vocabulary("openi_negbio_xr") == "chest_xr"


def test_chest_xr_labels_are_scored_with_the_openi_xr_mapping(tmp_path: Path) -> None:
    wide = _chest_xr_labels(tmp_path)  # r1: "Mild cardiomegaly."
    gold = tmp_path / "gold.csv"
    cols = ["Atelectasis", "Cardiomegaly", "Effusion", "Pneumonia", "Pneumothorax"]
    cols += ["Consolidation", "Edema", "Pleural_Thickening"]
    row = {c: [int(c == "Cardiomegaly")] for c in cols}
    pd.DataFrame({"report_id": ["r1"], **row}).to_csv(gold, index=False)
    res = next(iter(evaluate_paths(wide, gold, mapping="openi_negbio_xr").values()))
    by = {s.label: s for s in res.labels}
    assert (by["Cardiomegaly"].tp, by["Edema"].fp) == (1, 0)


def test_mapping_of_another_vocabulary_is_refused_by_name(tmp_path: Path) -> None:
    wide = _chest_xr_labels(tmp_path)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"report_id": ["r1"], "Cardiomegaly": [1]}).to_csv(gold, index=False)
    with pytest.raises(EvaluationError) as info:
        evaluate_paths(wide, gold, mapping="openi_negbio")
    msg = str(info.value)
    assert "label mapping 'openi_negbio' needs labels of vocabulary 'chest_ct'" in msg
    assert "has the labels of vocabulary 'chest_xr'" in msg


def test_no_common_id_shows_examples_of_both_sides(tmp_path: Path) -> None:
    wide = _chest_xr_labels(tmp_path)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"report_id": ["CXR1", "CXR2"], "cardiomegaly": [1, 0]}).to_csv(gold, index=False)
    with pytest.raises(
        EvaluationError, match=r"ids e\.g\. \['r1'\]\).*ids e\.g\. \['CXR1', 'CXR2'\]"
    ):
        evaluate_paths(wide, gold)
