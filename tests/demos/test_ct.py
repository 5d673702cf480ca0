"""`radlens demo`: the chest-CT pipeline end to end, tiny (radlens.demos.ct, .ct_report)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from radlens.cli import main
from radlens.core import read_plan
from radlens.data.ct_cohort import DEMO_WINDOWS


def _flat(text: str) -> str:
    """Rich wraps long error lines; compare with single spaces."""
    return " ".join(text.split())


@pytest.mark.slow
def test_tiny_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--out",
            str(out),
            "--patients",
            "9",
            "--seed",
            "0",
            "--epochs",
            "1",
            "--shape",
            "16,32,32",
            "--threads",
            "1",
        ]
    )
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0, text + captured.err
    report = out / "run" / "report.html"
    assert f"report: {report}" in text
    assert "labeler micro F1" in text and "mean test AUROC" in text
    summary = json.loads((out / "demo.json").read_text())
    assert summary["labeler"]["micro_f1"] > 0.9
    assert set(summary["test_auroc"]) == {
        "nodule",
        "mass",
        "consolidation",
        "ground_glass_opacity",
        "atelectasis",
        "pleural_effusion",
        "pneumothorax",
        "emphysema",
        "cardiomegaly",
        "pericardial_effusion",
        "lymphadenopathy",
        "arterial_wall_calcification",
    }
    assert summary["splits"]["test"]["patients"] == 2
    # the outcome step: a C-index with its baselines, or the reason a tiny cohort has none
    outcome = summary["survival"]
    assert "c_index" in outcome or "skipped" in outcome
    assert ("survival (synthetic outcomes" in text) or ("survival skipped:" in text)
    page = report.read_text()
    assert "Triage list" in page and page.count('id="triage"') == 1
    # the segmentation step: its figures in demo.json and report.html, before the triage list
    seg = summary["segmentation"]
    assert {"dice_lesion_present", "lesion_sensitivity", "froc", "focal_auroc"} <= set(seg)
    assert set(seg["froc"]) == {"nodule", "mass", "lymphadenopathy"}
    assert [r["finding"] for r in seg["focal_auroc"]] == [
        "nodule", "mass", "lymphadenopathy", "arterial_wall_calcification"
    ]  # fmt: skip
    assert "small CPU budget" in _flat(text) and "which wins" in text
    assert page.count('id="segmentation"') == 1
    assert page.index('id="segmentation"') < page.index('id="triage"')
    scored = pd.read_csv(out / "segmentation" / "cohort.csv")  # trained on + scored on
    assert set(scored["split"]) == {"train", "val", "test"}
    assert (out / "segmentation" / "evaluation.json").is_file()
    triage = pd.read_csv(out / "run" / "triage.csv")
    assert list(triage["rank"]) == list(range(1, len(triage) + 1))
    order = {"critical": 0, "urgent": 1, "routine": 2, "none": 3}
    ranks = triage["urgency"].map(order).tolist()
    assert ranks == sorted(ranks)  # critical first, then urgent, routine, nothing
    assert triage["draft_report"].str.contains("IMPRESSION:").all()
    # the run's plan (what the triage service and `radlens explain` read) says how the demo
    # prepared its volumes: resampled, centre-cropped, one channel per window
    plan = read_plan(out / "run")
    assert plan.data_source == "ct_cohort" and plan.crop == "center"
    assert plan.shape == (16, 24, 32)  # cropped
    assert plan.windows_hu == DEMO_WINDOWS and plan.spacing_mm == (20.0, 10.5, 10.5)
    assert not (out / "run" / "preprocessing.json").exists()
    assert not (out / "run" / "preprocess.json").exists()
    assert summary["windows"] == [list(w) for w in DEMO_WINDOWS]
    heatmaps = list((out / "run" / "heatmaps").glob("*.png"))
    assert heatmaps and (out / "run" / "heatmaps" / "index.csv").is_file()
    # a second demo replaces the first; a foreign folder is refused
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    assert main(["demo", "--out", str(foreign), "--patients", "9"]) == 2
    assert "not a radlens demo" in _flat(capsys.readouterr().err)
    assert (foreign / "keep.txt").exists()
    # the demo run names its cohort as data source: evaluate re-predicts it from the checkpoint
    assert main(["evaluate", str(out / "run"), "--bootstrap", "0", "--device", "cpu"]) == 0
    assert "AUROC [95% CI]" in capsys.readouterr().out


def test_demo_refuses_too_few_patients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["demo", "--out", str(tmp_path / "d"), "--patients", "2", "--shape", "16,32,32"])
    assert rc == 2
    assert "use more --patients" in _flat(capsys.readouterr().err)


def test_demo_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--shape", "8,8"]) == 2
    assert "shape" in _flat(capsys.readouterr().err)
    assert (
        main(
            [
                "demo",
                "--out",
                str(tmp_path / "e"),
                "--model",
                "ctnt",
                "--patients",
                "9",
                "--shape",
                "16,32,32",
            ]
        )
        == 2
    )
    assert "did you mean 'ctnet'" in _flat(capsys.readouterr().err)
