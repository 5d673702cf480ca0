"""`radlens train`, `radlens evaluate`, `radlens demo` end to end on PneumoniaMNIST from the data
folder (small subsets), and their one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from _support.shared import missing_data

import radlens.training
from radlens.cli import app, main
from radlens.cli.train_options import flag_text
from radlens.core import read_predictions
from radlens.training import resolve_config
from radlens.training.config import TrainConfig

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
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dataset: pneumoniamnist\nepochs: 7\nlr: 0.01\nmilestones: [0.3, 0.6]\n")
    config = resolve_config({"lr": 0.002, "epochs": None, "label_columns": "a,b"}, cfg)
    assert (config.epochs, config.lr, config.milestones) == (7, 0.002, (0.3, 0.6))
    assert config.label_columns == ["a", "b"]
    config.to_yaml(tmp_path / "resolved.yaml")
    again = resolve_config({}, tmp_path / "resolved.yaml")
    assert again == config


def test_every_config_field_is_a_train_flag_with_the_models_default() -> None:
    group = typer.main.get_command(app)
    command = group.get_command(typer.Context(group), "train")
    params = {p.name: p for p in command.get_params(typer.Context(command))}
    assert set(params) - {"config", "resume", "help"} == set(TrainConfig.model_fields)
    for name, field in TrainConfig.model_fields.items():
        assert params[name].help == field.description, name
        assert params[name].default == flag_text(field.default), name
    # today's flag names stay
    for name, opts in {
        "dataset": ["--dataset"],
        "cohort_windows": ["--cohort-windows"],
        "verify": ["--verify", "--no-verify"],
        "small_input": ["--small-input", "--imagenet-stem"],
        "channels_last": ["--channels-last", "--no-channels-last"],
        "compile": ["--compile", "--no-compile"],
    }.items():
        assert params[name].opts + params[name].secondary_opts == opts, name


def test_train_help_shows_each_models_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["train", "--help"]) == 0
    out = flat(capsys.readouterr().out)
    assert "milestones are recomputed for N. [default: 100]" in out
    assert "Batch size. [default: 128]" in out
    assert "--init" in out and "label rows re-mapped by name" in out
    for name, field in TrainConfig.model_fields.items():
        if field.default is None:
            continue
        shown = flag_text(field.default)
        if isinstance(shown, bool):
            flag = name.replace("_", "-")
            shown = flag if shown else f"no-{flag}"
        assert f"{field.description} [default: {shown}]" in out, name


def test_only_given_flags_override_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []

    def fake_train(config: TrainConfig, resume: bool) -> SimpleNamespace:
        seen.append((config, resume))
        return SimpleNamespace(metrics=None, run_dir=config.out, best_epoch=1)

    monkeypatch.setattr(radlens.training, "train", fake_train)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("dataset: pneumoniamnist\nepochs: 7\nbatch_size: 64\nverify: true\n")
    flags = ["--batch-size", "128", "--no-verify", "--imagenet-stem", "--milestones", "0.3,0.6"]
    flags += ["--cohort-windows", "-1000:-200,-160:240", "--cohort-shape", "16,24,32"]
    assert main(["train", "--config", str(cfg), *flags, "--out", str(tmp_path), "--resume"]) == 0
    [(config, resume)] = seen
    assert resume is True and config.out == str(tmp_path)
    assert (config.epochs, config.batch_size, config.verify, config.small_input) == (
        7,
        128,
        False,
        False,
    )
    assert config.milestones == (0.3, 0.6) and config.cohort_shape == (16, 24, 32)
    assert config.cohort_windows == [(-1000.0, -200.0), (-160.0, 240.0)]
    assert config.channels_last is None and config.compile is False  # not given: the defaults


def png_folder(tmp_path: Path, n: int = 40) -> tuple[Path, Path]:
    """A user's folder of n small PNGs (one per patient) and its labels CSV (0/1 column)."""
    import numpy as np
    from PIL import Image

    images = tmp_path / "my_pngs"
    images.mkdir()
    rng = np.random.default_rng(0)
    lines = ["image,PID,pneumonia"]
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(images / f"{i}.png")
        lines.append(f"{i}.png,p{i:02d},{i % 2}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(lines) + "\n")
    return images, labels


def folder_args(images: Path, labels: Path, out: Path) -> list[str]:
    return ["train", "--images", str(images), "--labels", str(labels), "--patient-column", "PID",
            "--image-size", "16", "--out", str(out), *FAST]  # fmt: skip


@pytest.mark.slow
def test_a_user_folder_run_says_user_data_and_evaluate_checks_its_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    images, labels = png_folder(tmp_path)
    out = tmp_path / "run"
    assert main([*folder_args(images, labels, out), "--label-values", "0,1"]) == 0
    assert "(user data)" in flat(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["official_data"] is False and len(metrics["data_fingerprint"]) == 64
    note = f"user data: {images} (40 files, fingerprint sha256:{metrics['data_fingerprint'][:16]})"
    assert metrics["data_note"] == note and note in metrics["splits"]["test"]["measured_on"]
    assert main(["evaluate", str(out), "--device", "cpu", "--bootstrap", "0"]) == 0
    html = (out / "report.html").read_text()
    assert note in html and "official files, checksums verified" not in html
    report, evaluation = html, (out / "evaluation.json").read_text()

    # flags checked before any work: nothing re-predicted, nothing overwritten
    def repredict(*_args: object, **_kw: object) -> None:
        raise AssertionError("re-predicted before checking the flags")

    monkeypatch.setattr("radlens.evaluation.rundir.repredict_split", repredict)
    assert main(["evaluate", str(out), "--split", "train"]) == 2
    err = flat(capsys.readouterr().err)
    assert "--split 'train'" in err and "[expected one of: val, test]" in err
    assert main(["evaluate", str(out), "--split", "tset"]) == 2
    assert "--split 'tset' is not known; did you mean 'test'" in flat(capsys.readouterr().err)
    assert main(["evaluate", str(out), "--by", "scanner"]) == 2
    err = flat(capsys.readouterr().err)
    assert "--by 'scanner': predictions.parquet has no such grouping column" in err
    assert "available grouping columns: site" in err
    assert (out / "report.html").read_text() == report
    assert (out / "evaluation.json").read_text() == evaluation


def test_a_label_typo_stops_training_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, labels = png_folder(tmp_path)
    text = labels.read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",yes"  # line 6 of the CSV
    labels.write_text("\n".join(text) + "\n")
    out = tmp_path / "run"
    assert main(folder_args(images, labels, out)) == 2
    err = flat(capsys.readouterr().err)
    assert "label column 'pneumonia' has 1 value(s) outside the inferred values 0, 1" in err
    assert "line 6: 'yes'" in err
    assert main([*folder_args(images, labels, out), "--label-values", "0,1"]) == 2
    assert "outside the declared values 0, 1: line 6: 'yes'" in flat(capsys.readouterr().err)
    assert not (out / "checkpoint.pt").exists()


def test_a_run_that_stopped_early_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = {"stopped_early": True, "epochs_trained": 9, "epochs": 20}

    def fake_train(config: TrainConfig, resume: bool) -> SimpleNamespace:
        return SimpleNamespace(metrics=metrics, run_dir=config.out, best_epoch=3)

    monkeypatch.setattr(radlens.training, "train", fake_train)
    monkeypatch.setattr(radlens.training, "metrics_table", lambda m: "")
    flags = ["--dataset", "pneumoniamnist", "--patience", "6", "--out", str(tmp_path)]
    assert main(["train", *flags]) == 0
    out = capsys.readouterr().out
    assert "(best epoch 3; stopped early after epoch 9 of 20 (--patience 6))" in out
    metrics["stopped_early"] = False
    assert main(["train", *flags]) == 0
    assert "(best epoch 3)\n" in capsys.readouterr().out
