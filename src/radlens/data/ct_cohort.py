"""A chest-CT cohort table -> `ArrayDataset`: labels from the reports, volumes from the images.

Labels come from running the report labeler over each study's ``report_text`` (never from the true
findings): per abnormality 1 when the report calls it present, NaN when it is only uncertain
(masked in the loss and metrics), 0 when absent or not mentioned. Where the labeler gives
locations, one label per abnormality@location is added when the training split holds at least
`min_location_positives` positives (1 at that location, 0 when the abnormality is absent or
present elsewhere, NaN when it is uncertain there or present without a location).
The true findings (``true:<id>`` columns of a synthetic cohort) only measure the label noise:
labeler precision / recall / F1 per abnormality (`label_noise`).

Splits are by patient (`radlens.data.splits.assign_splits`) and audited for leakage. Volumes are
loaded from NIfTI or DICOM paths, resampled to a fixed shape over the phantom field of view (or a
given spacing) through `radlens.data.volumes.preprocess` with its disk cache, then windowed into one
channel per HU window and stored as uint8.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radlens.data.arrays import SPLITS, ArrayDataset
from radlens.data.splits import assign_splits, check_dataset_leakage
from radlens.data.volumes.preprocess import Window, resolve_window
from radlens.errors import ConfigError, DataError
from radlens.data.cohort_table import TRUTH_PREFIX, read_cohort
from radlens.phantom.geometry import FOV_MM
from radlens.phantom.lesions import ABNORMALITIES
from radlens.reports.label_eval import EvalResult, score_sets
from radlens.reports.labeler import Finding, label_many
from radlens.reports.sections import NON_REPORTING

logger = logging.getLogger(__name__)

#: One -1000..400 HU channel (lung to soft tissue), as the triage service scores volumes.
CHEST_WINDOW: tuple[float, float] = (-1000.0, 400.0)
#: Default channels: lung detail (-1000..-200 HU: ground glass, emphysema, air) and mediastinum
#: (-160..240 HU: effusions, nodes, heart, vessel wall).
CT_WINDOWS: tuple[tuple[float, float], ...] = ((-1000.0, -200.0), (-160.0, 240.0))
#: The demo's channels: low lung (-1024..-724 HU: air and emphysema against lung, so a
#: pneumothorax or low-attenuation area is not black on black), lung, mediastinum, and
#: bone/calcium (200..1200 HU: calcified plaque against blood and soft tissue).
DEMO_WINDOWS: tuple[tuple[float, float], ...] = (
    (-1024.0, -724.0),
    (-1000.0, -200.0),
    (-160.0, 240.0),
    (200.0, 1200.0),
)
SOURCES: tuple[str, ...] = ("nifti", "dicom", "npz")
LOCATION_SEP = "@"

__all__ = [
    "CHEST_WINDOW",
    "CT_WINDOWS",
    "DEMO_WINDOWS",
    "CtCohort",
    "LabelNoise",
    "cohort_labels",
    "label_noise",
    "load_ct_cohort",
]


@dataclass(frozen=True)
class LabelNoise:
    """Labeler vs true findings: per-abnormality table and micro / macro F1 (both levels)."""

    table: pd.DataFrame  # abnormality, tp, fp, fn, support, precision, recall, f1, n_uncertain
    micro_f1: float
    macro_f1: float
    location_micro_f1: float
    location_macro_f1: float

    def to_dict(self) -> dict:
        return {
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "location_micro_f1": self.location_micro_f1,
            "location_macro_f1": self.location_macro_f1,
            "per_abnormality": self.table.set_index("abnormality").to_dict(orient="index"),
        }


@dataclass
class CtCohort:
    """The dataset, the labeler's findings per row (table order) and its measured noise."""

    dataset: ArrayDataset
    table: pd.DataFrame  # the cohort table with a "split" column
    findings: list[list[Finding]]
    noise: LabelNoise | None


def _reporting(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.section not in NON_REPORTING]


def _row_labels(findings: Sequence[Finding], abnormality: str) -> tuple[float, dict[str, float]]:
    """(abnormality label, {location: label}) for one report."""
    mine = [f for f in _reporting(findings) if f.abnormality == abnormality]
    present = [f for f in mine if f.status == "present"]
    uncertain = [f for f in mine if f.status == "uncertain"]
    value = 1.0 if present else (np.nan if uncertain else 0.0)
    located = {f.location for f in present if f.location}
    unlocated = any(f.location is None for f in present + uncertain) and not located
    locs: dict[str, float] = {}
    for f in present:
        if f.location:
            locs[f.location] = 1.0
    for f in uncertain:
        if f.location and f.location not in locs:
            locs[f.location] = np.nan
    locs["*"] = np.nan if unlocated else 0.0  # value for every other location
    return value, locs


def cohort_labels(
    findings: Sequence[Sequence[Finding]],
    *,
    abnormalities: Sequence[str] = ABNORMALITIES,
    train_rows: np.ndarray | None = None,
    min_location_positives: int = 5,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Label names and the (N, L) float32 matrix (1 / 0 / NaN) from the labeler's findings.

    Abnormality columns first (in `abnormalities` order), then "abnormality@location" columns
    with at least `min_location_positives` positives among `train_rows` (all rows if None).
    """
    n = len(findings)
    rows = np.arange(n) if train_rows is None else np.asarray(train_rows)
    base = np.zeros((n, len(abnormalities)), dtype=np.float32)
    per_loc: list[dict[str, dict[str, float]]] = []
    for i, fs in enumerate(findings):
        entry = {}
        for j, abn in enumerate(abnormalities):
            base[i, j], entry[abn] = _row_labels(fs, abn)
        per_loc.append(entry)
    names = list(abnormalities)
    columns = [base]
    for abn in abnormalities:
        locations = sorted({loc for e in per_loc for loc in e[abn] if loc != "*"})
        for loc in locations:
            col = np.array([e[abn].get(loc, e[abn]["*"]) for e in per_loc], dtype=np.float32)
            if np.nansum(col[rows] == 1) >= min_location_positives:
                names.append(f"{abn}{LOCATION_SEP}{loc}")
                columns.append(col[:, None])
    return tuple(names), np.concatenate(columns, axis=1)


def _true_sets(table: pd.DataFrame, level: str) -> dict[str, set]:
    gold: dict[str, set] = {}
    for sid, raw in zip(table["study_id"], table["true_findings"], strict=True):
        for f in json.loads(raw) if isinstance(raw, str) else raw:
            key = (
                f["abnormality"]
                if level == "abnormality"
                else (f"{f['abnormality']}{LOCATION_SEP}{f['location']}")
            )
            gold.setdefault(key, set()).add(sid)
    return gold


def _pred_sets(
    table: pd.DataFrame, findings: Sequence[Sequence[Finding]], level: str, keep: set[str]
) -> dict[str, set]:
    pred: dict[str, set] = {}
    for sid, fs in zip(table["study_id"], findings, strict=True):
        for f in _reporting(fs):
            if f.status != "present" or f.abnormality not in keep:
                continue
            if level == "abnormality":
                pred.setdefault(f.abnormality, set()).add(sid)
            elif f.location:
                pred.setdefault(f"{f.abnormality}{LOCATION_SEP}{f.location}", set()).add(sid)
    return pred


def label_noise(
    table: pd.DataFrame,
    findings: Sequence[Sequence[Finding]],
    abnormalities: Sequence[str] = ABNORMALITIES,
) -> LabelNoise:
    """Labeler precision / recall / F1 against the cohort's true findings, per abnormality.

    A finding counts as labelled when the report calls it present; uncertain mentions count as
    not labelled (they are masked in training) and are tallied in ``n_uncertain``.
    """
    if "true_findings" not in table:
        raise DataError("cohort table has no 'true_findings' column; label noise needs the truth")
    keep = set(abnormalities)
    by_abn: EvalResult = score_sets(
        {a: s for a, s in _true_sets(table, "abnormality").items() if a in keep}
        | {a: set() for a in abnormalities if a not in _true_sets(table, "abnormality")},
        _pred_sets(table, findings, "abnormality", keep),
    )
    by_loc = score_sets(
        {
            k: s
            for k, s in _true_sets(table, "location").items()
            if k.split(LOCATION_SEP)[0] in keep
        },
        _pred_sets(table, findings, "location", keep),
    )
    rows = []
    scores = {s.label: s for s in by_abn.labels}
    for abn in abnormalities:
        s = scores[abn]
        unc = sum(
            any(f.abnormality == abn and f.status == "uncertain" for f in _reporting(fs))
            and not any(f.abnormality == abn and f.status == "present" for f in _reporting(fs))
            for fs in findings
        )
        rows.append(
            {
                "abnormality": abn,
                "tp": s.tp,
                "fp": s.fp,
                "fn": s.fn,
                "support": s.support,
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
                "f1": round(s.f1, 4),
                "n_uncertain": unc,
            }
        )
    return LabelNoise(
        pd.DataFrame(rows),
        round(by_abn.micro_f1, 4),
        round(by_abn.macro_f1, 4),
        round(by_loc.micro_f1, 4),
        round(by_loc.macro_f1, 4),
    )


def _windows(windows: Sequence[Window] | Window) -> list[tuple[float, float]]:
    items = (
        [windows]
        if windows is None
        or isinstance(windows, str)
        or (
            isinstance(windows, tuple)
            and len(windows) == 2
            and not isinstance(windows[0], (str, tuple))
        )
        else list(windows)
    )
    out = [resolve_window(w) for w in items]
    if not out or any(w is None for w in out):
        raise ConfigError(f"windows {windows!r}: expected HU windows (a preset name or (lo, hi))")
    return out  # type: ignore[return-value]


def _source_path(row: pd.Series, source: str) -> str:
    column = {"nifti": "nifti_path", "dicom": "dicom_dir", "npz": "npz_path"}[source]
    path = str(row.get(column, "") or "")
    if not path:
        raise DataError(
            f"cohort row {row.get('study_id', '?')}: no {column} (source {source!r}); "
            f"synthesize the cohort with that format or choose another source of {SOURCES}"
        )
    return path


def _load_npz(path: str, spacing: tuple[float, float, float], shape: tuple[int, int, int]):
    from radlens.data.volumes.preprocess import preprocess_volume
    from radlens.data.volumes.volume import Volume

    with np.load(path) as data:
        hu = data["hu"].astype(np.float32)
        vol = Volume(
            hu,
            tuple(float(v) for v in data["spacing"]),
            tuple(float(v) for v in data["origin"]),
            np.eye(3),
            {"modality": "CT"},
        )
    return preprocess_volume(vol, target_spacing=spacing, shape=shape)


def load_volumes(
    paths: Sequence[str],
    *,
    shape: tuple[int, int, int],
    windows: Sequence[tuple[float, float]],
    spacing: tuple[float, float, float],
    cache_dir: str | Path,
    source: str = "nifti",
    progress: bool = True,
) -> np.ndarray:
    """(N, C, D, H, W) uint8: each volume resampled to `spacing`, crop/padded to `shape`
    (cached as HU), then one channel per HU window scaled to 0..255."""
    from radlens.data.volumes.preprocess import VolumeCache

    cache = VolumeCache(cache_dir)
    out = np.zeros((len(paths), len(windows), *shape), dtype=np.uint8)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        job = bar.add_task("loading CT volumes", total=len(paths))
        for i, path in enumerate(paths):
            if source == "npz":
                hu = _load_npz(path, spacing, shape)[0]
            else:
                hu = cache.get(path, target_spacing=spacing, shape=shape)[0]
            for c, (lo, hi) in enumerate(windows):
                scaled = np.clip((hu - lo) / (hi - lo), 0.0, 1.0)
                out[i, c] = np.round(scaled * 255.0).astype(np.uint8)
            bar.advance(job)
    logger.info("volumes: %d loaded, cache hits %d misses %d", len(paths), cache.hits, cache.misses)
    return out


def load_ct_cohort(
    cohort: str | Path | pd.DataFrame,
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    shape: Sequence[int] = (32, 64, 64),
    windows: Sequence[Window] | Window = CT_WINDOWS,
    target_spacing: Sequence[float] | None = None,
    source: str = "nifti",
    cache_dir: str | Path | None = None,
    min_location_positives: int = 5,
    vocab: str = "chest_ct",
    name: str = "chest_ct_cohort",
    progress: bool = True,
) -> CtCohort:
    """Label the reports, split by patient, load the volumes: a multi-label `ArrayDataset`.

    Args:
        cohort: a cohort folder / cohort.parquet / cohort.csv (or the table, paths absolute).
        shape: (D, H, W) of every volume; target_spacing: (z, y, x) mm, default the phantom field
            of view divided by `shape` (the whole chest resized to `shape`).
        windows: one channel per HU window (a preset name of `radlens.data.volumes.preprocess.WINDOWS`
            or (lo, hi)); default one -1000..400 HU channel.
        source: read "nifti" (default), "dicom" or "npz" volumes.
        cache_dir: disk cache of preprocessed volumes (default: a temporary folder).
    ``extra`` holds per split: "site", "mask_path", "true_labels" (N, 12; truth, for label-noise
    and localization studies only) and "spacing" (z, y, x) mm of the arrays.
    """
    if source not in SOURCES:
        raise ConfigError(f"source {source!r} unknown; expected one of {SOURCES}")
    table = read_cohort(cohort) if not isinstance(cohort, pd.DataFrame) else cohort.copy()
    for col in ("patient_id", "study_id", "report_text"):
        if col not in table:
            raise DataError(f"cohort table has no {col!r} column; expected a radlens cohort")
    if table.empty:
        raise DataError("cohort table is empty; expected at least one study")
    shape3 = tuple(int(v) for v in shape)
    if len(shape3) != 3 or min(shape3) < 8:
        raise ConfigError(f"shape {tuple(shape)!r}: expected three sizes (D, H, W), each >= 8")
    spacing = (
        tuple(float(v) for v in target_spacing)
        if target_spacing is not None
        else tuple(FOV_MM[i] / shape3[i] for i in range(3))
    )
    wins = _windows(windows)

    findings = label_many([str(t) for t in table["report_text"]], vocab=vocab)
    split_of = assign_splits(table["patient_id"], seed=seed, fractions=fractions)
    table["split"] = [split_of[str(p).strip()] for p in table["patient_id"]]
    train_rows = np.flatnonzero(table["split"].to_numpy() == "train")
    names, labels = cohort_labels(
        findings, train_rows=train_rows, min_location_positives=min_location_positives
    )
    noise = label_noise(table, findings) if "true_findings" in table else None

    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="radlens-"))
    paths = [_source_path(row, source) for _, row in table.iterrows()]
    images = load_volumes(
        paths,
        shape=shape3,
        windows=wins,
        spacing=spacing,
        cache_dir=cache,
        source=source,
        progress=progress,
    )
    truth_cols = [TRUTH_PREFIX + a for a in ABNORMALITIES]
    truth = (
        table[truth_cols].to_numpy(np.float32)
        if all(c in table for c in truth_cols)
        else np.full((len(table), len(ABNORMALITIES)), np.nan, np.float32)
    )
    splits = [s for s in SPLITS if (table["split"] == s).any()]
    sel = {s: np.flatnonzero(table["split"].to_numpy() == s) for s in splits}

    def col(name: str) -> np.ndarray:
        return table[name].astype(str).to_numpy() if name in table else np.array([""] * len(table))

    ds = ArrayDataset(
        name=name,
        task="multi-label",
        label_names=names,
        images={s: images[i] for s, i in sel.items()},
        labels={s: labels[i] for s, i in sel.items()},
        ids={s: col("study_id")[i] for s, i in sel.items()},
        patient_ids={s: col("patient_id")[i] for s, i in sel.items()},
        n_channels=len(wins),
        spatial_dims=3,
        official=False,
        source="synthetic chest-CT cohort; labels from the report labeler",
        extra={
            "site": {s: col("site")[i] for s, i in sel.items()},
            "mask_path": {s: col("mask_path")[i] for s, i in sel.items()},
            "true_labels": {s: truth[i] for s, i in sel.items()},
            "truth_names": tuple(ABNORMALITIES),
            "spacing": spacing,
            "windows": [list(w) for w in wins],
            "row_index": {s: i for s, i in sel.items()},
        },
    )
    check_dataset_leakage(ds)
    logger.info(
        "cohort: %d studies, %d labels, splits %s",
        len(table),
        len(names),
        {s: len(i) for s, i in sel.items()},
    )
    return CtCohort(ds, table, findings, noise)
