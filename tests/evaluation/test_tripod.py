"""TRIPOD-AI report blocks: cohort per split / site (train included), participant flow, thresholds
with provenance, readable model card, checklist; and the layout rules (no scroll boxes, print)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _support.evaluation_synth import multilabel_frame, single_label_frame, write_run_dir

from radlens.evaluation import evaluate_predictions, evaluate_run_dir, write_report
from radlens.evaluation.tripod import CHECKLIST, checklist, cohort_summary, one_vs_rest


def test_cohort_summary_counts_every_split_and_site():
    frame = multilabel_frame(n_per_split=(100, 200), seed=2, images_per_patient=4)
    cohort = cohort_summary(frame, None)
    val, test = cohort["splits"]
    assert (val["split"], val["n_images"], val["n_patients"]) == ("val", 100, 25)
    assert (test["n_images"], test["n_patients"]) == (200, 50)
    t = frame[frame["split"] == "test"]
    nodule = test["labels"]["nodule"]
    assert nodule["n_positive"] == int((t["target:nodule"] == 1).sum())
    assert nodule["n_labelled"] == int(t["target:nodule"].notna().sum())
    sites = {(r["split"], r["site"]): r["n_images"] for r in cohort["sites"]}
    assert sites[("test", "A")] == int((t["site"] == "A").sum())
    assert sum(v for (s, _), v in sites.items() if s == "val") == 100


def test_one_vs_rest_of_class_indices():
    y = one_vs_rest(np.array([[0], [2], [1]]), "multi-class", ("a", "b", "c"), ("b", "c"))
    np.testing.assert_array_equal(y, [[0, 0], [0, 1], [1, 0]])


def test_checklist_says_not_available_for_absent_sections():
    rows = checklist({"metrics", "cohort"})
    assert len(rows) == len(CHECKLIST)
    by_text = {r["text"]: r for r in rows}
    assert by_text["participant characteristics per split"]["section"] == "cohort"
    assert by_text["participant flow"]["section"] is None
    assert "not available" in by_text["participant flow"]["answer"]
    assert by_text["patient and public involvement"]["answer"] == "not applicable"


def _sections(html: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', html))


def test_report_has_tripod_sections_and_columns(tmp_path: Path):
    frame = multilabel_frame(n_per_split=(200, 300), seed=6)
    run = write_run_dir(tmp_path / "run", frame)
    train_ids = [f"train-p{i:05d}" for i in range(70)]
    result = evaluate_run_dir(run, n_bootstrap=0, audit_data=False, train_patient_ids=train_ids)
    html = (run / "report.html").read_text()
    assert {"flow", "cohort", "metrics", "thresholds", "model-card", "checklist"} <= _sections(html)
    for column in ("CI method", "sensitivity (95% CI)", "PPV (95% CI)", "NPV (95% CI)", "flagged",
                   "positives there", "chosen on", "prevalence on test"):  # fmt: skip
        assert f"{column}</th>" in html, column
    assert "AUPRC</th>" in html and "AUPRC (95% CI)" not in html  # no bootstrap, no CI header
    assert "TRIPOD-AI" in html and "CLAIM" in html and 'href="#cohort"' in html
    # train row from the ids the caller passed: patients counted, prevalence not available
    train = result.cohort["splits"][0]
    assert (train["split"], train["n_patients"], train["n_images"]) == ("train", 70, None)
    assert ">train</th>" in html and "not available" in html
    # readable model card: key/value lists, the configuration collapsed, no JSON dump
    assert "<details><summary>Full training configuration" in html
    assert "Intended use" in html and "Performance" in html and "Limits" in html
    assert '{\n  "' not in html
    # layout: no scroll boxes, wrapping cells, print rules
    assert "overflow-x: auto; max-height" not in html and 'class="scroll"' not in html
    assert "@media print" in html
    doc = (run / "evaluation.json").read_text()
    assert '"cohort"' in doc and '"threshold_provenance"' in doc


def test_report_with_bootstrap_shows_auprc_ci(tmp_path: Path):
    result = evaluate_predictions(multilabel_frame(n_per_split=(200, 300), seed=1), n_bootstrap=30)
    html = write_report(tmp_path, result, model_card={"name": "x"}).read_text()
    assert "AUPRC (95% CI)" in html
    assert "patient-level percentile bootstrap" in html


def test_single_label_report_keeps_accuracy(tmp_path: Path):
    result = evaluate_predictions(single_label_frame(seed=3))
    html = write_report(tmp_path, result, model_card={"name": "demo"}).read_text()
    assert 'id="checklist"' in html and "accuracy" in result.summary


def test_train_row_with_labels_gives_train_prevalence(tmp_path: Path):
    frame = multilabel_frame(n_per_split=(200, 300), seed=6)
    run = write_run_dir(tmp_path / "run", frame)
    ids = [f"train-p{i // 2:05d}" for i in range(40)]
    labels = np.zeros((40, 3))
    labels[:10, 0] = 1.0  # nodule: 10 of 40
    labels[0, 1] = np.nan
    result = evaluate_run_dir(
        run, n_bootstrap=0, audit_data=False, train_patient_ids=ids, train_labels=labels
    )
    train = result.cohort["splits"][0]
    assert (train["n_images"], train["n_patients"]) == (40, 20)
    assert train["labels"]["nodule"] == {"n_labelled": 40, "n_positive": 10, "prevalence": 0.25}
    assert train["labels"]["mass"]["n_labelled"] == 39
    assert "10/40 (0.25)" in (run / "report.html").read_text()


@pytest.mark.integration
@pytest.mark.slow
def test_report_fits_1400_px_in_chromium(tmp_path: Path):
    """Every table of a 12-label, two-site report fits a 1400 px window: no element is wider
    than the page and the page does not scroll sideways, on screen and in print media."""
    from _support.chromium import DevToolsBrowser, chromium_exe

    labels = tuple(f"finding_with_a_rather_long_name_{i}" for i in range(12))
    frame = multilabel_frame(labels=labels, n_per_split=(120, 400), images_per_patient=4, seed=3)
    result = evaluate_predictions(frame, by="site", n_bootstrap=50)
    page = write_report(tmp_path, result, model_card={"name": "wide"})
    overflow = (
        "[document.documentElement.scrollWidth, window.innerWidth,"
        " Array.from(document.querySelectorAll('table')).filter(t =>"
        " t.getBoundingClientRect().right > window.innerWidth).length]"
    )
    with DevToolsBrowser(chromium_exe(), tmp_path / "profile", size=(1400, 1000)) as browser:
        browser.goto(page.resolve().as_uri())
        browser.wait_for("document.readyState === 'complete'")
        width, inner, wide_tables = browser.evaluate(overflow)
        assert width <= inner and wide_tables == 0, (width, inner, wide_tables)
        browser.send("Emulation.setEmulatedMedia", {"media": "print"})
        width, inner, wide_tables = browser.evaluate(overflow)
        assert width <= inner and wide_tables == 0, (width, inner, wide_tables)
        assert browser.problems == []
