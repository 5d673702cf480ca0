"""The leakage audit says exactly what it compared (per split), names each clash by its pair
(test/train, test/val), compares normalised patient ids and lists ids that differ only by
normalisation as near-matches; counts and the patient bootstrap use the same normalisation."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from _support.evaluation_synth import single_label_frame, write_run_dir
from scipy import ndimage

from radlens.data import normalise_patient_id
from radlens.errors import EvaluationError
from radlens.evaluation import audit_leakage, evaluate_predictions, evaluate_run_dir
from radlens.evaluation.audit import TRAIN_NOT_CHECKED
from radlens.evaluation.bootstrap import PatientResampler


def _frame(splits=("val", "test"), n=(40, 60)):
    return single_label_frame(n_per_split=n, splits=splits, seed=3)


def test_audit_counts_each_split_and_says_training_was_not_checked() -> None:
    frame = _frame()
    report = audit_leakage(frame)
    assert (report.n_eval_patients, report.n_val_patients) == (60, 40)
    assert report.n_train_patients is None
    assert TRAIN_NOT_CHECKED in report.checked
    assert "60 test patients vs 40 val patients" in report.checked
    assert report.to_dict()["train_checked"] is False
    given = audit_leakage(frame, train_patient_ids=["a", "b", "B", " a "])
    assert given.n_train_patients == 2  # normalised: a, b
    assert "60 test patients vs 2 train patients" in given.checked
    assert TRAIN_NOT_CHECKED not in given.checked
    # evaluating val compares it with train only
    assert audit_leakage(frame, split="val").n_val_patients is None


def test_clash_is_named_by_its_pair() -> None:
    frame = _frame()
    test_pid = frame.loc[frame["split"] == "test", "patient_id"].iloc[0]
    val_clash = frame.copy()
    val_clash.loc[val_clash.index[0], "patient_id"] = test_pid  # a val row of a test patient
    with pytest.raises(EvaluationError, match=r"also appear in val \(test/val: 1\)") as exc:
        audit_leakage(val_clash)
    assert "test/train" not in str(exc.value)
    with pytest.raises(EvaluationError, match=r"also appear in train \(test/train: 1\)"):
        audit_leakage(frame, train_patient_ids=[test_pid])
    with pytest.raises(EvaluationError, match=r"test: 1 of 60 patients .*test/train: 1, test/val"):
        audit_leakage(val_clash, train_patient_ids=[test_pid])
    # a separate validation table is reported as val too
    test_rows = frame[frame["split"] == "test"]
    with pytest.raises(EvaluationError, match=r"\(test/val: 4\)"):
        evaluate_predictions(test_rows, val_frame=test_rows.iloc[:4].assign(split="val"))


def test_ids_are_compared_after_normalisation_with_near_matches() -> None:
    frame = _frame()
    test = frame["split"] == "test"
    frame.loc[frame.index[test][0], "patient_id"] = "P0001"
    with pytest.raises(EvaluationError, match=r"test/train: 1\).*1 of them match only after"):
        audit_leakage(frame, train_patient_ids=["p1"])
    strict = partial(normalise_patient_id, case=False, zeros=False)
    report = audit_leakage(frame, train_patient_ids=["p1", "p0001"], normalise=strict)
    assert report.n_train_patients == 2
    assert report.near_matches == [
        {"ids": ["P0001", "p0001", "p1"], "splits": ["test", "train"], "same_patient": False}
    ]
    # within one split: " P7", "p007" and "P7" are one patient for the audit, counts, bootstrap
    same = _frame()
    rows = same.index[same["split"] == "test"][:3]
    same.loc[rows, "patient_id"] = [" P7", "p007", "P7"]
    report = audit_leakage(same)
    assert report.n_eval_patients == 58
    assert report.near_matches[0] == {
        "ids": [" P7", "P7", "p007"],
        "splits": ["test"],
        "same_patient": True,
    }
    result = evaluate_predictions(same, n_bootstrap=5)
    assert result.table["n_patients"].iloc[0] == 58
    assert result.leakage["n_near_matches"] == 1
    assert PatientResampler(np.array(["P001", " P001", "p1"])).n_patients == 1
    assert PatientResampler(np.array(["P001", " P001"]), normalise=None).n_patients == 2
    with pytest.raises(EvaluationError, match="patient_id of test: a patient id is empty"):
        evaluate_predictions(same.assign(patient_id=same["patient_id"].where(~test, " ")))


def test_report_shows_counts_and_near_matches(tmp_path: Path) -> None:
    frame = _frame()
    rows = frame.index[frame["split"] == "test"][:2]
    frame.loc[rows, "patient_id"] = ["P0009", "p9"]
    run = write_run_dir(tmp_path / "run", frame)
    evaluate_run_dir(run, n_bootstrap=0)  # 'synthmnist' cannot be loaded: train not checked
    html = (run / "report.html").read_text()
    assert "<td>test (evaluated)</td><td>59</td>" in html
    assert "<td>val</td><td>40</td>" in html
    assert "training ids not available: not checked" in html
    assert "training/validation patients" not in html
    assert "<code>'P0009'</code> vs <code>'p9'</code> (test)" in html
    # the training ids a caller holds (the CT demo) are compared without loading the dataset
    evaluate_run_dir(run, n_bootstrap=0, train_patient_ids=["t1", "t2", "T01"])
    html = (run / "report.html").read_text()
    doc = json.loads((run / "evaluation.json").read_text())["leakage_audit"]
    assert "<td>train</td><td>2</td>" in html
    assert "not checked" not in html and "training_data" not in doc
    assert doc["n_train_patients"] == 2 and doc["n_val_patients"] == 40


def test_audit_lists_near_duplicate_images_of_every_split_pair() -> None:
    """Val/test duplicates are compared too and named by their own splits (issue 17 item 3)."""
    rng = np.random.default_rng(0)
    imgs = ndimage.gaussian_filter(rng.normal(size=(12, 32, 32)), (0, 2.5, 2.5)) * 100 + 128
    train, val = imgs[:6], imgs[6:9]
    test = [ndimage.shift(val[1], (0, 1), mode="nearest")[:, ::-1], imgs[9], train[4] + 3]
    frame = _frame(splits=("train", "val", "test"), n=(6, 3, 3))
    report = audit_leakage(frame, train_images=train, val_images=val, eval_images=test)
    got = [(p.split_a, p.index_a, p.split_b, p.index_b) for p in report.near_duplicates]
    assert got == [("train", 4, "test", 2), ("val", 1, "test", 0)]
    doc = report.to_dict()
    assert doc["n_duplicate_pairs"] == 2 and doc["duplicate_pairs"][1]["split_a"] == "val"
    # the report template's train/evaluated keys hold only the train/test pair
    assert doc["n_near_duplicates"] == 1 and doc["near_duplicate_pairs"][0]["train_index"] == 4
    assert any("train/val, train/test, val/test" in c for c in report.checked)
    with pytest.raises(EvaluationError, match="val #1 / test #0"):
        audit_leakage(frame, val_images=val, eval_images=test, refuse_duplicates=True)
