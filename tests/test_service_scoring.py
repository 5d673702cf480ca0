"""ModelScorer on a tiny real 3D run (trained here for one epoch), plug-in scorers, triage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from service_support import make_volume, write_series
from sqlalchemy import select

from radlens.errors import ConfigError, ModelError
from radlens.service.files import FileStore
from radlens.service.ingest import ingest_dicom_files
from radlens.service.scoring import ModelScorer, Prediction, load_scorer, split_label
from radlens.service.store import Database, Study, StudyStatus
from radlens.service.store import Prediction as PredictionRow
from radlens.service.triage import draft_report, triage, urgency_of
from radlens.service.worker import Worker

LABELS = ("pneumothorax@right_pleura", "mass@right_upper_lobe", "nodule")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real run directory: resnet18 3D trained one epoch on a few random 8^3 volumes."""
    from radlens.config import make_config
    from radlens.data.arrays import ArrayDataset
    from radlens.training import train

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
    return train(config, dataset=ds, progress=False).run_dir


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
    assert set(maps) == {"pneumothorax", "mass", "nodule"}
    assert all(
        m.shape == volume.array.shape and 0 <= m.min() <= m.max() <= 1 for m in maps.values()
    )
    assert scorer.model_version.startswith("tiny@")


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
    assert load_scorer("service_support:tiny_scorer", None).model_version == "tinynet-test-0"


def test_split_label_and_triage_rules() -> None:
    assert split_label("nodule@left_lower_lobe") == ("nodule", "left_lower_lobe")
    assert split_label("cardiomegaly") == ("cardiomegaly", None)
    assert urgency_of("pneumothorax") == "critical" and urgency_of("mass") == "urgent"
    result = triage(
        [
            Prediction("nodule", "left_lower_lobe", 0.97),
            Prediction("pneumothorax", "left_pleura", 0.55),
            Prediction("mass", "right_upper_lobe", 0.3),
            Prediction("mass", "left_upper_lobe", 0.1),
        ],
        threshold=0.5,
    )
    assert result.urgency_rank == 0 and result.top_abnormality == "nodule"
    status = {f.abnormality: (f.status, f.location) for f in result.findings}
    assert status["mass"] == ("uncertain", "right_upper_lobe")
    text = draft_report([Prediction("pneumothorax", "left_pleura", 0.9)])
    assert "neumothorax in the left pleura" in text and "[critical]" in text
    quiet = [Prediction("pneumothorax", "left_pleura", 0.01)]
    assert triage(quiet, threshold=0.5).urgency_rank == 3
    assert "No pneumothorax." in draft_report(quiet)
