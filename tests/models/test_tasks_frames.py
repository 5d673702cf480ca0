"""Prediction tables: predictions_to_frame / frame_to_arrays and the parquet metadata round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from radlens.core.rundir import read_predictions, write_predictions
from radlens.errors import EvaluationError
from radlens.models.tasks import Task, frame_to_arrays, predictions_to_frame


def _frame(task: Task, split: str, y: np.ndarray, s: np.ndarray) -> pd.DataFrame:
    n = len(s)
    return predictions_to_frame(
        task=task,
        split=split,
        ids=[f"{split}-{i}" for i in range(n)],
        patient_ids=[f"p{i // 2}" for i in range(n)],
        y_true=y,
        y_score=s,
        dataset="toy",
        official=False,
    )


def test_single_label_round_trip(tmp_path: Path) -> None:
    task = Task("multi-class", ("a", "b", "c"))
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 1])
    s = rng.dirichlet(np.ones(3), size=4)
    df = pd.concat([_frame(task, "val", y, s), _frame(task, "test", y[::-1], s[::-1])])
    df.attrs = _frame(task, "val", y, s).attrs
    assert list(df.columns) == [
        "id",
        "patient_id",
        "split",
        "site",
        "target",
        "score:a",
        "score:b",
        "score:c",
    ]
    assert df["target"].dtype == np.int64
    path = tmp_path / "predictions.parquet"
    write_predictions(df, path)
    meta = pq.read_schema(path).metadata[b"radlens"]
    assert b'"task": "multi-class"' in meta and b'"official": false' in meta
    back = read_predictions(path)
    y_true, y_score, kind, names = frame_to_arrays(back, split="test")
    assert kind == "multi-class" and names == ("a", "b", "c")
    np.testing.assert_array_equal(y_true, y[::-1])
    np.testing.assert_allclose(y_score, s[::-1])


def test_multilabel_targets_keep_unknowns(tmp_path: Path) -> None:
    task = Task("multi-label", ("x", "y"))
    y = np.array([[1, np.nan], [0, 1]], dtype=float)
    s = np.array([[0.9, 0.1], [0.2, 0.8]])
    path = tmp_path / "p.parquet"
    write_predictions(_frame(task, "test", y, s), path)
    y_true, y_score, kind, names = frame_to_arrays(read_predictions(path))
    assert kind == "multi-label" and names == ("x", "y")
    np.testing.assert_array_equal(np.isnan(y_true), np.isnan(y))
    assert Task(kind, names).auc(y_true, y_score) == pytest.approx(1.0)


def test_frame_errors(tmp_path: Path) -> None:
    task = Task("binary", ("n", "p"))
    df = _frame(task, "val", np.array([0, 1]), np.array([[0.6, 0.4], [0.1, 0.9]]))
    with pytest.raises(EvaluationError, match="no rows for split 'test'"):
        frame_to_arrays(df, split="test")
    with pytest.raises(EvaluationError, match=r"lacks columns \['score:p'\]"):
        frame_to_arrays(df.drop(columns=["score:p"]))
    bare = pd.DataFrame(df)
    bare.attrs = {}
    with pytest.raises(EvaluationError, match="no 'radlens' metadata"):
        frame_to_arrays(bare)
    with pytest.raises(EvaluationError, match="not found"):
        read_predictions(tmp_path / "missing.parquet")
