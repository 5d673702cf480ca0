"""The cohort schema, versioned: one row per imaging study (`CohortRow`) and the cohort's
metadata file ``cohort.json`` (`CohortManifest`, with ``schema_version``).

`radlens cohort import` writes both; `radlens.data.cohort_table.read_cohort` and
`radlens.data.ct_cohort.load_ct_cohort` read the table. ``docs/cohort_schema.md`` describes every
field; `cohort_json_schema()` gives the JSON Schema of a row. A synthetic cohort
(`radlens cohort synth`) has the same table columns (plus ``true:<id>`` ground truth) and a
``cohort.json`` without ``schema_version`` (`read_cohort_manifest` returns None for it).

Versions: 1.0 -- first version (patient_id, study_id, report_text, one image path, series_uid,
site, split, source_row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from radlens.errors import DataError

__all__ = [
    "COHORT_SCHEMA_VERSION",
    "MANIFEST_NAME",
    "CohortManifest",
    "CohortRow",
    "cohort_json_schema",
    "read_cohort_manifest",
    "validate_cohort_rows",
]

COHORT_SCHEMA_VERSION = "1.0"
#: the cohort's metadata file, beside cohort.parquet / cohort.csv
MANIFEST_NAME = "cohort.json"


class CohortRow(BaseModel):
    """One imaging study of a cohort table (extra columns, e.g. ``true:<id>``, are kept)."""

    model_config = ConfigDict(extra="allow")

    patient_id: str = Field(min_length=1, description="Patient identifier; splits are by it.")
    study_id: str = Field(min_length=1, description="Study identifier, unique in the table.")
    report_text: str = Field(description="Free-text radiology report; labels come from it.")
    nifti_path: str = Field("", description="NIfTI volume, relative to the cohort folder.")
    dicom_dir: str = Field("", description="DICOM series folder (relative or absolute).")
    npz_path: str = Field("", description="radlens .npz volume (hu, spacing, origin).")
    series_uid: str = Field("", description="SeriesInstanceUID the volume was read from.")
    site: str = Field("", description="Site / scanner group, for per-site evaluation.")
    split: Literal["train", "val", "test", ""] = Field(
        "", description="train / val / test (by patient); empty: assigned when loading."
    )
    source_row: int | None = Field(None, description="Row of the imported studies table.")

    @model_validator(mode="after")
    def _one_image(self) -> CohortRow:
        if not (self.nifti_path or self.dicom_dir or self.npz_path):
            raise ValueError("no image path: one of nifti_path, dicom_dir, npz_path is needed")
        return self


class CohortManifest(BaseModel):
    """``cohort.json`` of an imported cohort: how it was made and what it holds."""

    schema_version: str = COHORT_SCHEMA_VERSION
    created_by: str = "radlens cohort import"
    created: str = ""
    source_table: str = ""
    columns: dict[str, str] = Field(default_factory=dict, description="role -> studies column")
    vocab: str = "chest_ct"
    fitness_rules: dict[str, Any] = Field(default_factory=dict)
    split_source: str = ""
    volume_cache: str | None = Field(None, description="Preprocessed-volume cache folder.")
    cache_shape: list[int] | None = None
    cache_spacing: list[float] | None = None
    n_patients: int = 0
    n_studies: int = 0
    n_excluded: int = 0
    splits: dict[str, int] = Field(default_factory=dict)
    label_counts: dict[str, int] = Field(default_factory=dict, description="studies present")


def cohort_json_schema() -> dict[str, Any]:
    """The JSON Schema of one cohort row (`CohortRow`), with ``schema_version``."""
    schema = CohortRow.model_json_schema()
    schema["$comment"] = f"radlens cohort schema {COHORT_SCHEMA_VERSION}"
    return schema


def validate_cohort_rows(table: pd.DataFrame) -> list[str]:
    """Every row that does not fit `CohortRow`, as "row N (study S): field: problem"; empty
    when all fit. Rows count from 1 in table order."""
    problems = []
    for n, record in enumerate(table.to_dict(orient="records"), start=1):
        record = {k: ("" if v is None else v) for k, v in record.items()}
        try:
            CohortRow.model_validate(record)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                study = record.get("study_id", "?")
                problems.append(f"row {n} (study {study}): {where}: {err['msg']}")
    return problems


def read_cohort_manifest(cohort: str | Path) -> CohortManifest | None:
    """The `CohortManifest` of an imported cohort (its folder or table file); None when the
    folder has no ``cohort.json`` or one without ``schema_version`` (a synthetic cohort)."""
    path = Path(cohort)
    folder = path if path.is_dir() else path.parent
    file = folder / MANIFEST_NAME
    if not file.is_file():
        return None
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{file}: unreadable cohort metadata ({exc})") from exc
    if not isinstance(payload, dict) or "schema_version" not in payload:
        return None
    version = str(payload["schema_version"])
    if version.split(".")[0] != COHORT_SCHEMA_VERSION.split(".")[0]:
        raise DataError(
            f"{file}: cohort schema_version {version}; this radlens reads "
            f"{COHORT_SCHEMA_VERSION.split('.')[0]}.x (re-import with `radlens cohort import`)"
        )
    try:
        return CohortManifest.model_validate(payload)
    except ValidationError as exc:
        raise DataError(f"{file}: invalid cohort metadata: {exc}") from exc
