"""Cohorts with radiographs: files, columns, masks, CXR truth, outcomes and README."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radlens.errors import ConfigError
from radlens.phantom import (
    CXR_OBSERVATIONS,
    CXR_TRUTH_PREFIX,
    OUTCOME_COLUMNS,
    RADIOGRAPH_COLUMNS,
    synthesize_cohort,
)

TINY = (32, 48, 48)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("cxr")
    table = synthesize_cohort(
        out, n_patients=3, seed=8, shape=TINY, formats=["npz"], progress=False, radiographs=True
    )
    return out, table


def test_radiograph_files_and_columns(cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = cohort
    for col in [*RADIOGRAPH_COLUMNS, *(CXR_TRUTH_PREFIX + o for o in CXR_OBSERVATIONS)]:
        assert col in table.columns
    on_disk = pd.read_parquet(out / "cohort.parquet")
    assert list(on_disk.columns) == list(table.columns)
    for rec in table.to_dict("records"):
        row = pd.Series(rec)
        img = np.array(Image.open(out / row.radiograph_path))
        assert img.shape == (256, 256) and img.dtype == np.uint8 and img.std() > 10
        assert (out / row.cxr_report_path).read_text(encoding="utf-8") == row.cxr_report_text
        assert "FINDINGS:" in row.cxr_report_text and "IMPRESSION:" in row.cxr_report_text
        seen = json.loads(row.cxr_findings)
        present = {f["observation"] for f in seen}
        for obs in CXR_OBSERVATIONS:
            assert rec[CXR_TRUTH_PREFIX + obs] == int(obs in present)
        with np.load(out / row.radiograph_masks_path) as masks:
            keys = set(masks.files)
            for f in seen:  # every visible finding has a projected mask
                if f["location"]:
                    assert f"{f['observation']}@{f['location']}" in keys
            for f in json.loads(row.true_findings):  # and every CT finding its projection
                key = f"{f['abnormality']}@{f['location']}"
                assert key in keys and masks[key].shape == (256, 256) and masks[key].any()
    manifest = json.loads((out / "cohort.json").read_text())
    assert manifest["radiographs"]["size"] == 256


def test_outcomes_and_readme(cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = cohort
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert list(outcomes.columns) == list(OUTCOME_COLUMNS)
    assert list(outcomes["study_id"]) == list(table["study_id"])
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "outcomes.csv" in readme and "cxr_true:" in readme


def test_ct_only_cohort_has_no_radiographs(tmp_path: Path) -> None:
    table = synthesize_cohort(tmp_path, n_patients=1, seed=8, shape=TINY, formats=["npz"],
                              progress=False)  # fmt: skip
    assert not set(RADIOGRAPH_COLUMNS) & set(table.columns)
    assert not list(tmp_path.rglob("radiograph.png"))
    assert "radiographs" not in json.loads((tmp_path / "cohort.json").read_text())
    assert "cxr_true:" not in (tmp_path / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="radiograph size 300"):
        synthesize_cohort(tmp_path, n_patients=1, radiographs=True, radiograph_size=300)
