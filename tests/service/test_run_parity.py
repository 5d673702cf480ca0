"""A run trained with `radlens train --cohort ... --cohort-windows ... --cohort-spacing ...` is
scored by the service exactly as `radlens evaluate` scores it: the service reads the run's plan
(RUN/plan.json), nothing else, to prepare a new study."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from radlens.cli import main
from radlens.core.plan import read_plan
from radlens.core.rundir import read_predictions
from radlens.phantom import synthesize_cohort
from radlens.service.files import FileStore
from radlens.service.ingest import ingest_upload
from radlens.service.scoring import ModelScorer, split_label
from radlens.service.store import Database
from radlens.service.store import Prediction as PredictionRow
from radlens.service.uploads import UploadLimits
from radlens.service.worker import Worker

SHAPE = "16,32,32"
SPACING = "16,9,9"  # mm: resample, then centre-crop (the phantom's field of view is larger)
WINDOWS = "-1000:-200,-160:240"


def train_and_evaluate(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A tiny cohort, a run trained one epoch on it through the CLI, then `radlens evaluate`."""
    cohort, run = tmp_path / "cohort", tmp_path / "run"
    table = synthesize_cohort(
        cohort, n_patients=10, seed=0, shape=(16, 32, 32), formats=("nifti",), progress=False
    )
    train = [
        "train", "--cohort", str(cohort), "--cohort-shape", SHAPE, "--cohort-spacing", SPACING,
        "--cohort-windows", WINDOWS, "--cohort-min-location-positives", "1",
        "--cohort-cache", str(tmp_path / "cache"), "--model", "ctnet_lite", "--epochs", "1",
        "--batch-size", "4", "--eval-batch-size", "4", "--device", "cpu",
        "--precision", "32-true", "--no-channels-last", "--seed", "0", "--out", str(run),
    ]  # fmt: skip
    assert main(train) == 0
    assert main(["evaluate", str(run), "--device", "cpu", "--bootstrap", "0"]) == 0
    return cohort, run, table


@pytest.mark.slow
def test_service_scores_a_cohort_run_as_radlens_evaluate_does(tmp_path: Path) -> None:
    cohort, run, table = train_and_evaluate(tmp_path)
    plan = read_plan(run)  # training recorded how its volumes were made
    assert plan.windows_hu == ((-1000.0, -200.0), (-160.0, 240.0))
    assert plan.spacing_mm == (16.0, 9.0, 9.0) and tuple(plan.shape) == (16, 32, 32)

    predictions = read_predictions(run)
    row = predictions[predictions["split"] == "test"].iloc[0]
    study = table[table["study_id"].astype(str) == row["id"]].iloc[0]
    # the same study as a clinic would send it: a NIfTI upload, scored by the worker
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = FileStore(tmp_path / "cas")
    path = cohort / study["nifti_path"]
    limits = UploadLimits(10**9, 10**9, 1000.0, 100)
    form = {"patient_id": str(study["patient_id"])}
    ingest_upload(db, files, [(path.name, path.read_bytes())], limits, form)
    scorer = ModelScorer(run)
    assert Worker(db, files, scorer, completion_timeout_s=0).run_once() == 1
    with db.session() as session:
        got = {(r.abnormality, r.location): r.score for r in session.scalars(select(PredictionRow))}
    want = {split_label(name): float(row[f"score:{name}"]) for name in scorer.label_names}
    assert len(want) == len(scorer.label_names) > 12  # abnormalities + located outputs
    assert got.keys() == want.keys()
    for key, score in want.items():
        assert got[key] == pytest.approx(score, abs=1e-4), key
