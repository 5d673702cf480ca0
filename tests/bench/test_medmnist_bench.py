"""`radlens bench medmnist`: the grid runs on CPU, resumes, marks unofficial data, and its tables
put radlens beside the MedMNIST v2 paper's values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _support.bench import write_medmnist_npz

from radlens.bench.data import load_bench_dataset, resize_nearest
from radlens.bench.medmnist_bench import read_results
from radlens.bench.paper import CITATION, comparable_method, paper_values
from radlens.bench.scoring import detail_metrics
from radlens.bench.spec import make_spec, protocol_label
from radlens.bench.tables import summarize, to_markdown
from radlens.cli import main
from radlens.errors import ConfigError, DataError
from radlens.models.tasks import Task

PNEUMONIA = "pneumoniamnist_UNOFFICIAL_trainsubset.npz"


@pytest.mark.slow
def test_cli_bench_two_datasets_on_cpu_then_resume(
    tmp_path: Path, medmnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_medmnist_npz(data / "breastmnist.npz")
    pneumonia = medmnist_dir / "pneumoniamnist.npz"
    if not pneumonia.is_file():
        pneumonia = medmnist_dir / PNEUMONIA
    out = tmp_path / "bench"
    args = [
        "bench", "medmnist", "--datasets", "pneumoniamnist,breastmnist", "--epochs", "5",
        "--seeds", "2", "--data-dir", str(data), "--data-file", f"pneumoniamnist={pneumonia}",
        "--no-verify", "--recipe", "radlens", "--max-train-images", "8",
        "--max-eval-images", "8", "--batch-size", "8", "--checkpoint-every", "5", "--out", str(out),
        "--quiet",
    ]  # fmt: skip
    assert main(args) == 0
    assert "4 trained, 0 already done" in capsys.readouterr().out
    rows = read_results(out)
    assert [r["seed"] for r in rows] == ["0", "1", "ensemble"] * 2
    assert all(r["official_data"] is False and r["data_note"] == "UNOFFICIAL data" for r in rows)
    assert {r["augment"] for r in rows} == {"flip+shift"} and all(r["tta"] for r in rows)
    for r in rows:
        assert 0.0 <= r["test_auc"] <= 1.0 and 0.0 <= r["test_acc"] <= 1.0
        assert set(r["test_recall_per_class"]) == set(r["test_f1_per_class"])
    summary = pd.read_csv(out / "bench.csv")
    assert sorted(summary["dataset"]) == ["breastmnist", "pneumoniamnist"]
    assert (summary["data"] == "UNOFFICIAL").all() and (summary["seeds"] == 2).all()
    assert summary.loc[summary.dataset == "pneumoniamnist", "paper_auc:ResNet-18 (28)"].item() == (
        0.944
    )
    md, page = (out / "bench.md").read_text(), (out / "bench.html").read_text()
    assert "UNOFFICIAL" in md and "0.944 / 0.854" in md and "Scientific Data 10:41" in md
    assert page.startswith("<!doctype html>") and "class='unofficial'" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 4 and all((d / "metrics.json").is_file() for d in run_dirs)
    # same command again: everything is skipped
    assert main(args) == 0
    assert "0 trained" in capsys.readouterr().out
    assert len(read_results(out)) == 6


def test_official_check_stays_on_unless_no_verify(tmp_path: Path) -> None:
    write_medmnist_npz(tmp_path / "breastmnist.npz")
    with pytest.raises(DataError, match="MD5"):
        load_bench_dataset("breastmnist", 28, "resize", data_dir=str(tmp_path), verify=True)
    ds, source = load_bench_dataset("breastmnist", 28, "resize", data_dir=str(tmp_path),
                                    verify=False)  # fmt: skip
    assert ds.official is False and source.name == "breastmnist.npz"


def test_paper_protocol_resizes_28px_images_nearest(tmp_path: Path) -> None:
    write_medmnist_npz(tmp_path / "breastmnist.npz", n=(4, 2, 2))
    ds, _ = load_bench_dataset("breastmnist", 224, "resize", data_dir=str(tmp_path),
                               verify=False)  # fmt: skip
    small, _ = load_bench_dataset("breastmnist", 28, "resize", data_dir=str(tmp_path),
                                  verify=False)  # fmt: skip
    assert ds.images["train"].shape == (4, 224, 224) and ds.images["train"].dtype == np.uint8
    np.testing.assert_array_equal(ds.images["train"][:, ::8, ::8], small.images["train"])
    rgb = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    big = resize_nearest(rgb, 4, 2)
    assert big.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(big[:, 1::2, 1::2], rgb)
    with pytest.raises(DataError, match="no size 224"):
        load_bench_dataset("organmnist3d", 224, "resize", data_dir=str(tmp_path), verify=False)


def test_protocol_labels_and_comparable_paper_rows() -> None:
    assert protocol_label(28, "resize") == "28 native"
    assert protocol_label(224, "resize") == "28→224 resized (paper)"
    assert protocol_label(224, "native") == "MedMNIST+ native 224"
    assert comparable_method("pneumoniamnist", "resnet18", 28) == "ResNet-18 (28)"
    assert comparable_method("pneumoniamnist", "resnet50", 224) == "ResNet-50 (224)"
    assert comparable_method("pneumoniamnist", "resnet18", 64) is None
    assert comparable_method("organmnist3d", "acs_resnet50", 28) == "ResNet-50 + ACS"
    assert comparable_method("organmnist3d", "resnet18_25d", 28) == "ResNet-18 + 2.5D"
    assert comparable_method("organmnist3d", "resnet18", 28) == "ResNet-18 + 3D"
    assert paper_values("pneumoniamnist")["Google AutoML Vision"] == (0.991, 0.946)
    assert "Scientific Data 10:41" in CITATION


def test_recipes_and_spec_errors() -> None:
    spec = make_spec({"datasets": "pneumoniamnist,organamnist", "recipe": "radlens"})
    assert spec.plan("pneumoniamnist") == {"augment": "flip+shift", "tta": True, "ensemble": True}
    # left/right organ labels: no mirroring
    assert spec.plan("organamnist") == {"augment": "shift", "tta": False, "ensemble": True}
    assert make_spec({"recipe": "radlens", "tta": False}).plan("pneumoniamnist")["tta"] is False
    assert make_spec({}).plan("pneumoniamnist") == {"augment": "none", "tta": False,
                                                    "ensemble": False}  # fmt: skip
    assert len(make_spec({"datasets": "all"}).datasets) == 18
    assert spec.setting_id("pneumoniamnist") != make_spec({}).setting_id("pneumoniamnist")
    with pytest.raises(DataError, match="did you mean 'pneumoniamnist'"):
        make_spec({"datasets": "pneumonia"})
    with pytest.raises(ConfigError, match="--models: model 'resnet19' is not known"):
        make_spec({"models": "resnet19"})
    with pytest.raises(ConfigError, match="--recipe"):
        make_spec({"recipe": "fast"})


def test_cli_rejects_bad_data_file_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "medmnist", "--data-file", "pneumoniamnist"]) == 2
    assert "expected NAME=PATH" in capsys.readouterr().err


def test_detail_metrics_by_hand() -> None:
    task = Task("multi-class", ("a", "b", "c"))
    y = np.array([[0], [0], [1], [2]], dtype=np.float32)
    s = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    out = detail_metrics(task, y, s)
    assert out["recall_per_class"] == {"a": 0.5, "b": 1.0, "c": 1.0}
    assert out["f1_per_class"]["a"] == pytest.approx(2 / 3)
    assert out["f1_per_class"]["b"] == pytest.approx(2 / 3)
    assert out["macro_recall"] == pytest.approx(2.5 / 3)
    binary = detail_metrics(Task("binary", ("n", "p")), np.array([[0], [1]]),
                            np.array([[0.9, 0.1], [0.1, 0.9]]))  # fmt: skip
    assert binary["ece"] == pytest.approx(0.1)  # |0 - 0.1| and |1 - 0.9|, one image per bin


def _row(seed: str, auc: float, acc: float, official: bool = False) -> dict:
    return {
        "dataset": "pneumoniamnist", "size": 28, "protocol": "28 native", "model": "resnet18",
        "setting_id": "x", "seed": seed, "official_data": official, "data_file": "p.npz",
        "test_auc": auc, "test_acc": acc, "test_macro_recall": 0.8, "test_macro_f1": 0.8,
        "test_ece": 0.05, "test_recall_per_class": {"normal": 0.7, "pneumonia": 0.9},
        "test_f1_per_class": {"normal": 0.75, "pneumonia": 0.85}, "wall_time_s": 10.0,
        "train_images_per_s": 1000.0, "paper_method": "ResNet-18 (28)", "epochs": 1,
    }  # fmt: skip


def test_summary_statistics_and_best_value_marking() -> None:
    rows = [_row("0", 0.95, 0.86), _row("1", 0.97, 0.90), _row("ensemble", 0.995, 0.95)]
    df = summarize(rows)
    rec = df.iloc[0]
    assert rec["auc_mean"] == pytest.approx(0.96) and rec["auc_sd"] == pytest.approx(0.01414, 1e-3)
    assert rec["ens_auc"] == 0.995 and rec["data"] == "UNOFFICIAL"
    assert rec["delta_auc_vs_paper"] == pytest.approx(0.995 - 0.944)
    assert bool(rec["beats_paper_best_auc"]) and bool(rec["beats_paper_best_acc"])
    md = to_markdown(df)
    assert "**0.995** / **0.950**" in md  # the ensemble beats AutoML Vision's 0.991 / 0.946
    assert "0.991 / 0.946" in md  # ... which is then not bold
    plain = to_markdown(summarize([_row("0", 0.95, 0.86, official=True)]))
    assert "**0.991** / **0.946**" in plain and "| official |" in plain
    assert json.loads(json.dumps(rows))  # rows are plain JSON


def test_tta_is_the_mean_over_the_image_and_its_mirror() -> None:
    import torch
    from torch import nn

    from radlens.bench.scoring import ensemble_scores, predict_images

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    task = Task("binary", ("n", "p"))
    images = np.random.default_rng(0).integers(0, 255, size=(5, 4, 4)).astype(np.uint8)
    plain = predict_images(model, images, task, n_channels=1, spatial_dims=2)
    mirror = predict_images(model, images[:, :, ::-1].copy(), task, n_channels=1, spatial_dims=2)
    tta = predict_images(model, images, task, n_channels=1, spatial_dims=2, tta=True)
    np.testing.assert_allclose(tta, (plain + mirror) / 2, rtol=1e-6)
    assert not np.allclose(plain, mirror)
    np.testing.assert_allclose(ensemble_scores([plain, mirror]), tta, rtol=1e-6)
