"""Synthetic predictions tables in the contract's layout, for the evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def multilabel_frame(
    labels=("nodule", "mass", "pleural_effusion"),
    n_per_split=(300, 500),
    splits=("val", "test"),
    sites=("A", "B"),
    images_per_patient=2,
    prevalence=0.3,
    signal=2.0,
    seed=0,
) -> pd.DataFrame:
    """Multi-label table: targets 1/0 (a few NaN), sigmoid scores that separate with `signal`."""
    rng = np.random.default_rng(seed)
    parts = []
    for split, n in zip(splits, n_per_split, strict=True):
        pid = np.array([f"{split}-p{i // images_per_patient:05d}" for i in range(n)])
        cols = {
            "id": [f"{split}-{i:06d}" for i in range(n)],
            "patient_id": pid,
            "split": split,
            "site": rng.choice(list(sites), n),
        }
        for name in labels:
            y = (rng.random(n) < prevalence).astype(float)
            y[rng.random(n) < 0.05] = np.nan
            z = rng.normal(size=n) + signal * np.nan_to_num(y) - signal / 2
            cols[f"target:{name}"] = y
            cols[f"score:{name}"] = 1.0 / (1.0 + np.exp(-1.5 * z))
        parts.append(pd.DataFrame(cols))
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["radlens"] = {"task": "multi-label", "label_names": list(labels)}
    return frame


def single_label_frame(
    classes=("normal", "benign", "malignant"),
    n_per_split=(300, 400),
    splits=("val", "test"),
    task="multi-class",
    seed=0,
    temperature=1.0,
) -> pd.DataFrame:
    """Single-label table: `target` class index and softmax `score:<class>` columns."""
    rng = np.random.default_rng(seed)
    parts = []
    k = len(classes)
    for split, n in zip(splits, n_per_split, strict=True):
        target = rng.integers(0, k, n)
        logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[target]
        z = logits / temperature
        probs = np.exp(z - z.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        cols = {
            "id": [f"{split}-{i:06d}" for i in range(n)],
            "patient_id": [f"{split}-p{i:05d}" for i in range(n)],
            "split": split,
            "site": "",
            "target": target.astype(np.int64),
        }
        for j, c in enumerate(classes):
            cols[f"score:{c}"] = probs[:, j]
        parts.append(pd.DataFrame(cols))
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["radlens"] = {"task": task, "label_names": list(classes)}
    return frame


def write_run_dir(run_dir: Path, frame: pd.DataFrame, *, dataset: str = "synthmnist") -> Path:
    """A run directory with the contract's files (config.yaml, metrics.json, predictions)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir.mkdir(parents=True, exist_ok=True)
    meta = dict(frame.attrs["radlens"], dataset=dataset, official=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[b"radlens"] = json.dumps(meta).encode()
    pq.write_table(table.replace_schema_metadata(schema_meta), run_dir / "predictions.parquet")
    (run_dir / "config.yaml").write_text(
        f"dataset: {dataset}\nmodel: resnet18\nepochs: 3\nlr: 0.001\nseed: 0\n", encoding="utf-8"
    )
    splits = {
        s: {
            "auc": 0.9,
            "n_images": int((frame["split"] == s).sum()),
            "n_patients": int(frame.loc[frame["split"] == s, "patient_id"].nunique()),
        }
        for s in frame["split"].unique()
    }
    metrics = {
        "dataset": dataset,
        "task": meta["task"],
        "official_data": False,
        "label_names": meta["label_names"],
        "splits": splits,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run_dir
