"""A chest-CT cohort table -> `ArrayDataset`: labels from the reports, volumes from the images.

Labels come from running the report labeler over each study's ``report_text`` (never from the true
findings): `radlens.reports.tables.cohort_labels`, per abnormality 1 when the report calls it
present, NaN when it is only uncertain (masked in the loss and metrics), 0 when absent or not
mentioned, plus one label per abnormality@location reported often enough in the training split.
The label space is the vocabulary's abnormalities the cohort is labelled for: those the table
declares with ``true:<id>`` columns (a synthetic cohort), else those some training report calls
present, or the ones given. The true findings only measure the label noise
(`radlens.reports.label_noise`).

Splits are by patient (`radlens.data.splits.assign_splits`) and audited for leakage. Volumes are
loaded, resampled to one spacing (default: the cohort's field of view fitted to the shape),
centre crop/padded and windowed by `radlens.data.ct_volumes`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radlens.core import look_up_option, suggest
from radlens.data.arrays import SPLITS, ArrayDataset
from radlens.data.cohort_table import TRUTH_PREFIX, read_cohort, truth_names
from radlens.data.ct_volumes import (
    SOURCES,
    cohort_spacing,
    load_volumes,
    source_paths,
    study_extents,
)
from radlens.data.splits import assign_splits, check_dataset_leakage
from radlens.data.volumes import CROP, ORIENTATION, Window, resolve_window
from radlens.errors import ConfigError, DataError
from radlens.reports import (
    Finding,
    LabelNoise,
    cohort_labels,
    label_many,
    load_vocabulary,
    measure_label_noise,
    reporting,
)

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

__all__ = [
    "CHEST_WINDOW",
    "CT_WINDOWS",
    "DEMO_WINDOWS",
    "SOURCES",
    "CtCohort",
    "cohort_abnormalities",
    "load_ct_cohort",
]


@dataclass
class CtCohort:
    """The dataset, the labeler's findings per row (table order) and its measured noise."""

    dataset: ArrayDataset
    table: pd.DataFrame  # the cohort table with a "split" column
    findings: list[list[Finding]]
    noise: LabelNoise | None


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


def _read_table(cohort: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The cohort table (a copy), checked for the columns the loader needs."""
    table = read_cohort(cohort) if not isinstance(cohort, pd.DataFrame) else cohort.copy()
    for col in ("patient_id", "study_id", "report_text"):
        if col not in table:
            raise DataError(f"cohort table has no {col!r} column; expected a radlens cohort")
    if table.empty:
        raise DataError("cohort table is empty; expected at least one study")
    return table


def _shape(shape: Sequence[int]) -> tuple[int, int, int]:
    shape3 = tuple(int(v) for v in shape)
    if len(shape3) != 3 or min(shape3) < 8:
        raise ConfigError(f"shape {tuple(shape)!r}: expected three sizes (D, H, W), each >= 8")
    return shape3  # type: ignore[return-value]


def cohort_abnormalities(
    table: pd.DataFrame,
    findings: Sequence[Sequence[Finding]],
    train_rows: np.ndarray,
    vocab: str = "chest_ct",
    given: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """The abnormalities a cohort is labelled for: `given`, else those its table declares with
    ``true:<id>`` columns, else the vocabulary's abnormalities some training report calls present
    (in vocabulary order). Each must be an abnormality of the vocabulary."""
    known = load_vocabulary(vocab).abnormalities
    chosen = tuple(given) if given is not None else truth_names(table)
    if chosen:
        for name in chosen:
            where = "" if given is not None else f"cohort column '{TRUTH_PREFIX}{name}': "
            what = f"{where}abnormality (vocabulary {vocab!r})"
            look_up_option(name, known, what=what, error=DataError)
        return chosen
    present = {
        f.abnormality for i in train_rows for f in reporting(findings[i]) if f.status == "present"
    }
    found = tuple(a for a in known if a in present)
    if not found:
        raise DataError(
            f"no training report of the cohort calls an abnormality of vocabulary {vocab!r} "
            "present; expected chest-CT reports (or pass abnormalities=)"
        )
    return found


def _dataset(
    name: str,
    table: pd.DataFrame,
    labels: tuple[tuple[str, ...], np.ndarray],
    images: np.ndarray,
    extra: dict,
    extents: np.ndarray,
) -> ArrayDataset:
    """The multi-label `ArrayDataset` of the cohort, its arrays split by the "split" column."""
    splits = [s for s in SPLITS if (table["split"] == s).any()]
    sel = {s: np.flatnonzero(table["split"].to_numpy() == s) for s in splits}
    truth_cols = [TRUTH_PREFIX + a for a in extra["truth_names"]]
    truth = table[truth_cols].to_numpy(np.float32)

    def col(column: str) -> np.ndarray:
        if column not in table:
            return np.array([""] * len(table))
        return table[column].astype(str).to_numpy()

    per_split = {
        "site": col("site"),
        "mask_path": col("mask_path"),
        "true_labels": truth,
        "row_index": np.arange(len(table)),
        "fov_mm": extents,
    }
    return ArrayDataset(
        name=name,
        task="multi-label",
        label_names=labels[0],
        images={s: images[i] for s, i in sel.items()},
        labels={s: labels[1][i] for s, i in sel.items()},
        ids={s: col("study_id")[i] for s, i in sel.items()},
        patient_ids={s: col("patient_id")[i] for s, i in sel.items()},
        n_channels=images.shape[1],
        spatial_dims=3,
        official=False,
        source=("synthetic" if "true_findings" in table else "imported")
        + " chest-CT cohort; labels from the report labeler",
        extra={**extra, **{k: {s: v[i] for s, i in sel.items()} for k, v in per_split.items()}},
    )


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
    abnormalities: Sequence[str] | None = None,
    name: str = "chest_ct_cohort",
    progress: bool = True,
) -> CtCohort:
    """Label the reports, split by patient, load the volumes: a multi-label `ArrayDataset`.

    cohort: a cohort folder / cohort.parquet / cohort.csv (or the table, paths absolute).
    shape: (D, H, W) of every volume; target_spacing: (z, y, x) mm, default the cohort's field of
    view fitted to `shape` (`radlens.data.ct_volumes`). windows: one channel per HU window (a
    preset name of `radlens.data.volumes.preprocess.WINDOWS` or (lo, hi)). source: "nifti",
    "dicom" or "npz" volumes. cache_dir: disk cache of preprocessed volumes (default: a temporary
    folder). abnormalities: the label space (default: `cohort_abnormalities`).
    ``extra`` holds how the arrays were made ("spacing", "shape", "windows", "orientation",
    "crop"), "truth_names" and per split "site", "mask_path", "row_index", "true_labels" (the
    ``true:<id>`` columns: for label-noise and localization studies only) and "fov_mm" (N, 3):
    each study's own (z, y, x) mm extent, read from the headers, which its masks span.
    """
    if source not in SOURCES:
        hint = suggest(source, SOURCES)
        raise ConfigError(f"source {source!r} unknown; expected one of {SOURCES}{hint}")
    table, shape3, wins = _read_table(cohort), _shape(shape), _windows(windows)

    findings = label_many([str(t) for t in table["report_text"]], vocab=vocab)
    if "split" in table and table["split"].astype(str).isin(SPLITS).all():
        table["split"] = table["split"].astype(str)  # fixed by the cohort (`cohort import`)
    else:
        split_of = assign_splits(table["patient_id"], seed=seed, fractions=fractions)
        table["split"] = [split_of[str(p).strip()] for p in table["patient_id"]]
    train_rows = np.flatnonzero(table["split"].to_numpy() == "train")
    abns = cohort_abnormalities(table, findings, train_rows, vocab, abnormalities)
    labels = cohort_labels(
        findings, abnormalities=abns, train_rows=train_rows,
        min_location_positives=min_location_positives,
    )  # fmt: skip
    noise = measure_label_noise(table, findings, abns) if "true_findings" in table else None

    paths = source_paths(table, source)
    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="radlens-"))
    extents = study_extents(paths, source, cache)
    spacing = (
        tuple(float(v) for v in target_spacing)
        if target_spacing is not None
        else cohort_spacing(extents, shape3)
    )
    images = load_volumes(
        paths, shape=shape3, windows=wins, spacing=spacing, cache_dir=cache, source=source,
        progress=progress,
    )  # fmt: skip
    extra = {
        "truth_names": truth_names(table),
        "spacing": spacing,
        "shape": shape3,
        "windows": [list(w) for w in wins],
        "orientation": ORIENTATION,
        "crop": CROP,
    }
    ds = _dataset(name, table, labels, images, extra, extents)
    check_dataset_leakage(ds)
    logger.info("cohort: %d studies, %d labels, splits %s", len(table), len(labels[0]),
                {s: ds.size(s) for s in ds.splits})  # fmt: skip
    return CtCohort(ds, table, findings, noise)
