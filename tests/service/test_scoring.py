"""ModelScorer on a tiny real 3D run (trained here for one epoch), plug-in scorers, triage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _support.service import make_volume, write_series
from sqlalchemy import select

from radlens.core.plan import RunPlan, read_plan, write_plan
from radlens.core.rundir import PLAN
from radlens.errors import ConfigError, ModelError
from radlens.reports.triage import urgency_of
from radlens.service.files import FileStore
from radlens.service.ingest import ingest_dicom_files
from radlens.service.scoring import (
    ModelScorer,
    Prediction,
    load_scorer,
    prepare_volume,
    split_label,
)
from radlens.service.store import Database, Study, StudyStatus
from radlens.service.store import Prediction as PredictionRow
from radlens.service.triage import draft_report, triage_predictions
from radlens.service.worker import Worker

LABELS = ("pneumothorax@right_pleura", "mass@right_upper_lobe", "nodule")
CHEST_SHAPE = (16, 32, 32)  # `train_chest_ct_run`'s volumes


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real run directory: resnet18 3D trained one epoch on a few random 8^3 volumes."""
    from radlens.data.arrays import ArrayDataset
    from radlens.training.config import make_config
    from radlens.training.loop import train

    rng = np.random.default_rng(0)
    images, labels, ids = {}, {}, {}
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        images[split] = rng.integers(0, 255, (n, 8, 8, 8), dtype=np.uint8)
        labels[split] = np.array(
            [[(i + j) % 2 for j in range(len(LABELS))] for i in range(n)], np.float32
        )
        ids[split] = np.array([f"{split}-{i}" for i in range(n)])
    ds = ArrayDataset(
        name="tiny",
        task="multi-label",
        label_names=LABELS,
        images=images,
        labels=labels,
        ids=ids,
        patient_ids=ids,
        spatial_dims=3,
        official=False,
    )
    out = tmp_path_factory.mktemp("run") / "tiny"
    config = make_config(
        {
            "dataset": "tiny",
            "model": "resnet18",
            "epochs": 1,
            "batch_size": 4,
            "eval_batch_size": 4,
            "device": "cpu",
            "precision": "32-true",
            "out": str(out),
        }
    )
    run_dir = train(config, dataset=ds, progress=False).run_dir
    # the random arrays stand for CT volumes fitted to 8^3 in one -1000..400 HU window
    plan = RunPlan(
        data_source="arrays", dataset="tiny", task="multi-label", labels=LABELS, spatial_dims=3,
        channels=1, shape=(8, 8, 8), windows_hu=((-1000.0, 400.0),), orientation="SPL",
    )  # fmt: skip
    write_plan(run_dir, plan)
    return run_dir


@pytest.mark.slow
def test_model_scorer_scores_and_explains_a_volume(tiny_run: Path) -> None:
    scorer = ModelScorer(tiny_run, heatmap_threshold=0.0)
    volume = make_volume(1, (8, 24, 24))
    preds = scorer.score(volume)
    assert [(p.abnormality, p.location) for p in preds] == [
        ("pneumothorax", "right_pleura"),
        ("mass", "right_upper_lobe"),
        ("nodule", None),
    ]
    assert all(0.0 <= p.score <= 1.0 for p in preds)
    assert scorer.score(volume) == preds  # deterministic in eval mode
    maps = scorer.heatmaps(volume)
    # one map per output label: located outputs give located maps
    assert set(maps) == {"pneumothorax@right_pleura", "mass@right_upper_lobe", "nodule"}
    assert all(
        m.shape == volume.array.shape and 0 <= m.min() <= m.max() <= 1 for m in maps.values()
    )
    assert scorer.model_version.startswith("tiny@")
    assert scorer.plan == read_plan(tiny_run) and scorer.plan.spacing_mm is None
    # no spacing in the plan: the whole volume is fitted to the plan's shape
    assert prepare_volume(volume, scorer.plan).shape == (1, 8, 8, 8)
    assert len(ModelScorer(tiny_run, heatmap_threshold=0.0, max_heatmaps=1).heatmaps(volume)) == 1


@pytest.mark.slow
def test_worker_with_model_scorer(tiny_run: Path, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    files = FileStore(tmp_path / "cas")
    _, paths = write_series(tmp_path / "s", seed=3)
    ingest_dicom_files(db, files, [(p.name, p.read_bytes()) for p in paths])
    scorer = load_scorer("", tiny_run)
    assert Worker(db, files, scorer, completion_timeout_s=0).run_once() == 1
    with db.session() as session:
        study = session.scalar(select(Study))
        assert study.status == StudyStatus.SCORED and study.model_version == scorer.model_version
        rows = session.scalars(select(PredictionRow)).all()
    assert {r.abnormality for r in rows} == {"pneumothorax", "mass", "nodule"}


def test_model_scorer_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        ModelScorer(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"package\.module:factory"):
        load_scorer("no_colon_here", None)
    with pytest.raises(ConfigError, match="cannot be imported"):
        load_scorer("radlens.nowhere:make", None)
    assert load_scorer("", None) is None
    assert load_scorer("_support.service:tiny_scorer", None).model_version == "tinynet-test-0"


def test_split_label_and_triage_rules() -> None:
    assert split_label("nodule@left_lower_lobe") == ("nodule", "left_lower_lobe")
    assert split_label("cardiomegaly") == ("cardiomegaly", None)
    assert urgency_of("pneumothorax") == "critical" and urgency_of("mass") == "urgent"
    result = triage_predictions(
        [
            Prediction("nodule", "left_lower_lobe", 0.97),
            Prediction("pneumothorax", "left_pleura", 0.55),
            Prediction("mass", "right_upper_lobe", 0.3),
            Prediction("mass", "left_upper_lobe", 0.1),
        ],
        threshold=0.5,
    )
    # critical pneumothorax sets the rank and is the top finding, though nodule scores higher
    assert result.urgency_rank == 0 and result.top_abnormality == "pneumothorax"
    assert result.top_score == 0.55
    status = {f.abnormality: (f.status, f.location) for f in result.findings}
    assert status["mass"] == ("uncertain", "right_upper_lobe")
    text = draft_report([Prediction("pneumothorax", "left_pleura", 0.9)], threshold=0.5)
    assert "neumothorax in the left pleura" in text and "[critical]" in text
    quiet = [Prediction("pneumothorax", "left_pleura", 0.01)]
    assert triage_predictions(quiet, threshold=0.5).urgency_rank == 3
    assert triage_predictions(quiet, threshold=0.5).top_abnormality == "pneumothorax"
    assert "No pneumothorax." in draft_report(quiet, threshold=0.5)


def test_draft_states_each_abnormality_once_in_its_located_form() -> None:
    """Issue 18: a study-level and a located output of one abnormality gave two sentences
    ("Likely pericardial effusion. Possible pericardial effusion in the pericardium.")."""
    text = draft_report(
        [
            Prediction("pericardial_effusion", None, 0.7),
            Prediction("pericardial_effusion", "pericardium", 0.4),
            Prediction("pleural_effusion", None, 0.9),
            Prediction("pleural_effusion", "left_pleura", 0.88),
            Prediction("pleural_effusion", "right_pleura", 0.05),
        ],
        threshold=0.5,
    )
    findings = text.split("IMPRESSION:")[0]
    assert "Heart and pericardium: Likely pericardial effusion in the pericardium.\n" in findings
    assert "Pleura: Pleural effusion in the left pleura.\n" in findings
    assert findings.count("pericardial effusion") == 1 and "right pleura" not in text
    assert text.split("IMPRESSION:")[1].count("\n") == 3  # two numbered impressions


@pytest.fixture(scope="module")
def chest_run(tmp_path_factory) -> Path:
    from _support.service import train_chest_ct_run

    return train_chest_ct_run(tmp_path_factory.mktemp("chest"))


@pytest.mark.slow
def test_model_scorer_preprocesses_like_the_chest_ct_cohort(chest_run: Path, tmp_path) -> None:
    """The service feeds the model exactly the tensor training saw for the same NIfTI volume."""
    import pandas as pd

    from radlens.data.ct_cohort import load_ct_cohort
    from radlens.data.volumes.io import load_volume
    from radlens.training.device import predict_scores
    from radlens.training.run import load_run

    scorer = ModelScorer(chest_run)
    plan = scorer.plan
    assert len(plan.windows_hu) == int(load_run(chest_run).checkpoint["geometry"]["in_channels"])
    table = pd.read_parquet(chest_run.parent / "cohort" / "cohort.parquet")
    row = table.iloc[0]
    cohort_dir = chest_run.parent / "cohort"
    volume = load_volume(cohort_dir / row["nifti_path"])
    # the cohort loaded again exactly as `train_chest_ct_run` loaded it for training
    trained = load_ct_cohort(
        cohort_dir, shape=CHEST_SHAPE, cache_dir=tmp_path, progress=False,
        min_location_positives=1,
    )  # fmt: skip
    made = trained.dataset.extra  # how its arrays were made: the plan must say the same
    assert tuple(plan.shape) == CHEST_SHAPE and plan.labels == trained.dataset.label_names
    assert plan.spacing_mm == pytest.approx(made["spacing"])
    assert plan.windows_hu == tuple(tuple(w) for w in made["windows"])
    ds = trained.dataset
    split = trained.table["split"].iloc[0]
    index = list(ds.ids[split]).index(str(row["study_id"]))
    mine = prepare_volume(volume, plan)
    assert mine.dtype == np.uint8 and mine.shape == (len(plan.windows_hu), *plan.shape)
    assert np.array_equal(mine, ds.images[split][index])
    # the same volume through the run's own prediction path gives the same scores
    run = load_run(chest_run)
    expected = predict_scores(run.model, scorer._tensor(volume), run.task)[0]
    got = [p.score for p in scorer.score(volume)]
    assert got == pytest.approx(list(expected), abs=1e-6)
    assert len(got) == len(run.label_names) > 12  # 12 abnormalities + located outputs


@pytest.mark.slow
def test_the_plan_decides_and_bad_plans_fail(chest_run: Path, tmp_path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(chest_run, run)
    plan = read_plan(run)
    n_in = plan.channels
    windows = tuple((-1000.0 + 10 * c, 200.0) for c in range(n_in))
    write_plan(run, plan.model_copy(update={"windows_hu": windows, "spacing_mm": (20, 10.5, 10.5)}))
    mine = ModelScorer(run).plan
    assert mine.windows_hu == windows and mine.spacing_mm == (20.0, 10.5, 10.5)
    too_many = plan.model_copy(update={"windows_hu": ((1.0, 2.0),) * (n_in + 1)})
    write_plan(run, too_many)
    with pytest.raises(ModelError, match=f"takes {n_in} channel"):
        ModelScorer(run)
    write_plan(run, plan.model_copy(update={"windows_hu": None}))
    with pytest.raises(ModelError, match="no windows_hu"):
        ModelScorer(run)
    write_plan(run, plan.model_copy(update={"orientation": "RAS"}))
    with pytest.raises(ModelError, match="orientation 'RAS'"):
        ModelScorer(run)
    write_plan(run, plan.model_copy(update={"labels": plan.labels[::-1]}))
    with pytest.raises(ModelError, match="different runs"):
        ModelScorer(run)
    (run / PLAN).write_text('{"version": 1, "shape": "big"}')
    with pytest.raises(ConfigError, match=r"plan\.json: field"):
        ModelScorer(run)
    (run / PLAN).write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelScorer(run)
    (run / PLAN).unlink()
    with pytest.raises(ConfigError, match=r"plan\.json not found"):
        ModelScorer(run)  # a run without a plan fails when the scorer loads, not per study


def test_findings_link_to_their_located_heatmap() -> None:
    from radlens.service.worklist import heatmap_key

    keys = {"mass@right_upper_lobe", "nodule", "pneumothorax@left_pleura"}
    assert heatmap_key("mass", "right_upper_lobe", keys) == "mass@right_upper_lobe"
    assert heatmap_key("nodule", "lingula", keys) == "nodule"  # falls back to the unlocated map
    assert heatmap_key("pneumothorax", "right_pleura", keys) is None  # never another location
    assert heatmap_key("cardiomegaly", None, keys) is None
