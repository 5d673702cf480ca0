"""evaluate_predictions end to end, per-site and external tables, the run directory and report."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _support.chromium import chromium_exe, pixel_std, render
from _support.evaluation_synth import multilabel_frame, single_label_frame, write_run_dir
from PIL import Image

from radlens.evaluation import (
    choose_thresholds,
    evaluate_predictions,
    evaluate_run_dir,
    external_validation_summary,
    parse_operating_point,
    prediction_set,
    write_report,
)

WHERE = ["split", "site", "n_patients", "n_images", "prevalence"]


def test_multilabel_where_measured_and_by_site() -> None:
    frame = multilabel_frame(n_per_split=(300, 600), seed=2)
    result = evaluate_predictions(frame, by="site", n_bootstrap=30)
    table = result.table
    assert all(c in table.columns for c in WHERE)
    assert (table["split"] == "test").all() and (table["site"] == "all").all()
    test = frame[frame["split"] == "test"]
    assert table["n_images"].iloc[0] == len(test)
    assert table["n_patients"].iloc[0] == test["patient_id"].nunique()
    known = test["target:mass"].notna()
    prev = test.loc[known, "target:mass"].mean()
    assert table.set_index("label").loc["mass", "prevalence"] == pytest.approx(prev)
    sites = result.site_table
    assert set(sites["site"]) == {"A", "B"}
    per_site = sites.groupby("site")["n_images"].first()
    assert per_site.sum() == len(test)
    assert per_site["A"] == (test["site"] == "A").sum()
    assert {s["site"] for s in result.site_summaries} == {"A", "B"}
    assert np.all(table["auroc_low"] <= table["auroc"]) and np.all(
        table["auroc"] <= table["auroc_high"]
    )
    assert np.all(table["auprc_low"] <= table["auprc_high"])
    lo, hi = result.summary["macro_auroc_ci"]
    assert lo <= result.summary["macro_auroc"] <= hi
    doc = json.loads(result.to_json())
    assert doc["split"] == "test" and len(doc["labels"]) == 3
    assert doc["sites"]["labels"][0]["site"] in ("A", "B")
    assert doc["leakage_audit"]["patient_overlap"] == 0


def test_thresholds_and_temperature_come_from_validation_only() -> None:
    frame = single_label_frame(temperature=0.3, seed=4, n_per_split=(800, 600))
    result = evaluate_predictions(frame, operating_point="sensitivity:0.9")
    val = prediction_set(frame, "val")
    expected = choose_thresholds(val.y, val.scores, parse_operating_point("sensitivity:0.9"))
    np.testing.assert_allclose(result.table["threshold"], expected)
    assert (result.table["threshold_from"] == "val").all()
    # changing the test scores does not move the thresholds or the temperature
    shifted = frame.copy()
    test = shifted["split"] == "test"
    shifted.loc[test, "score:normal"] = shifted.loc[test, "score:normal"] ** 2
    again = evaluate_predictions(shifted, operating_point="sensitivity:0.9")
    np.testing.assert_allclose(again.table["threshold"], expected)
    assert again.temperature["temperature"] == pytest.approx(result.temperature["temperature"])
    # logits sharpened by 1/0.3: the fitted temperature is 1/0.3 times that of the plain model
    plain = evaluate_predictions(
        single_label_frame(temperature=1.0, seed=4, n_per_split=(800, 600))
    )
    ratio = result.temperature["temperature"] / plain.temperature["temperature"]
    assert ratio == pytest.approx(1 / 0.3, rel=0.02)
    assert result.temperature["macro_ece_after"] < result.temperature["macro_ece_before"]
    separate = evaluate_predictions(
        frame[test], val_frame=frame[~test], operating_point="sensitivity:0.9"
    )
    np.testing.assert_allclose(separate.table["threshold"], expected)
    without_val = evaluate_predictions(frame[frame["split"] == "test"], operating_point="youden")
    assert "optimistic" in without_val.threshold_from and without_val.temperature is None


def test_binary_task_evaluates_the_positive_class() -> None:
    frame = single_label_frame(classes=("benign", "malignant"), task="binary", seed=5)
    result = evaluate_predictions(frame)
    assert list(result.table["label"]) == ["malignant"]
    test = frame[frame["split"] == "test"]
    from sklearn.metrics import roc_auc_score

    assert result.table["auroc"].iloc[0] == pytest.approx(
        roc_auc_score(test["target"], test["score:malignant"])
    )


def test_external_validation_summary() -> None:
    def model(train_site: str, seed: int) -> pd.DataFrame:
        frame = multilabel_frame(splits=("test",), n_per_split=(800,), seed=seed)
        # the model works on its own site and guesses elsewhere
        other = frame["site"] != train_site
        for col in [c for c in frame.columns if c.startswith("score:")]:
            rng = np.random.default_rng(seed)
            frame.loc[other, col] = rng.random(int(other.sum()))
        return frame

    summary = external_validation_summary({"A": model("A", 1), "B": model("B", 2)})
    assert len(summary) == 4
    assert set(zip(summary["train_site"], summary["test_site"], strict=True)) == {
        ("A", "A"),
        ("A", "B"),
        ("B", "A"),
        ("B", "B"),
    }
    indomain = summary[summary["in_domain"]]
    external = summary[~summary["in_domain"]]
    assert indomain["macro_auroc"].min() > 0.8
    assert external["macro_auroc"].max() < 0.65
    assert (summary["micro_auroc_low"] <= summary["micro_auroc"]).all()


def _png_bytes(colour: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (48, 48), colour)
    img.paste((255, 255, 0), (10, 10, 30, 30))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _check_inline_images(html: str) -> int:
    """Every <img> is a decodable inline PNG; nothing refers to the network."""
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    return len(srcs)


def _fabricated_run(tmp_path: Path, frame: pd.DataFrame) -> Path:
    run = write_run_dir(tmp_path / "run-synth", frame)
    heat = run / "heatmaps"
    heat.mkdir()
    test_ids = frame.loc[frame["split"] == "test", "id"].tolist()
    for image_id in test_ids[:6]:
        (heat / f"{image_id}_nodule.png").write_bytes(_png_bytes((200, 30, 30)))
    (heat / "false_positive").mkdir()
    (heat / "false_positive" / "case7.png").write_bytes(_png_bytes((30, 30, 200)))
    # the layout `radlens explain` writes: {label}_{nn}_{TP|FP}.png plus index.csv
    rows = [("nodule_01_TP.png", "nodule", 0.91, "TP"), ("mass_01_FP.png", "mass", 0.77, "FP"),
            ("mass_02_unknown.png", "mass", 0.55, "unknown")]  # fmt: skip
    for name, *_ in rows:
        (heat / name).write_bytes(_png_bytes((30, 160, 30)))
    index = pd.DataFrame(rows, columns=["file", "label", "score", "outcome"])
    index.to_csv(heat / "index.csv", index=False)
    return run


@pytest.mark.slow
def test_evaluate_run_dir_writes_json_report_and_model_card(tmp_path: Path) -> None:
    frame = multilabel_frame(n_per_split=(200, 300), seed=6)
    run = _fabricated_run(tmp_path, frame)
    result = evaluate_run_dir(run, by="site", n_bootstrap=20)
    doc = json.loads((run / "evaluation.json").read_text())
    assert doc["summary"]["n_images"] == 300
    html = (run / "report.html").read_text()
    n_img = _check_inline_images(html)
    # heatmaps named by image id are classified at the nodule threshold; true negatives are left
    # out of the gallery, the one in false_positive/ is shown by its folder name
    table = result.table.set_index("label")
    test = frame[frame["split"] == "test"].set_index("id")
    shown = 1 + 3
    for image_id in test.index[:6]:
        truth = test.loc[image_id, "target:nodule"]
        called = test.loc[image_id, "score:nodule"] >= table.loc["nodule", "threshold"]
        shown += not (truth == 0 and not called)
    assert n_img == 3 + shown
    for text in (
        "Where these numbers were measured",
        "AUROC (95% CI)",
        "Per-site results",
        "Model card",
        "synthmnist",
        "resnet18",
        "Intended use",
        "Limits",
        "True positives",
        "False positives",
        "outcome not known",
        "nodule, score 0.91",
        "Leakage audit",
        "Temperature scaling fitted on",
    ):
        assert text in html, text
    assert "Confusion matrix" not in html  # multi-label: no single confusion matrix
    # 'synthmnist' is no dataset: the audit says it could only check the table
    assert "training data not loaded" in doc["leakage_audit"]["training_data"]
    assert "the audit covered only the predictions table" in html
    assert result.table["n_images"].iloc[0] == 300


def test_single_label_report_has_confusion_matrix(tmp_path: Path) -> None:
    result = evaluate_predictions(single_label_frame(seed=3))
    out = write_report(tmp_path, result, model_card={"name": "demo", "limits": ["synthetic"]})
    html = out.read_text()
    assert "Confusion matrix" in html and _check_inline_images(html) == 4
    assert "No heatmaps found" in html


@pytest.mark.integration
@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    exe = chromium_exe()
    frame = multilabel_frame(n_per_split=(200, 300), seed=8)
    run = _fabricated_run(tmp_path, frame)
    evaluate_run_dir(run, by="site", n_bootstrap=10)
    shot = tmp_path / "report.png"
    console = render(exe, run / "report.html", shot, tmp_path / "profile")
    assert console == [], f"console messages while loading the report: {console}"
    assert pixel_std(shot) > 20.0
    assert len(np.unique(np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3), axis=0)) > 100
    # the detectors work: a page with a script error and a blank page are caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    assert any("Uncaught" in m for m in render(exe, bad, tmp_path / "bad.png", tmp_path / "p2"))
    assert pixel_std(tmp_path / "bad.png") < 1.0


@pytest.mark.parametrize("task", ["multi-class", "ordinal-regression"])
def test_single_label_macro_auroc_is_sklearn_ovr(task: str) -> None:
    from sklearn.metrics import roc_auc_score

    grades = ("g0", "g1", "g2", "g3", "g4")
    frame = single_label_frame(classes=grades, task=task, seed=7)
    result = evaluate_predictions(frame)
    test = frame[frame["split"] == "test"]
    probs = test[[f"score:{g}" for g in grades]].to_numpy()
    expected = roc_auc_score(test["target"], probs, multi_class="ovr", average="macro")
    assert result.summary["macro_auroc"] == pytest.approx(expected, abs=1e-12)
    accuracy = np.mean(probs.argmax(axis=1) == test["target"].to_numpy())
    assert result.summary["accuracy"] == pytest.approx(accuracy)
    assert list(result.table["label"]) == list(grades)
