"""Importing your own cohort (radlens.data.cohort_import): every bad row listed at once, --skip-bad
with excluded.csv, splits by patient or from a column, the label space from the vocabulary, the
schema version in cohort.json. The CLI end to end (phantom DICOM -> train -> evaluate) is in
tests/cli/test_cohort_import.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _support.ct_series import chest_volume, write_series
from pydicom.data import get_testdata_file

from radlens.data import (
    COHORT_SCHEMA_VERSION,
    FitnessRules,
    ImportColumns,
    import_cohort,
    read_cohort,
    read_cohort_manifest,
    validate_cohort_rows,
)
from radlens.data.volumes import write_nifti
from radlens.errors import DataError, ReportError
from radlens.reports import load_vocabulary

RULES = FitnessRules(min_slices=10, min_z_extent_mm=40.0)
COLUMNS = ImportColumns(patient="mrn", report="report", dicom="folder", study="acc")
REPORTS = [
    "FINDINGS: Small nodule in the right upper lobe. No pleural effusion.",
    "FINDINGS: Large right pleural effusion. No nodule.",
    "FINDINGS: Lungs are clear. No pleural effusion.",
    "FINDINGS: Moderate left pleural effusion with adjacent atelectasis.",
    "FINDINGS: Spiculated mass in the left upper lobe.",
]


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """studies.csv: 5 good DICOM studies of 4 patients, one NIfTI study, and 4 bad rows."""
    root = tmp_path_factory.mktemp("studies")
    rows = []
    for k, report in enumerate(REPORTS):
        patient = f"P{min(k, 3)}"
        write_series(root / f"s{k}", chest_volume(20, 2.5, size=16), patient_id=patient)
        rows.append({"mrn": patient, "folder": f"s{k}", "report": report, "acc": f"A{k}"})
    write_nifti(chest_volume(20, 2.5, size=16), root / "n5.nii.gz")
    rows.append({"mrn": "P5", "folder": "n5.nii.gz", "report": REPORTS[1], "acc": "A5"})
    (root / "small").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), root / "small")
    rows += [
        {"mrn": "P6", "folder": "small", "report": REPORTS[0], "acc": "A6"},
        {"mrn": "P7", "folder": "nowhere", "report": REPORTS[0], "acc": "A7"},
        {"mrn": "P8", "folder": "s0", "report": "  ", "acc": "A8"},
        {"mrn": "", "folder": "s1", "report": REPORTS[1], "acc": "A1"},
    ]
    pd.DataFrame(rows).to_csv(root / "studies.csv", index=False)
    return root / "studies.csv"


def test_every_bad_row_is_listed_in_one_error(studies: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        import_cohort(studies, tmp_path / "out", COLUMNS, rules=RULES, cache_shape=None)
    text = str(caught.value)
    assert "4 of 10 rows cannot be imported" in text and "--skip-bad" in text
    lines = text.splitlines()[1:]
    assert lines[0].startswith("  row 7 (study A6): 1 slice; a chest CT needs >= 10 | z extent 5")
    assert lines[1].startswith("  row 8 (study A7): ") and lines[1].endswith(
        "nowhere: no such file or folder"
    )
    assert lines[2] == "  row 9 (study A8): empty report (column report)"
    assert lines[3] == (
        "  row 10 (study A1): empty patient id (column mrn) | study id A1 repeats row 2"
    )
    assert not (tmp_path / "out" / "cohort.parquet").exists()


def test_skip_bad_imports_the_rest_and_lists_the_excluded(studies: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = import_cohort(
        studies, out, COLUMNS, rules=RULES, skip_bad=True, cache_shape=(8, 16, 16)
    )
    excluded = pd.read_csv(out / "excluded.csv")
    assert excluded["row"].tolist() == [7, 8, 9, 10]
    assert excluded["study_id"].tolist() == ["A6", "A7", "A8", "A1"]
    table = read_cohort(out)
    assert table["study_id"].tolist() == ["A0", "A1", "A2", "A3", "A4", "A5"]
    assert validate_cohort_rows(pd.read_csv(out / "cohort.csv", keep_default_na=False)) == []
    assert all(Path(p).is_file() for p in table["nifti_path"])
    assert table["dicom_dir"].iloc[5] == ""  # the NIfTI row has no DICOM folder
    assert table["series_uid"].iloc[0] and table["series_uid"].iloc[5] == ""
    # splits by patient: P3's two studies share one
    assert table.loc[table["patient_id"] == "P3", "split"].nunique() == 1
    manifest = read_cohort_manifest(out)
    assert manifest is not None and manifest.schema_version == COHORT_SCHEMA_VERSION
    assert json.loads((out / "cohort.json").read_text())["schema_version"] == "1.0"
    assert manifest.n_studies == 6 and manifest.n_patients == 5 and manifest.n_excluded == 4
    # the label space is the vocabulary's, counted from the reports
    assert tuple(manifest.label_counts) == tuple(load_vocabulary("chest_ct").abnormalities)
    assert manifest.label_counts["pleural_effusion"] == 3
    assert manifest.label_counts["nodule"] == 1 and manifest.label_counts["mass"] == 1
    assert manifest.cache_shape == [8, 16, 16] and len(list((out / "cache").glob("*.npy"))) == 6
    summary = "\n".join(result.summary())
    assert "5 patients, 6 studies" in summary and "excluded 4 studies" in summary
    assert "pleural_effusion                   3   50.0%" in summary


def test_a_split_column_is_kept_and_checked_by_patient(tmp_path: Path, studies: Path) -> None:
    table = pd.read_csv(studies, dtype=str, keep_default_na=False).iloc[:6]
    table["part"] = ["train", "train", "val", "test", "test", "train"]
    table.to_csv(studies.parent / "split.csv", index=False)
    columns = ImportColumns(**{**COLUMNS.named(), "split": "part"})
    out = tmp_path / "split"
    imported = import_cohort(studies.parent / "split.csv", out, columns, rules=RULES)
    assert imported.table["split"].tolist() == table["part"].tolist()
    assert imported.manifest.split_source == "column"
    table.loc[4, "part"] = "val"  # P3 in test and val
    table.to_csv(studies.parent / "split.csv", index=False)
    with pytest.raises(DataError, match=r"1 patient\(s\) in more than one split .*P3: test, val"):
        import_cohort(studies.parent / "split.csv", out, columns, rules=RULES)
    table.loc[4, "part"] = "testing"
    table.to_csv(studies.parent / "split.csv", index=False)
    with pytest.raises(DataError, match=r"row 5 \(study A4\): split 'testing' \(column part\)"):
        import_cohort(studies.parent / "split.csv", out, columns, rules=RULES)


def test_column_and_vocabulary_typos_fail_before_any_volume(studies: Path, tmp_path: Path) -> None:
    wrong = ImportColumns(patient="mrm", report="report", dicom="folder")
    with pytest.raises(DataError, match=r"--patient-column 'mrm' is not known; did you mean 'mrn'"):
        import_cohort(studies, tmp_path / "a", wrong)
    with pytest.raises(DataError, match=r"no image column: pass --dicom-column"):
        import_cohort(studies, tmp_path / "a", ImportColumns(patient="mrn", report="report"))
    with pytest.raises(
        ReportError, match=r"unknown vocabulary 'chest_xx'.*did you mean 'chest_xr'"
    ):
        import_cohort(studies, tmp_path / "b", COLUMNS, vocab="chest_xx")
    assert not (tmp_path / "b").exists()


def test_another_vocabulary_gives_its_own_label_space(studies: Path, tmp_path: Path) -> None:
    table = pd.read_csv(studies, dtype=str, keep_default_na=False).iloc[:3]
    table.to_csv(studies.parent / "three.csv", index=False)
    out = tmp_path / "xr"
    result = import_cohort(
        studies.parent / "three.csv", out, COLUMNS, vocab="chest_xr", rules=RULES
    )
    assert tuple(result.manifest.label_counts) == tuple(load_vocabulary("chest_xr").abnormalities)
    assert result.manifest.vocab == "chest_xr"


def test_study_ids_with_one_file_safe_name_get_their_own_files(
    studies: Path, tmp_path: Path
) -> None:
    table = pd.read_csv(studies, dtype=str, keep_default_na=False).iloc[:2]
    table["mrn"], table["acc"] = "P0", ["A/1", "A_1"]
    table.to_csv(studies.parent / "same.csv", index=False)
    result = import_cohort(studies.parent / "same.csv", tmp_path / "same", COLUMNS, rules=RULES)
    assert result.table["nifti_path"].tolist() == [
        "volumes/P0/A_1.nii.gz",
        "volumes/P0/A_1_row2.nii.gz",
    ]


def test_train_reads_an_imported_cohort_with_its_vocabulary_and_cache(
    studies: Path, tmp_path: Path
) -> None:
    """radlens.training.load_dataset (what `train --cohort` runs) on an imported cohort."""
    from radlens.training import TrainConfig, load_dataset

    table = pd.read_csv(studies, dtype=str, keep_default_na=False).iloc[:6]
    table["part"] = ["train", "train", "val", "test", "test", "train"]
    table.to_csv(studies.parent / "train.csv", index=False)
    columns = ImportColumns(**{**COLUMNS.named(), "split": "part"})
    out = tmp_path / "xr"
    import_cohort(
        studies.parent / "train.csv", out, columns, vocab="chest_xr", rules=RULES,
        cache_shape=(8, 16, 16),
    )  # fmt: skip
    for cached in (out / "cache").glob("*.npy"):  # all air: black in every window if read
        np.save(cached, np.full_like(np.load(cached), -1000.0))
    config = TrainConfig(cohort=str(out), cohort_shape=(8, 16, 16), model="resnet18")
    ds = load_dataset(config)
    assert set(ds.label_names) <= set(load_vocabulary("chest_xr").abnormalities)
    assert "lung_lesion" in ds.label_names  # chest_xr's name for the nodule and the mass
    assert all(ds.images[s].max() == 0 for s in ds.splits)  # read from the import's cache


def test_follow_up_and_covariate_columns_are_kept_for_the_survival_task(
    tmp_path: Path, studies: Path
) -> None:
    table = pd.read_csv(studies, dtype=str, keep_default_na=False).iloc[:6]
    table["time"] = ["12.5", "3", "40", "7.25", "18", "30"]
    table["event"] = ["1", "0", "0", "1", "1", "0"]
    table["age"] = ["61", "54", "70", "48", "48", "66"]
    table.to_csv(studies.parent / "follow_up.csv", index=False)
    out = tmp_path / "follow_up"
    imported = import_cohort(studies.parent / "follow_up.csv", out, COLUMNS, rules=RULES)
    written = pd.read_csv(out / "cohort.csv", dtype=str, keep_default_na=False)
    assert written["time"].tolist() == table["time"].tolist()
    assert written["event"].tolist() == table["event"].tolist()
    assert written["age"].tolist() == table["age"].tolist()
    assert "sex" not in written.columns  # only the columns the user gave
    assert len(imported.table) == 6
