"""The run plan: a training run writes RUN/plan.json (source, label space, input preparation),
keeps it on resume, and `read_plan` refuses a missing or corrupt one with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.core.plan import RunPlan, read_plan
from radlens.core.rundir import CHECKPOINT, PLAN
from radlens.data.arrays import ArrayDataset
from radlens.errors import ConfigError
from radlens.training.config import make_config
from radlens.training.loop import train
from radlens.training.sources import data_source, run_plan


def toy(dims: int = 2, n: int = 12, channels: int = 1, **extra: object) -> ArrayDataset:
    rng = np.random.default_rng(0)
    images, labels, ids = {}, {}, {}
    for split in ("train", "val", "test"):
        shape = (n, 8, 8) if dims == 2 else (n, channels, 6, 8, 8)
        images[split] = rng.integers(0, 255, size=shape).astype(np.uint8)
        labels[split] = (np.arange(n) % 2).astype(np.float32)[:, None]
        ids[split] = np.array([f"{split}-{i}" for i in range(n)])
    return ArrayDataset("toy", "binary", ("normal", "abnormal"), images, labels, ids,
                        {s: v.copy() for s, v in ids.items()}, n_channels=channels,
                        spatial_dims=dims, official=False, extra=dict(extra))  # fmt: skip


def config(out: Path, **over: object):
    values = {"dataset": "toy", "out": str(out), "epochs": 2, "batch_size": 8, "device": "cpu",
              "precision": "32-true", "seed": 0, **over}  # fmt: skip
    return make_config(values)


def test_a_run_writes_its_plan_and_keeps_it_on_resume(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    run = tmp_path / "run"
    train(config(run), dataset=toy(), progress=False, stop_after=1)
    plan = read_plan(run)
    assert plan == RunPlan(
        data_source="arrays",  # handed in, and "toy" is no MedMNIST dataset
        dataset="toy",
        task="binary",
        labels=("normal", "abnormal"),
        spatial_dims=2,
        channels=1,
        shape=(8, 8),
        spacing_mm=None,
        windows_hu=None,
        orientation=None,
        crop="none",
        intensity="uint8 [0, 255] -> [-1, 1]",
    )
    ckpt = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    assert RunPlan.model_validate(ckpt["plan"]) == plan
    written = (run / PLAN).read_text()
    (run / PLAN).write_text(written.replace('"toy"', '"toy-as-first-written"'))
    train(make_config({"out": str(run)}), dataset=toy(), resume=True, progress=False)
    assert read_plan(run).dataset == "toy-as-first-written"  # resume keeps the plan it finds


def test_plans_of_a_ct_cohort_and_a_medmnist_dataset() -> None:
    spacing, windows = (5.0, 2.5, 2.5), [[-1000.0, 400.0], [-160.0, 240.0]]
    ct = toy(dims=3, channels=2, spacing=spacing, windows=windows)
    cohort = make_config({"cohort": "/data/cohort"})
    assert data_source(cohort, ct, given=True) == "ct_cohort"
    plan = run_plan(cohort, ct, given=True)
    assert (plan.data_source, plan.dataset, plan.spatial_dims, plan.channels) == (
        "ct_cohort", "/data/cohort", 3, 2,
    )  # fmt: skip
    assert plan.shape == (6, 8, 8) and plan.spacing_mm == spacing
    assert plan.windows_hu == ((-1000.0, 400.0), (-160.0, 240.0))
    assert (plan.orientation, plan.crop) == ("SPL", "center")
    # a cohort config handed 2D arrays: not the cohort's data
    assert data_source(cohort, toy(), given=True) == "arrays"
    medmnist = toy()
    medmnist.name = "pneumoniamnist"
    named = make_config({"dataset": "pneumoniamnist"})
    assert data_source(named, medmnist, given=True) == "medmnist"
    assert data_source(named, medmnist, given=False) == "medmnist"
    assert run_plan(named, medmnist, given=True).crop == "none"
    folder = make_config({"images": "/x", "labels": "/x.csv", "patient_column": "p"})
    assert data_source(folder, toy(), given=False) == "image_folder"


def test_read_plan_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plan\.json not found"):
        read_plan(tmp_path)
    (tmp_path / PLAN).write_text("{not json")
    with pytest.raises(ConfigError, match=r"plan\.json: not valid JSON"):
        read_plan(tmp_path)
    (tmp_path / PLAN).write_text(json.dumps({"version": 99}))
    with pytest.raises(ConfigError, match="plan version 99"):
        read_plan(tmp_path)
    (tmp_path / PLAN).write_text(json.dumps({"version": 1, "data_source": "tape"}))
    with pytest.raises(ConfigError, match=r"plan\.json: field data_source"):
        read_plan(tmp_path)
