"""Chest-CT cohort table -> ArrayDataset with report-derived labels (radlens.data.ct_cohort);
the label matrix and the label noise are tested in tests/reports (test_tables, test_label_noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radlens.data.cohort_table import read_cohort
from radlens.data.ct_cohort import cohort_abnormalities, load_ct_cohort
from radlens.data.ct_volumes import field_of_view, source_paths
from radlens.data.volumes.io import load_volume, volume_extent
from radlens.data.volumes.preprocess import prepare_ct_volume
from radlens.errors import ConfigError, DataError
from radlens.phantom import ABNORMALITIES, FOV_MM, synthesize_cohort
from radlens.reports.labeler import label_many


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
    # each study's own extent (what its masks span), read from the NIfTI / NPZ headers
    for split in ds.splits:
        rows = ct.table.iloc[ds.extra["row_index"][split]]
        expected = [volume_extent(p) for p in rows["nifti_path"]]
        np.testing.assert_allclose(ds.extra["fov_mm"][split], expected, rtol=1e-6)
        np.testing.assert_allclose(npz.dataset.extra["fov_mm"][split], expected, rtol=1e-6)


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


@pytest.mark.slow
def test_default_spacing_fits_the_cohort_field_of_view(tiny_cohort: Path, tmp_path: Path) -> None:
    """Default spacing: the cohort's median field of view / shape, from the volume headers. The
    phantom spans FOV_MM in-plane, and site_a / site_b slices exactly FOV_MM along z, so a cohort
    of those sites gets FOV_MM / shape (the spacing the loader took from the phantom before)."""
    table = read_cohort(tiny_cohort)
    extents = np.array([volume_extent(p) for p in table["nifti_path"]])
    for source in ("nifti", "npz"):
        fov = field_of_view(source_paths(table, source), source, tmp_path)
        assert fov[1:] == FOV_MM[1:] and abs(fov[0] - FOV_MM[0]) < 10  # half a slice at most
        assert fov[0] in np.round(extents[:, 0], 2)  # one study's extent (lower median)
    ab = table[table["site"].isin(["site_a", "site_b"])]
    assert len(ab) and field_of_view(source_paths(ab, "nifti"), "nifti", tmp_path) == FOV_MM
    ct = load_ct_cohort(ab, shape=(16, 24, 32), cache_dir=tmp_path, progress=False)
    ds = ct.dataset
    assert ds.extra["spacing"] == tuple(f / n for f, n in zip(FOV_MM, (16, 24, 32), strict=True))
    assert ds.extra["shape"] == (16, 24, 32)
    assert ds.extra["orientation"] == "SPL" and ds.extra["crop"] == "center"
    assert ds.extra["truth_names"] == tuple(ABNORMALITIES)  # from the table's true:<id> columns
    assert ds.label_names[: len(ABNORMALITIES)] == tuple(ABNORMALITIES)
    # one study prepared alone (as the triage service does) equals its training array
    split = ds.splits[0]
    row = int(ds.extra["row_index"][split][0])
    volume = load_volume(ct.table["nifti_path"].iloc[row])
    alone = prepare_ct_volume(volume, (16, 24, 32), ds.extra["spacing"], ds.extra["windows"])
    np.testing.assert_array_equal(alone, ds.images[split][0])


def test_label_space_without_truth_columns(tiny_cohort: Path) -> None:
    table = read_cohort(tiny_cohort)
    findings = label_many(list(table["report_text"]))
    rows = np.arange(len(table))
    assert cohort_abnormalities(table, findings, rows) == tuple(ABNORMALITIES)
    real = table.drop(columns=[c for c in table.columns if c.startswith("true:")])
    found = cohort_abnormalities(real, findings, rows)  # reported present, vocabulary order
    present = {f.abnormality for fs in findings for f in fs if f.status == "present"}
    assert set(found) <= present and "nodule" in found
    assert cohort_abnormalities(real, findings, rows, given=["mass"]) == ("mass",)
    with pytest.raises(DataError, match=r"abnormality.*'nodul'.*did you mean 'nodule'"):
        cohort_abnormalities(real, findings, rows, given=["nodul"])
    with pytest.raises(DataError, match="calls an abnormality"):
        cohort_abnormalities(real, [[] for _ in rows], rows)


@pytest.mark.slow
def test_a_split_column_in_the_table_is_kept(tiny_cohort: Path, tmp_path: Path) -> None:
    """An imported cohort's fixed split (every value train/val/test) is the split training uses."""
    table = read_cohort(tiny_cohort)
    patients = sorted(table["patient_id"].astype(str).unique())
    chosen = {
        p: ("test" if i < 2 else "val" if i == 2 else "train") for i, p in enumerate(patients)
    }
    table["split"] = [chosen[str(p)] for p in table["patient_id"]]
    ct = load_ct_cohort(
        table, shape=(16, 32, 32), cache_dir=tmp_path, min_location_positives=1, progress=False
    )
    for split in ("train", "val", "test"):
        expected = {p for p, s in chosen.items() if s == split}
        assert set(map(str, ct.dataset.patient_ids[split])) == expected
    assert ct.dataset.source.startswith("synthetic chest-CT cohort")
