"""Bad inputs: one-class labels, NaN scores, mismatched ids, empty splits, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _support.evaluation_synth import multilabel_frame, single_label_frame

from radlens.errors import ConfigError, EvaluationError
from radlens.evaluation import (
    audit_leakage,
    evaluate_predictions,
    join_labels,
    prediction_set,
    read_predictions,
)


def test_one_class_label_is_nan_with_reason_not_a_crash() -> None:
    frame = multilabel_frame(n_per_split=(200, 300), seed=1)
    test = frame["split"] == "test"
    frame.loc[test, "target:mass"] = 0.0  # only negatives in test
    frame.loc[test, "target:nodule"] = np.where(
        frame.loc[test, "target:nodule"].isna(), np.nan, 1.0
    )  # only positives
    result = evaluate_predictions(frame, n_bootstrap=20)
    rows = result.table.set_index("label")
    assert np.isnan(rows.loc["mass", "auroc"])
    assert rows.loc["mass", "note"] == "AUROC undefined: only negatives in test"
    assert rows.loc["nodule", "note"] == "AUROC undefined: only positives in test"
    assert np.isfinite(rows.loc["pleural_effusion", "auroc"])
    # a label with one class in val gets no threshold (said so), but still an AUROC on test
    frame.loc[frame["split"] == "val", "target:pleural_effusion"] = 0.0
    again = evaluate_predictions(frame).table.set_index("label")
    assert np.isnan(again.loc["pleural_effusion", "threshold"])
    assert np.isnan(again.loc["pleural_effusion", "sensitivity"])
    assert again.loc["pleural_effusion", "note"] == "no threshold: one class only in val"
    assert np.isfinite(again.loc["pleural_effusion", "auroc"])
    assert result.summary["n_labels_defined"] == 1
    # the macro figure is the mean over labels where AUROC is defined
    assert result.summary["macro_auroc"] == pytest.approx(rows.loc["pleural_effusion", "auroc"])
    doc = result.to_json()
    assert '"auroc": null' in doc and "only negatives in test" in doc


def test_nan_scores_name_label_and_count() -> None:
    frame = multilabel_frame()
    idx = frame.index[frame["split"] == "test"][:7]
    frame.loc[idx, "score:mass"] = np.nan
    with pytest.raises(EvaluationError, match=r"NaN scores in score:mass \(7 of 500 rows\)"):
        evaluate_predictions(frame)


def test_mismatched_ids_between_predictions_and_labels() -> None:
    frame = single_label_frame()
    labels = frame[["id", "target"]].copy()
    labels = labels.iloc[3:].copy()  # 3 ids only in predictions
    extra = pd.DataFrame({"id": ["ghost-1", "ghost-2"], "target": [0, 1]})
    labels = pd.concat([labels, extra], ignore_index=True)
    with pytest.raises(EvaluationError, match=r"3 only in predictions .* 2 only in labels") as exc:
        join_labels(frame.drop(columns=["target"]), labels)
    assert "ghost-1" in str(exc.value) and "val-000000" in str(exc.value)
    with pytest.raises(EvaluationError, match="ids differ between predictions"):
        evaluate_predictions(frame, labels=labels)
    joined = join_labels(frame.drop(columns=["target"]), frame[["id", "target"]])
    assert joined.attrs["radlens"]["task"] == "multi-class"
    assert (joined["target"].to_numpy() == frame["target"].to_numpy()).all()


def test_empty_split_and_missing_columns() -> None:
    frame = multilabel_frame()
    with pytest.raises(EvaluationError, match=r"split 'test' has no rows .*\['val'\]"):
        evaluate_predictions(frame[frame["split"] == "val"])
    with pytest.raises(EvaluationError, match="lacks columns"):
        prediction_set(frame.drop(columns=["patient_id"]))
    with pytest.raises(EvaluationError, match="no 'score:<name>' columns"):
        prediction_set(frame[["id", "patient_id", "split"]])


def test_bad_targets_and_options() -> None:
    frame = single_label_frame()
    frame.loc[frame.index[-1], "target"] = 5
    with pytest.raises(EvaluationError, match=r"not class indices 0..2"):
        prediction_set(frame)
    with pytest.raises(ConfigError, match="unknown method"):
        evaluate_predictions(single_label_frame(), operating_point="best")
    with pytest.raises(EvaluationError, match="by='hospital'"):
        evaluate_predictions(single_label_frame(), by="hospital")
    with pytest.raises(EvaluationError, match="predictions table not found"):
        read_predictions("/nonexistent/predictions.parquet")


def test_leakage_audit_refuses_patient_overlap() -> None:
    frame = multilabel_frame(splits=("train", "test"), n_per_split=(100, 100))
    leaked = frame.index[frame["split"] == "test"][:4]
    frame.loc[leaked, "patient_id"] = frame.loc[frame.index[0], "patient_id"]  # a train patient
    with pytest.raises(
        EvaluationError, match=r"leakage: .*1 of \d+ patients .*test/train: 1.*refusing"
    ):
        evaluate_predictions(frame)
    clean = multilabel_frame(splits=("train", "test"), n_per_split=(100, 100))
    report = audit_leakage(clean)
    assert report.patient_overlap == 0 and report.n_train_patients == 50
    external = [clean.loc[clean["split"] == "test", "patient_id"].iloc[0]]
    with pytest.raises(EvaluationError, match="refusing to evaluate test"):
        audit_leakage(clean, train_patient_ids=external)
    # a separate validation table (thresholds, temperature) is audited too
    test_rows = clean[clean["split"] == "test"]
    val_rows = test_rows.iloc[:4].assign(split="val")
    with pytest.raises(EvaluationError, match="refusing to evaluate test"):
        evaluate_predictions(test_rows, val_frame=val_rows)
    # the message never names a patient id
    try:
        audit_leakage(clean, train_patient_ids=external)
    except EvaluationError as exc:
        assert external[0] not in str(exc)


def test_leakage_audit_reports_near_duplicate_images() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    train = [
        ((np.sin(xx / (3 + i)) + np.cos(yy / (4 + 2 * i))) * 60 + 128).astype(np.uint8)
        for i in range(6)
    ]
    noisy_copy = np.clip(train[2].astype(int) + rng.integers(-3, 4, (64, 64)), 0, 255)
    test = [noisy_copy.astype(np.uint8), rng.integers(0, 255, (64, 64), dtype=np.uint8)]
    frame = multilabel_frame(splits=("train", "test"), n_per_split=(6, 2), images_per_patient=1)
    report = audit_leakage(frame, train_images=train, eval_images=test)
    assert [(p.index_a, p.index_b) for p in report.near_duplicates] == [(2, 0)]
    stacked = audit_leakage(frame, train_images=np.stack(train), eval_images=np.stack(test))
    assert stacked.near_duplicates == report.near_duplicates
    assert report.to_dict()["near_duplicate_pairs"][0]["train_index"] == 2
    with pytest.raises(EvaluationError, match="near-duplicate image pairs between splits"):
        audit_leakage(frame, train_images=train, eval_images=test, refuse_duplicates=True)
