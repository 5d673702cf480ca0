"""The versioned cohort schema (radlens.data.cohort_schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from radlens.data import (
    COHORT_SCHEMA_VERSION,
    CohortManifest,
    cohort_json_schema,
    read_cohort_manifest,
    validate_cohort_rows,
)
from radlens.errors import DataError


def test_rows_are_validated_with_row_study_and_field() -> None:
    table = pd.DataFrame(
        {
            "patient_id": ["P1", "", "P3", "P4"],
            "study_id": ["S1", "S2", "S3", "S4"],
            "report_text": ["r", "r", "r", "r"],
            "nifti_path": ["a.nii.gz", "b.nii.gz", "c.nii.gz", ""],
            "split": ["train", "val", "dev", ""],
            "true:nodule": [0, 1, 0, 0],  # extra columns are allowed
        }
    )
    problems = validate_cohort_rows(table)
    assert problems[0].startswith("row 2 (study S2): patient_id: String should have at least 1")
    assert problems[1].startswith("row 3 (study S3): split: Input should be 'train'")
    assert problems[2].startswith("row 4 (study S4): row: Value error, no image path")
    assert len(problems) == 3
    assert validate_cohort_rows(table.iloc[:1]) == []


def test_the_json_schema_names_the_version_and_required_fields() -> None:
    schema = cohort_json_schema()
    assert schema["$comment"] == f"radlens cohort schema {COHORT_SCHEMA_VERSION}"
    assert set(schema["required"]) == {"patient_id", "study_id", "report_text"}
    assert "series_uid" in schema["properties"]


def test_manifests_by_version(tmp_path: Path) -> None:
    assert read_cohort_manifest(tmp_path) is None  # no cohort.json
    (tmp_path / "cohort.json").write_text(json.dumps({"generator": "radlens.phantom.render"}))
    assert read_cohort_manifest(tmp_path / "cohort.parquet") is None  # a synthetic cohort
    (tmp_path / "cohort.json").write_text(CohortManifest(vocab="chest_xr").model_dump_json())
    manifest = read_cohort_manifest(tmp_path)
    assert manifest is not None and manifest.vocab == "chest_xr"
    (tmp_path / "cohort.json").write_text(json.dumps({"schema_version": "2.0"}))
    with pytest.raises(DataError, match=r"cohort schema_version 2.0; this radlens reads 1.x"):
        read_cohort_manifest(tmp_path)
