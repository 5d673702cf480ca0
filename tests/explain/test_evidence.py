"""Explanations carry their evidence: the checkpoint's own scores and outcomes, raw evidence and
a drawing scale shared across cases and models, tolerance given in mm or voxels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _support.explain import blob_images, train_blob_model

from radlens.errors import ConfigError, DataError
from radlens.explain import (
    ExplainCase,
    Tolerance,
    case_maps,
    checkpoint_outcome,
    evidence_scale,
    parse_tolerance,
    randomised_models,
    render_cases,
)
from radlens.explain.evidence import on_scale
from radlens.models import Task


def test_parse_tolerance() -> None:
    spacing = (10.0, 5.0, 5.0)
    assert parse_tolerance(None, spacing) == Tolerance(10.0, "mm", spacing)
    assert parse_tolerance(None, None) == Tolerance(1, "voxel")
    assert parse_tolerance("7.5mm", spacing) == Tolerance(7.5, "mm", spacing)
    assert parse_tolerance("2vox", spacing) == Tolerance(2, "voxel")
    assert parse_tolerance(" 3 voxels", None) == Tolerance(3, "voxel")
    assert parse_tolerance(0, None) == Tolerance(0, "voxel")
    assert str(parse_tolerance("10mm", spacing)) == "10 mm"
    with pytest.raises(ConfigError, match="no voxel spacing"):
        parse_tolerance("10mm", None)
    with pytest.raises(ConfigError, match="'10 cm'"):
        parse_tolerance("10 cm", spacing)
    with pytest.raises(ConfigError, match="whole number"):
        parse_tolerance("1.5vox", None)


def test_evidence_scale_is_a_percentile_of_the_maxima() -> None:
    peaks = np.arange(1.0, 101.0)  # 1 .. 100
    assert evidence_scale(peaks) == pytest.approx(np.percentile(peaks, 95))
    assert evidence_scale(peaks, 50) == pytest.approx(50.5)
    assert evidence_scale([0.0, 0.0]) == 1.0  # empty maps stay empty
    with pytest.raises(DataError, match="no maps"):
        evidence_scale([])


def test_checkpoint_outcome_per_task() -> None:
    multi = Task("multi-label", ("a", "b"))
    assert checkpoint_outcome(multi, np.array([2.0, -2.0]), "a", 1.0) == pytest.approx(
        (1 / (1 + np.exp(-2.0)), "TP")
    )
    assert checkpoint_outcome(multi, np.array([2.0, -2.0]), "b", 1.0)[1] == "FN"
    assert checkpoint_outcome(multi, np.array([2.0, -2.0]), "a", 0.0)[1] == "FP"
    assert checkpoint_outcome(multi, np.array([2.0, -2.0]), "b", 0.0)[1] == "TN"
    assert checkpoint_outcome(multi, np.array([2.0, -2.0]), "a", np.nan)[1] == "positive"
    classes = Task("multi-class", ("x", "y", "z"))
    score, outcome = checkpoint_outcome(classes, np.array([0.0, 3.0, 0.0]), "y", 1.0)
    assert score == pytest.approx(np.exp(3) / (np.exp(3) + 2)) and outcome == "TP"
    assert checkpoint_outcome(classes, np.array([0.0, 3.0, 0.0]), "z", 0.0)[1] == "TN"
    binary = Task("binary", ("normal", "abnormal"))
    assert checkpoint_outcome(binary, np.array([0.0, -1.0]), "abnormal", 1.0)[1] == "FN"
    with pytest.raises(ConfigError, match="not an output"):
        checkpoint_outcome(binary, np.array([0.0, 1.0]), "pneumonia", 1.0)


@pytest.fixture(scope="module")
def blobs() -> dict[str, object]:
    torch.manual_seed(0)
    model = train_blob_model(2, (24, 24), 3, steps=60, batch=16)
    x, y, masks = blob_images(16, (24, 24), 3, seed=7)
    pos = [int(i) for i in np.flatnonzero(y == 1)][:4]
    return {"model": model, "x": torch.from_numpy(x), "pos": pos, "masks": masks}


def test_scores_come_from_the_checkpoint_explained(blobs, tmp_path: Path) -> None:
    """A re-initialised model's index and titles do not claim the trained model's score."""
    model, x, pos = blobs["model"], blobs["x"], blobs["pos"]
    task = Task("binary", ("none", "blob"))
    recorded = 0.99  # what a predictions table of the trained model says
    cases = [ExplainCase(i, "blob", 1, f"c{i}", recorded, 1.0) for i in pos]
    (_, random), *_ = randomised_models(model, seed=3)  # type: ignore[arg-type]
    _, index = render_cases(random, x, x[:, 0].numpy(), cases, tmp_path, task=task)
    with torch.no_grad():
        own = torch.softmax(random(x[pos]), 1)[:, 1].numpy()
    assert index["score"].to_numpy() == pytest.approx(own, abs=1e-5)
    assert (index["recorded_score"] == recorded).all()
    assert not np.allclose(index["score"], recorded, atol=0.05)
    expected = ["TP" if s > 0.5 else "FN" for s in own]
    assert list(index["outcome"]) == expected
    assert [f.split("_")[-1] for f in index["file"]] == [f"{o}.png" for o in expected]
    _, trained = render_cases(model, x, x[:, 0].numpy(), cases, tmp_path / "t", task=task)
    with torch.no_grad():
        mine = torch.softmax(model(x[pos]), 1)[:, 1].numpy()  # type: ignore[operator]
    assert trained["score"].to_numpy() == pytest.approx(mine, abs=1e-5)


def test_random_weights_have_far_less_evidence_on_the_shared_scale(blobs, tmp_path: Path) -> None:
    model, x, pos, masks = blobs["model"], blobs["x"], blobs["pos"], blobs["masks"]
    cases = [ExplainCase(i, "blob", 1, f"c{i}") for i in pos]
    shown = x[:, 0].numpy()
    mask_list = [masks[i] for i in pos]  # type: ignore[index]
    one = Tolerance(1, "voxel")
    _, trained = render_cases(
        model, x, shown, cases, tmp_path / "t", masks=mask_list, tolerance=one
    )
    scale = float(trained["evidence_scale"].iloc[0])
    assert scale == pytest.approx(np.percentile(trained["raw_max"], 95))
    (_, random), *_ = randomised_models(model, seed=3)  # type: ignore[arg-type]
    _, rnd = render_cases(random, x, shown, cases, tmp_path / "r", scale=scale, masks=mask_list)
    assert (rnd["evidence_scale"] == scale).all()
    assert rnd["raw_max"].max() < 0.01 * trained["raw_max"].min()
    maps = case_maps(random, x, pos, [1] * len(pos), layer=str(trained["layer"].iloc[0]))
    assert max(on_scale(maps, n, scale).max() for n in range(len(pos))) < 0.01  # drawn faint
    # localization columns per case, the per-label table with chance and p-values on disk
    need = {"pointing_game", "pointing_game_strict", "tolerance", "chance", "chance_strict"}
    assert need | {"label_p_value", "label_perm_p_value"} <= set(trained.columns)
    table = pd.read_csv(tmp_path / "t" / "localization.csv").set_index("label")
    assert {"chance", "p_value", "perm_p_value", "pointing_game_strict"} <= set(table.columns)
    assert table.loc["blob", "tolerance"] == "1 voxel"
