"""The files of a run directory and the one way to write and read them atomically.

A run directory holds ``config.yaml``, ``plan.json`` (see `radlens.core.plan`), ``checkpoint.pt``
(best weights), ``last.pt`` (resumable state), ``metrics.json``, ``predictions.parquet`` and, after
``radlens evaluate``, ``evaluation.json`` and ``report.html``. Writers go through a temporary file
and a rename, so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from radlens.errors import EvaluationError

CONFIG = "config.yaml"
PLAN = "plan.json"
CHECKPOINT = "checkpoint.pt"
LAST = "last.pt"
METRICS = "metrics.json"
PREDICTIONS = "predictions.parquet"
EVALUATION = "evaluation.json"
REPORT = "report.html"


def _tmp(path: Path) -> Path:
    """The temporary file of one writer: named by process, so two processes writing the same
    file (every torchrun rank writes config.yaml) never rename each other's temporary away."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def atomic_save(path: str | Path, obj: Any) -> None:
    """torch.save to a temporary file, then rename: never a half-written checkpoint."""
    path = Path(path)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text through a temporary file and a rename."""
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def atomic_write_npz(path: str | Path, **arrays: Any) -> None:
    """`numpy.savez` through a temporary file and a rename."""
    path = Path(path)
    tmp = _tmp(path)
    with open(tmp, "wb") as handle:  # a file handle: numpy does not append ".npz"
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write indented JSON through a temporary file and a rename."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_predictions(frame: pd.DataFrame, path: str | Path) -> None:
    """Parquet with the frame's attrs["radlens"] as schema metadata key b"radlens"."""
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"radlens"] = json.dumps(frame.attrs.get("radlens", {})).encode()
    tmp = _tmp(path)
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    os.replace(tmp, path)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a predictions table (a run's ``predictions.parquet``, or a file given by path); its
    b"radlens" schema metadata goes to ``frame.attrs["radlens"]``."""
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS
    if not path.is_file():
        raise EvaluationError(f"predictions table not found: {path} (run `radlens train` first)")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise EvaluationError(f"{path}: not a readable Parquet predictions table ({exc})") from None
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(b"radlens")
    try:
        frame.attrs["radlens"] = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path}: schema metadata 'radlens' is not JSON: {exc}") from None
    return frame
