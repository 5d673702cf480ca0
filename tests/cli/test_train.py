"""`radlens train`, `radlens evaluate`, `radlens demo` end to end on PneumoniaMNIST from the data
folder (small subsets), and their one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support.shared import missing_data

from radlens.cli.main import main
from radlens.core.rundir import read_predictions

FAST = [
    "--epochs",
    "1",
    "--max-train-images",
    "48",
    "--max-eval-images",
    "32",
    "--batch-size",
    "24",
    "--device",
    "cpu",
    "--precision",
    "32-true",
]


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def pneumonia_file(folder: Path) -> Path:
    for name in ("pneumoniamnist.npz", "pneumoniamnist_UNOFFICIAL_trainsubset.npz"):
        if (folder / name).is_file():
            return folder / name
    missing_data(f"no PneumoniaMNIST file in {folder}")


@pytest.mark.slow
def test_train_then_evaluate_pneumoniamnist(
    medmnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = pneumonia_file(medmnist_dir)
    out = tmp_path / "pneu"
    code = main(
        [
            "train",
            "--dataset",
            "pneumoniamnist",
            "--size",
            "28",
            "--data-file",
            str(data),
            "--no-verify",
            "--model",
            "resnet18",
            "--class-weights",
            "balanced",
            "--out",
            str(out),
            *FAST,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "test" in captured.out and "unofficial data" in captured.out
    for name in ("config.yaml", "checkpoint.pt", "last.pt", "metrics.json", "predictions.parquet"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["official_data"] is False and metrics["data_note"] == "unofficial data"
    assert metrics["label_names"] == ["normal", "pneumonia"]
    test = metrics["splits"]["test"]
    assert test["n_images"] == 32 and test["n_patients"] == 32
    assert set(test["prevalence"]) == {"normal", "pneumonia"}
    preds = read_predictions(out / "predictions.parquet")
    assert {
        "id",
        "patient_id",
        "split",
        "site",
        "target",
        "score:normal",
        "score:pneumonia",
    } <= set(preds.columns)
    assert preds.attrs["radlens"]["official"] is False

    before = test["auc"]
    assert (
        main(["evaluate", str(out), "--split", "test", "--device", "cpu", "--bootstrap", "50"]) == 0
    )
    printed = capsys.readouterr().out
    assert "unofficial data" in printed and "AUROC [95% CI]" in printed
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["split"] == "test" and evaluation["labels"][0]["auroc_low"] is not None
    assert (out / "report.html").stat().st_size > 10_000
    assert "UNOFFICIAL DATA" in (out / "report.html").read_text()
    after = json.loads((out / "metrics.json").read_text())["splits"]["test"]["auc"]
    assert after == pytest.approx(before, abs=1e-9)
    assert len(read_predictions(out / "predictions.parquet")) == len(preds)


@pytest.mark.slow
def test_demo_one_epoch(
    medmnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pneumonia_file(medmnist_dir)
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--medmnist",
            "--data-dir",
            str(medmnist_dir),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--max-train-images",
            "32",
            "--max-eval-images",
            "40",
            "--device",
            "cpu",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert str(out) in captured.out.replace("\n", "")
    assert "re-evaluate with" in flat(captured.out)
    assert "test" in captured.out
    metrics = json.loads((out / "metrics.json").read_text())
    official = (medmnist_dir / "pneumoniamnist.npz").is_file()
    if not official:
        assert "UNOFFICIAL" in captured.out and metrics["official_data"] is False
    assert metrics["splits"]["test"]["n_images"] == 40


def test_bad_requests_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "does not exist" in flat(capsys.readouterr().err)
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a run directory" in flat(capsys.readouterr().err)
    assert (
        main(
            [
                "train",
                "--dataset",
                "pneumoniamnist",
                "--model",
                "resnet81",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "did you mean 'resnet18'" in flat(capsys.readouterr().err)
    assert main(["train", "--out", str(tmp_path / "y")]) == 2
    assert "no data: give --dataset" in flat(capsys.readouterr().err)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dataset: pneumoniamnist\nepochz: 3\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "z")]) == 2
    err = flat(capsys.readouterr().err)
    assert "unknown key 'epochz'; did you mean 'epochs'" in err and "Traceback" not in err
    cfg.write_text("dataset: pneumoniamnist\nlr: -1\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "z")]) == 2
    assert "lr: Input should be greater than 0" in flat(capsys.readouterr().err)
    assert (
        main(
            [
                "train",
                "--dataset",
                "pneumoniamnist",
                "--augment",
                "rotate",
                "--out",
                str(tmp_path / "w"),
            ]
        )
        == 2
    )
    assert "unknown augmentation 'rotate'" in flat(capsys.readouterr().err)
    assert (
        main(
            [
                "train",
                "--dataset",
                "pneumoniamnist",
                "--device",
                "cuda",
                "--data-dir",
                str(tmp_path),
                "--out",
                str(tmp_path / "v"),
            ]
        )
        == 2
    )


def test_config_file_and_flags(tmp_path: Path) -> None:
    from radlens.training.config import resolve_config

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dataset: pneumoniamnist\nepochs: 7\nlr: 0.01\nmilestones: [0.3, 0.6]\n")
    config = resolve_config({"lr": 0.002, "epochs": None, "label_columns": "a,b"}, cfg)
    assert (config.epochs, config.lr, config.milestones) == (7, 0.002, (0.3, 0.6))
    assert config.label_columns == ["a", "b"]
    config.to_yaml(tmp_path / "resolved.yaml")
    again = resolve_config({}, tmp_path / "resolved.yaml")
    assert again == config


def test_every_train_flag_is_a_config_field() -> None:
    import inspect

    from radlens.cli.main import train_cmd
    from radlens.training.config import TrainConfig

    flags = set(inspect.signature(train_cmd).parameters) - {"config", "resume"}
    assert flags == set(TrainConfig.model_fields)
