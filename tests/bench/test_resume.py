"""An interrupted benchmark run continues from its last.pt when the command is run again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support.bench import write_medmnist_npz

import radlens.bench.medmnist_bench as bench
from radlens.bench.spec import make_spec


@pytest.mark.slow
def test_interrupted_run_resumes_from_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_medmnist_npz(tmp_path / "breastmnist.npz", n=(8, 8, 8))
    spec = make_spec({"datasets": "breastmnist", "epochs": 2, "seeds": 1,
                      "out": str(tmp_path / "b"), "data_dir": str(tmp_path), "verify": False,
                      "batch_size": 8, "precision": "32-true"})  # fmt: skip
    run_dir = bench._run_dir(spec, "breastmnist", 28, "resnet18", 0)
    real_train = bench.train
    # first call: the job stops after one of two epochs (as a time-sliced job would)
    monkeypatch.setattr(bench, "train", lambda c, **kw: real_train(c, **{**kw, "stop_after": 1}))
    first = bench.run_bench(spec, progress=False)
    assert first.trained == 0 and first.rows == []
    assert (run_dir / "last.pt").is_file() and not (run_dir / "metrics.json").exists()
    resumed: list[bool] = []

    def spy(config, **kw):
        resumed.append(kw["resume"])
        return real_train(config, **kw)

    monkeypatch.setattr(bench, "train", spy)
    second = bench.run_bench(spec, progress=False)
    assert resumed == [True] and second.trained == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert second.rows[0]["data_note"] == "UNOFFICIAL data"
