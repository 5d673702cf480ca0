"""`radlens pretrain image-text|ssl` and `radlens zeroshot` end to end, then `radlens evaluate`
on the zero-shot predictions."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _support.pretrain_cohort import make_pair_cohort

from radlens.cli import main
from radlens.core import CHECKPOINT, EVALUATION

TINY = ["--model", "resnet_mini", "--text-width", "32", "--text-layers", "1", "--embed-dim",
        "32", "--max-len", "48", "--top-k", "4", "--vocab-size", "150"]  # fmt: skip
FAST = ["--size", "32", "--batch-size", "16", "--lr", "3e-3", "--device", "cpu",
        "--precision", "32-true", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_pair_cohort(tmp_path_factory.mktemp("cli") / "cohort", n=48, size=32)


@pytest.mark.slow
def test_pretrain_zeroshot_evaluate(cohort, tmp_path, capsys) -> None:
    run, zs = tmp_path / "run", tmp_path / "zs"
    args = ["pretrain", "image-text", "--cohort", str(cohort), "--image-column", "image"]
    assert main([*args, "--out", str(run), "--epochs", "2", *TINY, *FAST]) == 0
    assert (run / CHECKPOINT).is_file() and "2 epochs" in capsys.readouterr().out
    assert main([*args, "--out", str(run), "--epochs", "3", "--resume", *TINY, *FAST]) == 0
    history = json.loads((run / "pretrain.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert main(["zeroshot", str(run), "--cohort", str(cohort), "--out", str(zs)]) == 0
    assert "consolidation, cardiomegaly" in capsys.readouterr().out
    margin = tmp_path / "zs_margin"
    assert main(["zeroshot", str(run), "--cohort", str(cohort), "--out", str(margin),
                 "--score", "margin"]) == 0  # fmt: skip
    assert "score: margin" in capsys.readouterr().out
    assert json.loads((zs / "zeroshot.json").read_text())["score"] == "positive"
    code = main(["evaluate", str(zs), "--split", "test", "--no-repredict", "--bootstrap", "0"])
    assert code == 0
    table = json.loads((zs / EVALUATION).read_text())
    assert "consolidation" in json.dumps(table) and "cardiomegaly" in json.dumps(table)


def test_bad_rows_are_one_clear_error(cohort, tmp_path, capsys) -> None:
    table = pd.read_csv(cohort / "cohort.csv")
    table.loc[1, "image"] = "gone.png"
    table.loc[4, "report_text"] = ""
    table.to_csv(cohort / "bad.csv", index=False)
    code = main(["pretrain", "image-text", "--cohort", str(cohort / "bad.csv"),
                 "--image-column", "image", "--out", str(tmp_path / "r"), *FAST])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "2 of 48 rows" in err and "row 1: image" in err and "row 4: empty report" in err


def test_ssl_and_no_local_flags(cohort, tmp_path) -> None:
    args = ["--cohort", str(cohort), "--image-column", "image", "--epochs", "1", *FAST]
    assert main(["pretrain", "ssl", *args, "--out", str(tmp_path / "s"), "--model",
                 "resnet_mini", "--momentum", "0.9", "--queue-size", "32"]) == 0  # fmt: skip
    assert main(["pretrain", "image-text", *args, *TINY, "--no-local", "--whole-report",
                 "--no-augment", "--ring", "0", "--hard-negatives", "--hard-weight", "0.5",
                 "--out", str(tmp_path / "g")]) == 0  # fmt: skip
    history = json.loads((tmp_path / "g" / "pretrain.json").read_text())["history"]
    assert "train_local" not in history[0]
    from radlens.pretrain import load_image_text

    config = load_image_text(tmp_path / "g").model.config
    assert (config.sentence_level, config.augment, config.ring) == (False, False, 0)
    assert (config.hard_negatives, config.hard_weight) == (True, 0.5)


def test_explain_text_prints_the_peak_and_scores_named_masks(cohort, tmp_path, capsys) -> None:
    import numpy as np

    from radlens.pretrain import load_image_text, load_run_image, sentence_region_map

    run = tmp_path / "run"
    args = ["pretrain", "image-text", "--cohort", str(cohort), "--image-column", "image"]
    assert main([*args, "--out", str(run), "--epochs", "1", *TINY, *FAST]) == 0
    image = cohort / "img000.png"
    masks = {"consolidation@right_upper_zone": np.zeros((32, 32), bool),
             "cardiomegaly@heart": np.ones((32, 32), bool)}  # fmt: skip
    masks["consolidation@right_upper_zone"][2:14, 2:14] = True
    np.savez(tmp_path / "masks.npz", **masks)
    pd.DataFrame({"patient_id": ["p0"], "study_id": ["s0"], "report_text": ["x"],
                  "radiograph_path": [str(image)], "radiograph_masks_path": ["masks.npz"]}
                 ).to_csv(tmp_path / "cohort.csv", index=False)  # fmt: skip
    capsys.readouterr()
    text = "right upper zone consolidation"
    png = tmp_path / "map.png"
    code = main(["explain-text", str(run), "--text", text, "--image", str(image),
                 "--cohort", str(tmp_path), "--out", str(png)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and png.is_file()
    loaded = load_image_text(run)
    heat = sentence_region_map(loaded, load_run_image(loaded, image)[0], text)
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert f"peak at input (row {row}, col {col}) of 32x32" in out
    assert f"image (row {row}, col {col}) of 32x32" in out  # no padding, no scaling here
    inside = ", ".join(k for k, m in masks.items() if m[row, col])  # in the npz order
    assert f"peak inside masks: {inside}" in out
    assert "consolidation@right_upper_zone: pointing game hit=" in out  # named by the text
    assert "cardiomegaly@heart: pointing" not in out  # not named by the text
    assert main(["explain-text", str(run), "--text", text, "--image", str(tmp_path)]) == 2
    assert "pretrained on 2D radiographs" in capsys.readouterr().err
