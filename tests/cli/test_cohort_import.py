"""`radlens cohort import` end to end: a cohort written as real DICOM by the phantom plus
pydicom's CT_small as a bad study -> import -> train --cohort -> evaluate -> predict -> export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydicom.data import get_testdata_file

from radlens.cli import main
from radlens.phantom import synthesize_cohort
from radlens.reports import load_vocabulary

#: the phantom's small grids (16 slices of 20 mm, 10.5 mm pixels) are no real chest CT
RULES = (
    "min_slices: 8\nmin_z_extent_mm: 100\nmax_slice_spacing_mm: 50\n"
    "max_slice_thickness_mm: 50\nmax_pixel_spacing_mm: 20\n"
)


@pytest.mark.slow
def test_import_train_evaluate_an_own_dicom_cohort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phantom = synthesize_cohort(
        tmp_path / "pacs", n_patients=7, seed=1, shape=(16, 32, 32), formats=("dicom",),
        progress=False,
    )  # fmt: skip
    studies = pd.DataFrame(
        {
            "mrn": phantom["patient_id"],
            "folder": ["pacs/" + d for d in phantom["dicom_dir"]],
            "report": phantom["report_text"],
            "acc": phantom["study_id"],
        }
    )
    (tmp_path / "small").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "small")
    studies.loc[len(studies)] = ["PX", "small", "FINDINGS: Small right pleural effusion.", "SX"]
    studies.to_csv(tmp_path / "studies.csv", index=False)
    (tmp_path / "rules.yaml").write_text(RULES)
    cohort = tmp_path / "cohort"
    args = ["cohort", "import", str(tmp_path / "studies.csv"), "--dicom-column", "folder"]
    args += ["--report-column", "report", "--patient-column", "mrn", "--study-column", "acc"]
    args += ["--fitness", str(tmp_path / "rules.yaml"), "--cache-shape", "16,16,16"]
    args += ["--out", str(cohort)]

    assert main(args) == 2  # the bad study stops the import, named with its reasons
    err = capsys.readouterr().err
    assert "1 of 11 rows cannot be imported" in err
    assert "row 11 (study SX): 1 slice; a chest CT needs >= 8 | z extent 5 mm" in err

    assert main([*args, "--skip-bad"]) == 0
    printed = capsys.readouterr().out
    assert "7 patients, 10 studies" in printed and "excluded 1 studies" in printed
    assert "row 11 (study SX): 1 slice" in printed
    manifest = json.loads((cohort / "cohort.json").read_text())
    assert manifest["schema_version"] == "1.0" and manifest["vocab"] == "chest_ct"
    vocabulary = tuple(load_vocabulary("chest_ct").abnormalities)
    assert tuple(manifest["label_counts"]) == vocabulary  # the label space is the vocabulary's
    assert not any(c.startswith("true:") for c in pd.read_parquet(cohort / "cohort.parquet"))

    run = tmp_path / "run"
    train = ["train", "--cohort", str(cohort), "--cohort-shape", "16,16,16", "--model", "resnet18"]
    train += ["--epochs", "1", "--batch-size", "4", "--threads", "2", "--no-channels-last"]
    assert main([*train, "--precision", "32-true", "--out", str(run)]) == 0
    plan = json.loads((run / "plan.json").read_text())
    assert plan["data_source"] == "ct_cohort" and set(plan["labels"]) <= set(vocabulary)
    assert list(plan["spacing_mm"]) == manifest["cache_spacing"]  # trained from the filled cache
    table = pd.read_parquet(cohort / "cohort.parquet").set_index("study_id")
    predicted = pd.read_parquet(run / "predictions.parquet")
    assert (table.loc[predicted["id"], "split"].to_numpy() == predicted["split"]).all()
    assert main(["evaluate", str(run), "--bootstrap", "0", "--device", "cpu"]) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert {row["label"] for row in evaluation["labels"]} == set(plan["labels"])

    # the run scores new studies (DICOM folders) and exports; CT_small is refused, not scored
    inputs = [str(tmp_path / "pacs" / d) for d in phantom["dicom_dir"][:2]] + [
        str(tmp_path / "small")
    ]
    scores = tmp_path / "scores.csv"
    predict = ["predict", str(run), *inputs, "--out", str(scores)]
    assert main([*predict, "--fitness-rules", str(tmp_path / "rules.yaml")]) == 0
    scored = pd.read_csv(scores)
    assert scored["status"].tolist() == ["scored", "scored", "not_scorable"]
    assert "1 slice" in scored["reason"].iloc[2]
    assert scored.loc[:1, list(plan["labels"])].notna().all().all()
    for fmt, suffix in (("torchscript", ".pt"), ("onnx", ".onnx")):
        exported = tmp_path / f"model{suffix}"
        assert main(["export", str(run), "--format", fmt, "--out", str(exported)]) == 0
        sidecar = json.loads(exported.with_name(exported.name + ".json").read_text())
        assert sidecar["labels"] == plan["labels"] and sidecar["verification"]["passed"]
