"""`explain_run` and `radlens explain` on a real (tiny) training run of blob data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _support.explain import blob_images, tiny_cnn
from PIL import Image

from radlens.cli import main
from radlens.errors import ConfigError, DataError, EvaluationError, ModelError
from radlens.explain.run import ExplainCase, explain_run, pick_cases, render_cases


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PneumoniaMNIST-layout npz whose positives carry a blob, trained for one short epoch."""
    from radlens.training.config import make_config
    from radlens.training.loop import train

    root = tmp_path_factory.mktemp("explain_run")
    arrays = {}
    for split, n, seed in [("train", 32, 1), ("val", 16, 2), ("test", 16, 3)]:
        x, y, _ = blob_images(n, (28, 28), 3, seed)
        arrays[f"{split}_images"] = np.clip(x[:, 0] * 25 + 100, 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = y[:, None].astype(np.uint8)
    np.savez(root / "blobs.npz", **arrays)
    config = make_config(
        {
            "dataset": "pneumoniamnist",
            "data_file": str(root / "blobs.npz"),
            "verify": False,
            "model": "resnet18",
            "epochs": 1,
            "batch_size": 16,
            "max_train_images": 16,
            "max_eval_images": 8,
            "precision": "32-true",
            "device": "cpu",
            "out": str(root / "run"),
        }
    )
    train(config, progress=False)
    return root / "run"


@pytest.mark.slow
def test_explain_run_writes_gallery(run_dir: Path, tmp_path: Path) -> None:
    paths = explain_run(run_dir, cases=3, out_dir=tmp_path / "maps")
    assert len(paths) == 3  # binary task: the positive class only
    assert all(p.is_file() and Image.open(p).size[0] > 100 for p in paths)
    index = pd.read_csv(tmp_path / "maps" / "index.csv")
    assert list(index["label"]) == ["pneumonia"] * 3
    assert set(index["outcome"]) <= {"TP", "FP", "FN", "TN"}
    assert index["score"].is_monotonic_decreasing
    assert (index["layer"] == "layer4").all()
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    test = preds[preds["split"] == "test"].set_index("id")
    for _, row in index.iterrows():
        assert row["score"] == pytest.approx(test.loc[row["case_id"], "score:pneumonia"])
        truth = "P" if test.loc[row["case_id"], "target"] == 1 else "N"
        predicted = row["score"] > 0.5  # the checkpoint's own prediction
        assert row["outcome"] == {True: "T", False: "F"}[predicted == (truth == "P")] + (
            "P" if predicted else "N"
        )


@pytest.mark.slow
def test_cli_explain(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["explain", str(run_dir), "--cases", "2", "--out", str(out), "--method", "gradcampp"]
    assert main(args) == 0
    assert "wrote 2 heatmaps" in capsys.readouterr().out
    assert (out / "index.csv").is_file()
    assert pd.read_csv(out / "index.csv")["method"].eq("gradcampp").all()
    assert main(["explain", str(run_dir), "--split", "train"]) == 2
    assert "no rows for split 'train'" in _err(capsys)
    assert main(["explain", str(run_dir), "--layer", "layer9"]) == 2
    assert "did you mean" in _err(capsys)


def test_cli_explain_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["explain", str(tmp_path / "empty")]) == 2
    assert "not a run directory" in _err(capsys)
    with pytest.raises(ModelError, match="does not exist"):
        explain_run(tmp_path / "nowhere")


def test_pick_cases_per_task() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "target": [2, 0, 1],
            "score:x": [0.1, 0.8, 0.1],
            "score:y": [0.2, 0.1, 0.7],
            "score:z": [0.7, 0.1, 0.2],
        }
    )
    picks = pick_cases(frame, ["x", "y", "z"], "multi-class", cases=1)
    assert picks == [("b", 0, "x", 0.8, 1.0), ("c", 1, "y", 0.7, 1.0), ("a", 2, "z", 0.7, 1.0)]
    binary = pick_cases(frame, ["x", "y"], "binary", cases=2)
    assert [p[:3] for p in binary] == [("c", 1, "y"), ("a", 1, "y")]
    coral = pick_cases(frame, ["x", "y", "z"], "ordinal-regression", cases=1, coral=True)
    assert [p[1:3] for p in coral] == [(0, "y"), (1, "z")]
    multi = frame.assign(**{"target:x": [1.0, np.nan, 0.0]})
    first = pick_cases(multi, ["x"], "multi-label", cases=3)
    assert [p[0] for p in first] == ["b", "a", "c"]
    assert np.isnan(first[0][4]) and first[1][4] == 1.0 and first[2][4] == 0.0
    with pytest.raises(ConfigError, match="at least 1 case"):
        pick_cases(frame, ["x"], "multi-class", cases=0)
    with pytest.raises(EvaluationError, match="no column 'score:w'"):
        pick_cases(frame, ["w"], "multi-label", cases=1)


def test_render_cases_3d_with_masks(tmp_path: Path) -> None:
    """The explicit API: any model, inputs, display arrays; masks add localization columns."""
    torch.manual_seed(0)
    model = tiny_cnn(3).eval()
    x, _, masks = blob_images(2, (8, 12, 16), 2, seed=0)
    cases = [ExplainCase(0, "nodule", 1, "c0", 0.9, 1.0), ExplainCase(1, "nodule", 1, "c1", 0.6)]
    paths, index = render_cases(model, x, x[:, 0], cases, tmp_path, masks=list(masks))
    assert [p.name for p in paths] == ["nodule_01_TP.png", "nodule_02_unknown.png"]
    assert {"pointing_game", "iou", "dice"} <= set(index.columns)
    assert index["dice"].between(0, 1).all()
    assert index["pointing_game"].equals(index["pointing_game_strict"])  # default: no tolerance
    assert (index["tolerance"] == "0 voxel").all()
    # draw=1: both cases scored and indexed, only the first drawn
    drawn, scored = render_cases(
        model, x, x[:, 0], cases, tmp_path / "d", masks=list(masks), draw=1
    )
    assert [p.name for p in drawn] == ["nodule_01_TP.png"]
    assert sorted(q.name for q in (tmp_path / "d").glob("*.png")) == ["nodule_01_TP.png"]
    assert scored["file"].fillna("").tolist() == ["nodule_01_TP.png", ""]
    assert scored["pointing_game"].equals(index["pointing_game"])
    with pytest.raises(DataError, match="1 masks for 2 cases"):
        render_cases(model, x, x[:, 0], cases, tmp_path, masks=[masks[0]])
    with pytest.raises(DataError, match="case index 5 outside"):
        render_cases(model, x, x[:, 0], [ExplainCase(5, "nodule", 1)], tmp_path)


def test_truth_masks_from_cohort_extra(tmp_path: Path) -> None:
    """Cohort datasets carry mask files: the picked cases whose study truly has the finding get
    that abnormality's mask (all locations), resized to the model input; the others get None."""
    from radlens.data.arrays import ArrayDataset
    from radlens.explain.run import _truth_masks

    big = np.zeros((16, 32, 32), bool)
    big[8:12, 4:12, 20:28] = True
    np.savez(tmp_path / "s0.npz", **{"mass@right_upper_lobe": big, "lobes": big.astype(np.uint8)})
    ds = ArrayDataset(
        name="cohort",
        task="multi-label",
        label_names=("mass", "nodule"),
        images={"test": np.zeros((2, 1, 8, 16, 16), np.uint8)},
        labels={"test": np.zeros((2, 2), np.float32)},
        ids={"test": np.array(["s0", "s1"])},
        patient_ids={"test": np.array(["p0", "p1"])},
        spatial_dims=3,
        extra={
            "mask_path": {"test": np.array([str(tmp_path / "s0.npz"), ""])},
            "true_labels": {"test": np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)},
            "truth_names": ("mass", "nodule"),
        },
    )
    picks = [
        ("s0", 0, "mass", 0.9, 1.0),
        ("s0", 1, "nodule", 0.8, 0.0),
        ("s1", 0, "mass", 0.7, 0.0),
    ]
    masks = _truth_masks(ds, "test", picks, {"s0": 0, "s1": 1}, (8, 16, 16))
    assert masks is not None and masks[1] is None and masks[2] is None
    assert masks[0].shape == (8, 16, 16)
    z, y, x = np.argwhere(masks[0]).mean(axis=0)
    assert 4 <= z <= 6 and 2 <= y <= 6 and 10 <= x <= 14  # same place, half the size
    plain = ArrayDataset(**{**ds.__dict__, "extra": {}})
    assert _truth_masks(plain, "test", picks, {"s0": 0, "s1": 1}, (8, 16, 16)) is None


@pytest.mark.slow
def test_cli_explain_updates_the_evaluated_report(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    evaluate = ["evaluate", str(run_dir), "--split", "test", "--bootstrap", "0"]
    assert main([*evaluate, "--operating-point", "sensitivity:0.9"]) == 0
    report = run_dir / "report.html"
    before = report.read_text(encoding="utf-8")
    assert "No heatmaps found" in before
    capsys.readouterr()
    assert main(["explain", str(run_dir), "--cases", "2"]) == 0
    assert f"updated {report}" in capsys.readouterr().out
    html = report.read_text(encoding="utf-8")
    assert "No heatmaps found" not in html
    index = pd.read_csv(run_dir / "heatmaps" / "index.csv")
    images = "data:image/png;base64"
    assert html.count(images) >= before.count(images) + len(index) > before.count(images)
    saved = json.loads((run_dir / "evaluation.json").read_text(encoding="utf-8"))
    assert saved["split"] == "test" and saved["operating_point"] == "target sensitivity 0.9"


@pytest.mark.slow
def test_reinitialised_checkpoint_is_explained_with_its_own_scores(
    run_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """predictions.parquet only picks the cases: a run whose checkpoint was re-initialised is
    titled and indexed with that checkpoint's scores, and the drift is named."""
    import shutil

    from radlens.explain import randomised_models
    from radlens.training import load_run

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    ckpt = torch.load(copy / "checkpoint.pt", map_location="cpu", weights_only=False)
    (_, random), *_ = randomised_models(load_run(copy).model, seed=5)
    ckpt["model"] = random.state_dict()
    torch.save(ckpt, copy / "checkpoint.pt")
    with caplog.at_level("WARNING"):
        explain_run(copy, cases=3, out_dir=tmp_path / "maps")
    index = pd.read_csv(tmp_path / "maps" / "index.csv")
    preds = pd.read_parquet(copy / "predictions.parquet").set_index("id")
    recorded = preds.loc[index["case_id"], "score:pneumonia"].to_numpy()
    assert index["recorded_score"].to_numpy() == pytest.approx(recorded)
    assert np.abs(index["score"].to_numpy() - recorded).max() > 1e-3
    assert "differ from predictions.parquet" in caplog.text
    assert (index["evidence_scale"] > 0).all() and (index["raw_max"] >= 0).all()


@pytest.mark.slow
def test_cli_explain_sanity(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "sanity"
    args = ["explain", str(run_dir), "--cases", "2", "--out", str(out), "--sanity"]
    assert main([*args, "--method", "hirescam"]) == 0
    printed = capsys.readouterr().out
    assert "Sanity check: trained vs re-initialised weights" in printed
    assert "random (full)" in printed and "trained" in printed
    table = pd.read_csv(out / "sanity.csv").set_index("model")
    assert table.loc["random (full)", "evidence_median"] < table.loc["trained", "evidence_median"]
    assert len(list((tmp_path / "sanity_sanity" / "random_full").glob("*.png"))) == 2
    assert len(list(out.rglob("*.png"))) == 2  # the report's gallery sees the trained maps only
    assert main([*args, "--sanity-mode", "cascade"]) == 2
    assert "did you mean 'cascading'" in _err(capsys)
    assert main([*args, "--tolerance", "10mm"]) == 2
    assert "no voxel spacing" in _err(capsys)


def test_cli_explain_fuses_layers_by_geometric_mean(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--layer a*b` is the geometric-mean fusion (`radlens.explain.fusion`), named as given."""
    out = tmp_path / "geo"
    args = ["explain", str(run_dir), "--cases", "1", "--out", str(out), "--method", "hirescam"]
    assert main([*args, "--layer", "layer3*layer4"]) == 0
    assert pd.read_csv(out / "index.csv")["layer"].eq("layer3*layer4").all()
    assert main([*args, "--layer", "layer3*layer4+layer2"]) == 2
    assert "not both" in _err(capsys)
