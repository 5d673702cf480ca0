"""`radlens plan RUN`: writes plan.json for a run made before plans existed, from its config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support.bench import write_medmnist_npz

from radlens.cli import main
from radlens.core import PLAN, read_plan
from radlens.errors import ConfigError


def tiny_run(tmp_path: Path) -> Path:
    data = write_medmnist_npz(tmp_path / "pneumoniamnist.npz", n=(16, 8, 8), side=28)
    run = tmp_path / "run"
    train = ["train", "--dataset", "pneumoniamnist", "--data-file", str(data), "--no-verify"]
    train += ["--epochs", "1", "--batch-size", "8", "--device", "cpu", "--precision", "32-true"]
    assert main([*train, "--threads", "1", "--out", str(run)]) == 0
    return run


def test_plan_rebuilds_the_plan_a_run_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tiny_run(tmp_path)
    original = json.loads((run / PLAN).read_text())
    capsys.readouterr()

    assert main(["plan", str(run)]) == 2  # a plan exists: kept unless --force
    assert "exists; give --force" in capsys.readouterr().err
    (run / PLAN).unlink()
    with pytest.raises(ConfigError, match="radlens plan"):  # what read_plan tells users to do
        read_plan(run)

    assert main(["plan", str(run)]) == 0
    out = capsys.readouterr().out
    assert json.loads((run / PLAN).read_text()) == original
    assert read_plan(run).data_source == "medmnist"
    assert str(run / PLAN) in " ".join(out.split()) and "current defaults" in out
    assert main(["plan", str(run), "--force"]) == 0
    assert json.loads((run / PLAN).read_text()) == original


def test_plan_needs_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(tmp_path)]) == 2
    assert "not a run directory: no config.yaml" in capsys.readouterr().err
