"""`--label-fraction`: a seeded, patient-level subset of the training labels in which every
finding keeps a positive (radlens.training.label_fraction), and its wiring into `radlens train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radlens.data import ArrayDataset
from radlens.errors import ConfigError, DataError
from radlens.training import load_dataset, make_config, train
from radlens.training.label_fraction import (
    apply_label_fraction,
    positive_matrix,
    select_label_subset,
)

NAMES = ("effusion", "nodule", "pneumothorax")


def cohort() -> tuple[np.ndarray, list[str]]:
    """20 patients, 2 images each (40 rows). Effusion: patients 0-9 positive; nodule: 10-13;
    pneumothorax: only patient 17 (its second image; the first is NaN = unknown)."""
    labels, patients = [], []
    for p in range(20):
        for _image in range(2):
            labels.append([float(p < 10), float(10 <= p < 14), 0.0])
            patients.append(f"P{p:02d}")
    labels = np.array(labels)
    labels[34] = [0.0, 0.0, np.nan]  # P17, first image: unknown
    labels[35] = [0.0, 0.0, 1.0]  # P17, second image: positive
    return labels, patients


def test_hand_counted_subset_keeps_whole_patients_and_a_positive_of_every_finding() -> None:
    labels, patients = cohort()
    sub = select_label_subset(labels, patients, NAMES, fraction=0.2, seed=3)
    kept = {patients[i] for i in sub.rows}
    assert sub.patients == len(kept) == 4  # ceil(0.2 x 20)
    assert sub.patients_total == 20
    assert "P17" in kept  # the only pneumothorax patient is always taken
    assert len(sub.rows) == 8  # every image of each kept patient
    assert all(patients.count(p) == sum(patients[i] == p for i in sub.rows) for p in kept)
    assert min(sub.positive_patients.values()) >= 1
    assert sub.positives["pneumothorax"] == 1  # the NaN image of P17 is not a positive
    assert sub.positives_total == {"effusion": 20, "nodule": 8, "pneumothorax": 1}
    assert sub.minimum_patients <= 3
    assert list(sub.rows) == sorted(sub.rows)


def test_subset_is_seeded_and_does_not_depend_on_row_order() -> None:
    labels, patients = cohort()
    a = select_label_subset(labels, patients, NAMES, fraction=0.3, seed=1)
    b = select_label_subset(labels, patients, NAMES, fraction=0.3, seed=1)
    assert np.array_equal(a.rows, b.rows)
    others = [select_label_subset(labels, patients, NAMES, fraction=0.3, seed=s) for s in (2, 3)]
    assert any(not np.array_equal(a.rows, o.rows) for o in others)
    order = np.random.default_rng(0).permutation(len(patients))
    shuffled = select_label_subset(
        labels[order], [patients[i] for i in order], NAMES, fraction=0.3, seed=1
    )
    assert {patients[order[i]] for i in shuffled.rows} == {patients[i] for i in a.rows}


def test_a_tiny_fraction_takes_the_cover_and_says_so() -> None:
    labels, patients = cohort()
    sub = select_label_subset(labels, patients, NAMES, fraction=0.01, seed=0)
    # one patient per finding: effusion and nodule patients are disjoint, P17 has pneumothorax
    assert sub.patients == sub.minimum_patients == 3
    assert all(v >= 1 for v in sub.positive_patients.values())
    assert sub.summary()["actual_patient_fraction"] == 0.15


def test_fraction_one_keeps_everything_and_bad_fractions_are_refused() -> None:
    labels, patients = cohort()
    sub = select_label_subset(labels, patients, NAMES, fraction=1.0, seed=0)
    assert len(sub.rows) == 40 and sub.patients == 20
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="--label-fraction"):
            select_label_subset(labels, patients, NAMES, fraction=bad, seed=0)
    with pytest.raises(ConfigError, match="label_fraction"):
        make_config({"dataset": "pneumoniamnist", "label_fraction": 0})


def test_a_finding_without_a_positive_training_patient_is_a_clear_error() -> None:
    labels, patients = cohort()
    labels[:, 2] = np.where(np.isnan(labels[:, 2]), np.nan, 0.0)
    with pytest.raises(DataError, match=r"no training patient is positive for \['pneumothorax'\]"):
        select_label_subset(labels, patients, NAMES, fraction=0.5, seed=0)


def test_single_label_tasks_keep_every_class() -> None:
    y = np.array([[0.0]] * 18 + [[1.0]] * 2)  # class 1 only in the last two patients
    pos = positive_matrix(y, ("normal", "abnormal"), "binary")
    assert pos.sum(axis=0).tolist() == [18, 2]
    sub = select_label_subset(y, [f"p{i}" for i in range(20)], ("normal", "abnormal"),
                              fraction=0.05, seed=4, task="binary")  # fmt: skip
    assert sub.patients == 2 and sub.positives == {"normal": 1, "abnormal": 1}


def _dataset() -> ArrayDataset:
    labels, patients = cohort()
    images = {s: np.zeros((n, 8, 8), np.uint8) for s, n in (("train", 40), ("val", 4), ("test", 4))}
    return ArrayDataset(
        "toy", "multi-label", NAMES, images,
        {"train": labels.astype(np.float32), "val": np.zeros((4, 3), np.float32),
         "test": np.zeros((4, 3), np.float32)},
        {s: np.array([f"{s}{i}" for i in range(len(v))]) for s, v in images.items()},
        {"train": np.array(patients), "val": np.array(["V"] * 4), "test": np.array(["T"] * 4)},
        extra={"site": {"train": np.array(["a"] * 40), "val": np.array(["b"] * 4),
                        "test": np.array(["c"] * 4)}},
    )  # fmt: skip


def test_apply_cuts_the_training_split_only() -> None:
    ds = _dataset()
    assert apply_label_fraction(ds, 1.0, seed=0) is ds
    cut = apply_label_fraction(ds, 0.25, seed=2)
    assert cut.size("train") == 10 and cut.size("val") == 4 and cut.size("test") == 4
    assert len(cut.extra["site"]["train"]) == 10 and len(cut.extra["site"]["test"]) == 4
    assert cut.extra["label_subset"]["patients"] == 5
    assert np.nansum(cut.labels["train"], axis=0).min() >= 1


def test_radlens_train_takes_a_split_column_and_a_label_fraction(tmp_path: Path) -> None:
    """An image folder with a split column: --label-fraction cuts its train split, the run's
    metrics.json records the subset (positives per label)."""
    labels, patients = cohort()
    rng = np.random.default_rng(0)
    rows = []
    for i, (y, p) in enumerate(zip(labels, patients, strict=True)):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"image": f"{i}.png", "patient": p, **dict(zip(NAMES, y, strict=True)),
                     "split": "val" if p in ("P18", "P19") else ("test" if p in ("P00", "P11")
                                                                 else "train")})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    values = {"images": str(tmp_path), "labels": str(tmp_path / "labels.csv"),
              "patient_column": "patient", "label_columns": list(NAMES), "split_column": "split",
              "image_size": 16, "model": "resnet18", "epochs": 1, "batch_size": 4,
              "label_fraction": 0.2, "seed": 5, "device": "cpu", "threads": 1,
              "out": str(tmp_path / "run")}  # fmt: skip
    ds = load_dataset(make_config(values))
    assert set(ds.patient_ids["val"]) == {"P18", "P19"}
    assert set(ds.patient_ids["test"]) == {"P00", "P11"}
    assert ds.extra["label_subset"]["patients"] == 4  # ceil(0.2 x 16 training patients)
    train(make_config(values), progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["label_subset"]["positive_patients"]["pneumothorax"] == 1
    assert metrics["label_subset"]["images"] == ds.size("train")
