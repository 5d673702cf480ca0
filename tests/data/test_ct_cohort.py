"""Chest-CT cohort table -> ArrayDataset with report-derived labels (radlens.data.ct_cohort)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radlens.data.ct_cohort import cohort_labels, label_noise, load_ct_cohort
from radlens.errors import ConfigError, DataError
from radlens.phantom.cohort import read_cohort, synthesize_cohort
from radlens.reports.labeler import Finding

ABNS = ("nodule", "pneumothorax", "mass")


def _f(abn: str, loc: str | None, status: str, section: str = "findings") -> Finding:
    return Finding(abn, loc, status, section, "", (0, 0))


def test_labels_present_absent_uncertain_and_locations() -> None:
    findings = [
        [_f("nodule", "right_upper_lobe", "present"), _f("pneumothorax", None, "absent")],
        [_f("nodule", "left_lower_lobe", "present"), _f("mass", None, "uncertain")],
        [_f("nodule", None, "present")],  # location unknown -> location labels NaN
        [_f("nodule", "right_upper_lobe", "present", section="indication")],  # not reporting
        [],
    ]
    names, y = cohort_labels(findings, abnormalities=ABNS, min_location_positives=1)
    assert names[:3] == ABNS
    assert y[:, 0].tolist() == [1, 1, 1, 0, 0]
    assert y[0, 1] == 0 and y[4, 1] == 0  # absent and not mentioned are both 0
    assert np.isnan(y[1, 2])  # uncertain -> masked
    col = names.index("nodule@right_upper_lobe")
    assert y[0, col] == 1 and y[1, col] == 0 and np.isnan(y[2, col]) and y[4, col] == 0
    assert "mass@" not in " ".join(names)  # never present with a location
    # only rows 0 and 1 count as training rows: left_lower_lobe has 1 positive there
    names2, _ = cohort_labels(
        findings, abnormalities=ABNS, train_rows=np.array([0, 2, 3]), min_location_positives=1
    )
    assert "nodule@left_lower_lobe" not in names2 and "nodule@right_upper_lobe" in names2


def test_label_noise_against_true_findings() -> None:
    table = pd.DataFrame(
        {
            "study_id": ["a", "b", "c"],
            "true_findings": [
                json.dumps([{"abnormality": "nodule", "location": "right_upper_lobe"}]),
                json.dumps([{"abnormality": "pneumothorax", "location": "left_pleura"}]),
                json.dumps([]),
            ],
        }
    )
    findings = [
        [_f("nodule", "right_upper_lobe", "present")],
        [_f("pneumothorax", "left_pleura", "uncertain")],  # uncertain: counted as missed
        [_f("mass", None, "present")],  # false positive
    ]
    noise = label_noise(table, findings, abnormalities=ABNS)
    rows = noise.table.set_index("abnormality")
    assert rows.loc["nodule", "f1"] == 1.0
    assert rows.loc["pneumothorax", "fn"] == 1 and rows.loc["pneumothorax", "n_uncertain"] == 1
    assert rows.loc["mass", "fp"] == 1
    assert noise.micro_f1 == pytest.approx(0.5)
    with pytest.raises(DataError, match="true_findings"):
        label_noise(table.drop(columns="true_findings"), findings)


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    synthesize_cohort(
        out, n_patients=6, seed=3, shape=(16, 32, 32), formats=("nifti", "npz"), progress=False
    )
    return out


@pytest.mark.slow
def test_load_tiny_cohort_splits_by_patient_and_caches(tiny_cohort: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    common = {
        "shape": (16, 32, 32),
        "cache_dir": cache,
        "progress": False,
        "fractions": (0.5, 0.2, 0.3),
        "seed": 1,
    }
    ct = load_ct_cohort(tiny_cohort, min_location_positives=1, **common)
    ds = ct.dataset
    assert ds.task == "multi-label" and ds.spatial_dims == 3 and ds.n_channels == 2
    assert ds.label_names[:2] == ("nodule", "mass")
    total = sum(ds.size(s) for s in ds.splits)
    assert total == len(ct.table)
    for split in ds.splits:
        assert ds.images[split].dtype == np.uint8
        assert ds.images[split].shape[1:] == (2, 16, 32, 32)
        assert ds.labels[split].shape == (ds.size(split), len(ds.labels[split][0]))
        assert len(ds.extra["site"][split]) == ds.size(split)
    patients = [set(ds.patient_ids[s]) for s in ds.splits]
    assert sum(len(p) for p in patients) == len(set().union(*patients))  # no patient in two splits
    assert ct.noise is not None and ct.noise.micro_f1 > 0.9
    assert any(ds.images[s].max() > 200 for s in ds.splits)  # windowed to the full 0..255 range
    assert len(list(cache.glob("*.npy"))) == total
    again = load_ct_cohort(tiny_cohort, min_location_positives=1, **common)
    for split in ds.splits:
        np.testing.assert_array_equal(again.dataset.images[split], ds.images[split])
        np.testing.assert_array_equal(again.dataset.labels[split], ds.labels[split])
    npz = load_ct_cohort(tiny_cohort, source="npz", **common)
    split = ds.splits[0]
    diff = np.abs(npz.dataset.images[split].astype(int) - ds.images[split].astype(int))
    assert diff.mean() < 2.0  # NIfTI and NPZ copies of the same volumes


@pytest.mark.slow
def test_labels_come_from_reports_not_truth(tiny_cohort: Path, tmp_path: Path) -> None:
    table = read_cohort(tiny_cohort)
    table["report_text"] = "FINDINGS: No pulmonary nodule. No pneumothorax.\nIMPRESSION: Normal."
    ct = load_ct_cohort(table, shape=(16, 32, 32), cache_dir=tmp_path, progress=False)
    y = np.concatenate([ct.dataset.labels[s] for s in ct.dataset.splits])
    assert (y[:, :12] == 0).all()  # the truth has findings, the reports say none
    rows = ct.noise.table.set_index("abnormality")
    assert rows["tp"].sum() == 0 and rows.loc["nodule", "fn"] == int(table["true:nodule"].sum())


def test_bad_inputs(tiny_cohort: Path, tmp_path: Path) -> None:
    table = read_cohort(tiny_cohort)
    with pytest.raises(DataError, match="'report_text'"):
        load_ct_cohort(table.drop(columns="report_text"), progress=False)
    with pytest.raises(ConfigError, match="source 'png' unknown"):
        load_ct_cohort(table, source="png", progress=False)
    with pytest.raises(DataError, match="no dicom_dir"):
        load_ct_cohort(table, source="dicom", cache_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="unknown HU window"):
        load_ct_cohort(table, windows=("lungs",), progress=False)
    with pytest.raises(ConfigError, match="shape"):
        load_ct_cohort(table, shape=(4, 32, 32), progress=False)
    with pytest.raises(DataError, match="no cohort table"):
        load_ct_cohort(tmp_path / "nowhere", progress=False)
