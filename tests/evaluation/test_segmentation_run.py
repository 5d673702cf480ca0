"""`evaluate` on a segmentation run: a tiny phantom run trains and is scored end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from radlens.errors import EvaluationError
from radlens.evaluation import evaluate_segmentation_run, is_segmentation_run
from radlens.evaluation.segmentation_run import overlay_png
from radlens.phantom import synthesize_cohort
from radlens.training import make_config, train_segmentation

FINDINGS = "nodule,mass,pleural_effusion,lymphadenopathy"


@pytest.mark.slow
def test_a_tiny_phantom_run_trains_and_evaluates_end_to_end(tmp_path: Path):
    cohort = tmp_path / "cohort"
    table = synthesize_cohort(
        cohort, n_patients=8, seed=3, shape=(16, 32, 32), formats=("nifti",), progress=False
    )
    # fixed splits, so that each split has studies whatever the patient hashes are
    pids = sorted(table["patient_id"].unique())
    split = {p: "train" if i < 5 else ("val" if i == 5 else "test") for i, p in enumerate(pids)}
    table["split"] = table["patient_id"].map(split)
    table.to_parquet(cohort / "cohort.parquet")
    run = tmp_path / "run"
    config = make_config(
        {
            "task": "segmentation",
            "cohort": str(cohort),
            "findings": FINDINGS,
            "model": "unet_lite",
            "spacing": "20,10.5,10.5",
            "patch": "16,32,32",
            "epochs": 1,
            "batch_size": 8,
            "out": str(run),
            "threads": 2,
        }
    )
    train_segmentation(config)
    assert is_segmentation_run(run) and not is_segmentation_run(tmp_path)

    result = evaluate_segmentation_run(run, split="test", n_bootstrap=20)
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["task"] == "segmentation" and saved["spacing_mm"] == [20.0, 10.5, 10.5]
    # the network probability each finding's masks are cut at: the run's val-chosen thresholds
    trained = json.loads((run / "metrics.json").read_text())["mask_thresholds"]
    assert saved["mask_thresholds"] == trained and set(trained) == set(FINDINGS.split(","))
    summary = pd.DataFrame(saved["summary"])
    assert set(summary["finding"]) == set(FINDINGS.split(","))
    metrics = set(summary["metric"])
    assert {"dice", "hd95_mm", "surface_dice", "lesion_sensitivity"} <= metrics
    assert {"false_positives_per_scan", "hd95_inf_fraction"} <= metrics
    n_test = result["n_studies"]
    assert len(saved["per_case"]) == n_test * 4
    # every case has a defined Dice and surface Dice, empty masks included (never NaN)
    for row in saved["per_case"]:
        assert math.isfinite(row["dice"]) and math.isfinite(row["surface_dice"])
    assert set(saved["froc"]) == {"nodule", "mass", "lymphadenopathy"}
    for entry in saved["froc"].values():
        assert "note" in entry or len(entry["sensitivities"]) == 7
    html = (run / "report.html").read_text()
    assert "Per-finding masks and lesions" in html and "FROC (LUNA16 rule)" in html
    assert "data:image/png;base64" in html or "no truth lesions" in html

    with pytest.raises(EvaluationError, match="no 'holdout' studies"):
        evaluate_segmentation_run(run, split="holdout", n_bootstrap=0)


def test_overlay_draws_truth_and_prediction_contours():
    import numpy as np

    image = np.zeros((16, 16))
    truth = np.zeros((16, 16), bool)
    truth[4:9, 4:9] = True
    png = overlay_png(image, truth, np.roll(truth, 2, axis=1), "case")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_given_cases_window_and_callback_score_the_same_predictions(tmp_path: Path):
    """The demo's path: cases already loaded, the whole volume as window, each prediction
    handed to the caller once."""
    from radlens.training import load_seg_cases, read_seg_table
    from tests._support.seg_cohort import write_sphere_cohort

    write_sphere_cohort(tmp_path / "cohort", n_studies=8)
    run = tmp_path / "run"
    config = make_config(
        {
            "task": "segmentation", "cohort": str(tmp_path / "cohort"), "model": "unet_lite",
            "spacing": "4,2,2", "patch": "8,16,16", "epochs": 1, "batch_size": 4,
            "out": str(run), "cohort_windows": "-1000:400", "threads": 1,
        }
    )  # fmt: skip
    train_segmentation(config)
    default = evaluate_segmentation_run(run, split="test", n_bootstrap=5)
    seg = read_seg_table(tmp_path / "cohort", ["nodule", "mass"])
    cases = load_seg_cases(seg, (4.0, 2.0, 2.0), [(-1000.0, 400.0)], splits=("test",))
    seen = []
    same = evaluate_segmentation_run(
        run, split="test", n_bootstrap=5, cases=cases,
        on_prediction=lambda case, prob: seen.append((case.study_id, prob.shape)),
    )  # fmt: skip
    assert same["per_case"] == default["per_case"]  # same studies, same window: same scores
    assert seen == [(c.study_id, (2, *c.image.shape[1:])) for c in cases]
    whole = evaluate_segmentation_run(
        run, split="test", n_bootstrap=5, cases=cases[:1], window=cases[0].image.shape[1:]
    )
    assert whole["n_studies"] == 1 and len(whole["per_case"]) == 2
