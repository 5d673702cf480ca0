"""Outputs pinned before the restructuring (issue 14), so that moving code changes no result.

Each golden file under tests/_support/golden/ was written by the code at d2f2066 (before the
move) with ``RADLENS_WRITE_GOLDEN=1 pytest tests/test_golden_outputs.py``. A deliberate change of
output (a documented unification) rewrites the file in the same commit and says why.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parent / "_support" / "golden"
GOLD_CSV = Path(__file__).resolve().parent / "_support" / "data" / "chest_ct_gold.csv"
WRITE = os.environ.get("RADLENS_WRITE_GOLDEN") == "1"


def check(frame: pd.DataFrame, name: str, atol: float = 0.0) -> None:
    """Compare `frame` with the golden CSV `name` (written instead when RADLENS_WRITE_GOLDEN=1)."""
    path = GOLDEN / name
    frame = frame.reset_index(drop=True)
    if WRITE:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, float_format="%.6f")
        pytest.skip(f"wrote {path}")
    want = pd.read_csv(path, dtype=str, keep_default_na=False)
    got = pd.read_csv(
        __import__("io").StringIO(frame.to_csv(index=False, float_format="%.6f")),
        dtype=str,
        keep_default_na=False,
    )
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:
        w, g = want[col].to_numpy(), got[col].to_numpy()
        if atol:
            try:
                wf, gf = w.astype(float), g.astype(float)
            except ValueError:
                pass
            else:
                np.testing.assert_allclose(gf, wf, atol=atol, err_msg=col)
                continue
        assert (w == g).all(), f"{name}: column {col} differs at rows {np.flatnonzero(w != g)[:10]}"


# ---- 1. the labeler's wide matrix (both vocabularies, the project's own gold texts) -----------
@pytest.mark.parametrize("vocab", ["chest_ct", "chest_xr"])
def test_labeler_wide_matrix_is_unchanged(vocab: str) -> None:
    from radlens.reports.labeler import label_many
    from radlens.reports.tables import findings_to_wide
    from radlens.reports.vocabulary import load_vocabulary

    reports = pd.read_csv(GOLD_CSV, dtype=str, keep_default_na=False)
    vocabulary = load_vocabulary(vocab)
    findings = label_many(list(reports["text"]), vocab=vocabulary.source)
    wide = findings_to_wide(list(reports["id"]), findings, vocabulary)
    long = wide.stack()  # uncertain cells are NaN (-1 before the float matrix): written "nan"
    long = long[long != 0].map(lambda v: "nan" if np.isnan(v) else f"{v:g}")
    long = long.rename("value").reset_index()
    long.columns = ["report_id", "label", "value"]
    check(long, f"labeler_wide_{vocab}.csv")


# ---- 2. triage: the service's per-study triage and the demo's ranked list ----------------------
def _scores(n_studies: int = 40, seed: int = 7) -> tuple[list[str], list[str], np.ndarray]:
    abns = ["pneumothorax", "pleural_effusion", "mass", "nodule", "consolidation", "cardiomegaly",
            "emphysema", "pericardial_effusion"]  # fmt: skip
    rng = np.random.default_rng(seed)
    scores = np.round(rng.beta(0.6, 1.4, size=(n_studies, len(abns))), 4)
    ids = [f"s{i:03d}" for i in range(n_studies)]
    return ids, abns, scores


def test_service_triage_is_unchanged() -> None:
    from radlens.service.scoring import Prediction
    from radlens.service.triage import triage_predictions

    ids, abns, scores = _scores()
    rows = []
    for sid, row in zip(ids, scores, strict=True):
        preds = [Prediction(a, None, float(s)) for a, s in zip(abns, row, strict=True)]
        preds += [Prediction("nodule", "right_upper_lobe", float(row[3]) * 0.9)]
        t = triage_predictions(preds, threshold=0.5)
        rows.append({
            "study_id": sid, "urgency_rank": t.urgency_rank, "top_abnormality": t.top_abnormality,
            "top_score": t.top_score,
            "findings": ";".join(f"{f.abnormality}:{f.status}:{f.urgency}" for f in t.findings),
        })  # fmt: skip
    frame = pd.DataFrame(rows).sort_values(
        ["urgency_rank", "top_score", "study_id"], ascending=[True, False, True], kind="stable"
    )
    check(frame, "triage_service.csv")


class _Evaluation:
    def __init__(self, labels: list[str], thresholds: list[float]) -> None:
        self.table = pd.DataFrame({"label": labels, "threshold": thresholds})


def test_demo_triage_list_is_unchanged(tmp_path: Path) -> None:
    from radlens.demos.ct_report import triage_list

    ids, abns, scores = _scores()
    frame = pd.DataFrame({"id": ids, "patient_id": ids, "split": "test", "site": "site_a"})
    for j, a in enumerate(abns):
        frame[f"score:{a}"] = scores[:, j]
    frame["score:nodule@right_upper_lobe"] = scores[:, 3] * 0.9
    frame["score:nodule@left_lower_lobe"] = scores[:, 3] * 0.8
    frame.to_parquet(tmp_path / "predictions.parquet", index=False)
    thresholds = [0.3, 0.4, 0.5, 0.45, 0.6, 0.5, 0.7, 0.55]
    ranked = triage_list(tmp_path, _Evaluation(abns, thresholds), abns)
    check(ranked.drop(columns=["true_findings"]), "triage_demo.csv")


# ---- 3. a run's predictions (tiny deterministic multi-label training run) ----------------------
def test_run_predictions_are_unchanged(tmp_path: Path) -> None:
    import torch

    from radlens.core.rundir import read_predictions
    from radlens.data.arrays import ArrayDataset
    from radlens.training.config import make_config
    from radlens.training.loop import train

    torch.set_num_threads(1)
    rng = np.random.default_rng(3)
    images, labels, ids = {}, {}, {}
    for split, m in (("train", 48), ("val", 16), ("test", 16)):
        x = rng.integers(0, 60, size=(m, 12, 12)).astype(np.uint8)
        y = rng.integers(0, 2, size=(m, 2)).astype(np.float32)
        x[y[:, 0] == 1, 2:5, 2:5] = 240
        x[y[:, 1] == 1, 7:10, 7:10] = 240
        images[split], labels[split] = x, y
        ids[split] = np.array([f"{split}-{i:03d}" for i in range(m)])
    data = ArrayDataset("toy", "multi-label", ("a", "b"), images, labels, ids,
                        {s: v.copy() for s, v in ids.items()}, spatial_dims=2, official=False,
                        source="synthetic")  # fmt: skip
    config = make_config(
        {
            "dataset": "toy",
            "model": "resnet18",
            "epochs": 2,
            "batch_size": 16,
            "seed": 0,
            "device": "cpu",
            "precision": "32-true",
            "out": str(tmp_path / "run"),
        }
    )
    train(config, dataset=data, progress=False)
    preds = read_predictions(tmp_path / "run" / "predictions.parquet")
    cols = ["id", "split", *[c for c in preds.columns if c.startswith("score")]]
    check(preds[cols].sort_values(["split", "id"]), "run_predictions.csv", atol=2e-4)
