"""evaluate_run_dir on a run directory over the real (shared) PneumoniaMNIST file: the leakage
audit reads the run's training data (patient ids and image hashes) through config.yaml; with
repredict, the split is predicted again from the checkpoint first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _support.evaluation_synth import multilabel_frame, write_run_dir
from _support.shared import missing_data

from radlens.errors import EvaluationError
from radlens.evaluation import evaluate_run_dir, rundir

DATA_FILE = "pneumoniamnist_UNOFFICIAL_trainsubset.npz"


def _real_run(tmp_path: Path, medmnist_dir: Path, *, leak: bool = False) -> Path:
    path = medmnist_dir / DATA_FILE
    if not path.is_file():
        missing_data(f"{DATA_FILE} not in {medmnist_dir}")
    with np.load(path) as npz:
        labels = npz["test_labels"][:, 0].astype(np.int64)
    rng = np.random.default_rng(0)
    ids = np.array([f"test-{i:06d}" for i in range(len(labels))])
    p1 = 1.0 / (1.0 + np.exp(-(rng.normal(size=len(labels)) + 2.0 * labels - 1.0)))
    frame = pd.DataFrame(
        {
            "id": ids,
            "patient_id": ids.copy(),
            "split": "test",
            "site": "",
            "target": labels,
            "score:normal": 1.0 - p1,
            "score:pneumonia": p1,
        }
    )
    if leak:
        frame.loc[3, "patient_id"] = "train-000005"  # a training patient scored as test
    frame.attrs["radlens"] = {"task": "binary", "label_names": ["normal", "pneumonia"]}
    run = write_run_dir(tmp_path / "run", frame, dataset="pneumoniamnist")
    config = {"dataset": "pneumoniamnist", "size": 28, "data_file": str(path), "verify": False}
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run


@pytest.mark.slow
def test_run_dir_audit_uses_the_training_data(tmp_path: Path, medmnist_dir: Path) -> None:
    run = _real_run(tmp_path, medmnist_dir)
    result = evaluate_run_dir(run, n_bootstrap=0)
    audit = result.leakage
    assert audit["n_train_patients"] >= 3882
    assert audit["n_images_hashed"] == 3882 + 524 + 624  # train, val and test compared
    assert any(
        "near-duplicate images (train/val, train/test, val/test" in c for c in audit["checked"]
    )
    doc = json.loads((run / "evaluation.json").read_text())
    assert doc["leakage_audit"]["n_images_hashed"] == 3882 + 524 + 624
    assert doc["labels"][0]["label"] == "pneumonia" and doc["labels"][0]["n_images"] == 624
    html = (run / "report.html").read_text()
    assert "images compared" in html and "Confusion matrix" in html
    # the cohort's train row comes from the run's training data: counts and prevalence
    train = result.cohort["splits"][0]
    assert (train["split"], train["n_images"]) == ("train", 3882)
    with np.load(medmnist_dir / DATA_FILE) as npz:
        expected = float(np.mean(npz["train_labels"][:3882, 0] == 1))
    assert train["labels"]["pneumonia"]["prevalence"] == pytest.approx(expected)
    assert ">train</th>" in html


@pytest.mark.slow
def test_run_dir_refuses_a_training_patient_in_test(tmp_path: Path, medmnist_dir: Path) -> None:
    run = _real_run(tmp_path, medmnist_dir, leak=True)
    with pytest.raises(EvaluationError, match=r"leakage: .*1 of .*refusing to evaluate test"):
        evaluate_run_dir(run, n_bootstrap=0)
    assert not (run / "report.html").exists()


def test_repredict_runs_first_and_keeps_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`repredict=True` re-predicts the split (radlens.training.run.repredict_split) before the
    predictions table is read; its figures land on `result.figures`, not in evaluation.json."""
    run = write_run_dir(tmp_path / "run", multilabel_frame(n_per_split=(60, 80), seed=2))
    calls: list[tuple] = []

    def fake(run_dir: Path, split: str, *, device: str | None = None) -> dict:
        calls.append((Path(run_dir), split, device))
        return {"split": split, "auc": 0.5, "official_data": False}

    monkeypatch.setattr(rundir, "repredict_split", fake)
    plain = evaluate_run_dir(run, n_bootstrap=0, audit_data=False, write=False)
    assert plain.figures is None and not calls
    result = evaluate_run_dir(run, n_bootstrap=0, audit_data=False, repredict=True, device="cpu")
    assert calls == [(run, "test", "cpu")]
    assert result.figures == {"split": "test", "auc": 0.5, "official_data": False}
    assert "figures" not in json.loads((run / "evaluation.json").read_text())


def test_split_and_by_are_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """split is val or test, by a grouping column of the table: both before re-predicting."""
    run = write_run_dir(tmp_path / "run", multilabel_frame(n_per_split=(60, 80), seed=2))

    def fake(*_args: object, **_kw: object) -> dict:
        raise AssertionError("re-predicted before the flags were checked")

    monkeypatch.setattr(rundir, "repredict_split", fake)
    with pytest.raises(EvaluationError, match=r"--split 'train'.*\[expected one of: val, test\]"):
        evaluate_run_dir(run, split="train", repredict=True)
    with pytest.raises(EvaluationError, match=r"--split 'tset' is not known; did you mean 'test'"):
        evaluate_run_dir(run, split="tset", repredict=True)
    with pytest.raises(
        EvaluationError,
        match=r"--by 'scanner': predictions.parquet has no such grouping column; available "
        r"grouping columns: site",
    ):
        evaluate_run_dir(run, by="scanner", repredict=True)
    assert not (run / "evaluation.json").exists()
    assert evaluate_run_dir(run, split="val", by="site", n_bootstrap=0, audit_data=False).split == (
        "val"
    )


def test_model_card_names_user_data_by_its_note(tmp_path: Path) -> None:
    run = write_run_dir(tmp_path / "run", multilabel_frame(n_per_split=(60, 80), seed=2))
    note = "user data: /data/pngs (40 files, fingerprint sha256:0123456789abcdef)"
    metrics = {"dataset": "pngs", "official_data": False, "data_note": note,
               "data_fingerprint": "0123456789abcdef" * 4}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    result = evaluate_run_dir(run, n_bootstrap=0, audit_data=False)
    card = rundir.build_model_card(run, result)
    assert card["data"]["dataset"] == note and card["data"]["official_data"] is None
    assert card["data"]["fingerprint"] == "0123456789abcdef" * 4
    assert any(note in limit for limit in card["limits"])
    html = (run / "report.html").read_text()
    assert note in html and "UNOFFICIAL DATA" not in html and "checksums verified" not in html
