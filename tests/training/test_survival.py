"""`train_survival` on the easy synthetic case (a ball's radius sets the hazard): the loss falls
and the test C-index beats chance; the discrete head writes survival curves; flags are checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radlens.core import read_predictions
from radlens.errors import ConfigError
from radlens.evaluation import concordance_index
from radlens.training import load_survival_run, make_config, train_survival
from tests._support.survival_cohort import write_survival_cohort


def _config(cohort: Path, out: Path, **extra):
    values = {"task": "survival", "cohort": str(cohort), "cohort_shape": (16, 32, 32),
              "model": "ctnet_3d", "epochs": 4, "batch_size": 16, "lr": 0.003, "device": "cpu",
              "precision": "32-true", "threads": 2, "out": str(out), **extra}  # fmt: skip
    return make_config(values)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("survival") / "cohort"
    write_survival_cohort(folder, n_studies=40)
    return folder


@pytest.mark.slow
def test_cox_training_lowers_the_loss_and_beats_chance(cohort: Path, tmp_path: Path) -> None:
    result = train_survival(_config(cohort, tmp_path / "run", covariates=["age", "sex", "site"]))
    losses = [h["train_loss"] for h in result.metrics["history"]]
    assert losses[-1] < losses[0]
    frame = read_predictions(tmp_path / "run")
    assert set(frame["split"]) == {"train", "val", "test"}
    test = frame[frame["split"] == "test"]
    assert concordance_index(test["time"], test["event"], test["risk"]) > 0.7
    assert result.metrics["covariates"] == ["age", "sex=M", "site=site_1", "site=site_2"]
    assert np.isfinite(frame["risk_covariates"]).all()  # the covariates-only baseline
    run = load_survival_run(tmp_path / "run")  # the checkpoint rebuilds the trained network
    assert run.covariates.columns == result.metrics["covariates"]
    plan = (tmp_path / "run" / "plan.json").read_text()
    assert '"task": "survival"' in plan


@pytest.mark.slow
def test_discrete_head_writes_survival_curves(cohort: Path, tmp_path: Path) -> None:
    result = train_survival(_config(cohort, tmp_path / "run", head="discrete", intervals=4,
                                    epochs=2))  # fmt: skip
    frame = read_predictions(tmp_path / "run")
    curves = [c for c in frame.columns if c.startswith("survival@")]
    assert len(curves) == len(result.metrics["cuts"]) >= 2
    values = frame[curves].to_numpy()
    assert (np.diff(values, axis=1) <= 1e-6).all() and ((values >= 0) & (values <= 1)).all()
    assert frame.attrs["radlens"]["head"] == "discrete"


def test_survival_flags_are_checked(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--freeze-encoder needs --init"):
        train_survival(_config(cohort, tmp_path / "a", freeze_encoder=True))
    with pytest.raises(ConfigError, match="--resume is not supported"):
        train_survival(_config(cohort, tmp_path / "b"), resume=True)
    with pytest.raises(ConfigError, match="one device"):
        train_survival(_config(cohort, tmp_path / "c", devices=2))
    with pytest.raises(ConfigError, match="--task survival needs --cohort"):
        make_config({"task": "survival", "dataset": "pneumoniamnist"}).check_source()


def test_survival_init_errors_name_the_file(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such run directory or checkpoint file"):
        train_survival(_config(cohort, tmp_path / "a", init=str(tmp_path / "missing.pt")))
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)  # no label_names / task
    with pytest.raises(ConfigError, match=r"foreign\.pt: not a radlens checkpoint .*label_names"):
        train_survival(_config(cohort, tmp_path / "b", init=str(foreign)))
