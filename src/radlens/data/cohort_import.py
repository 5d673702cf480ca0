"""Bring your own cohort: a studies table (DICOM folders or NIfTI files + report text) -> a
radlens cohort folder that `radlens train --cohort` reads as it reads a synthetic one.

Per row of the studies table: the series is chosen (`radlens.data.series_choice`), read in HU,
checked for fitness (`radlens.data.volumes.fitness`) and written as NIfTI under
``volumes/``; the reports are labelled by the report labeler with the chosen vocabulary (the label
space is the vocabulary's); splits are by patient (a split column, else
`radlens.data.splits.assign_splits`). Every problem of every row is collected; they are reported
together (row number, study, reason) unless `skip_bad`, which leaves those rows out and lists them
in ``excluded.csv``. Output (see ``docs/cohort_schema.md``): ``cohort.parquet`` + ``cohort.csv``
(`radlens.data.cohort_schema.CohortRow`), ``cohort.json`` (`CohortManifest`, with
``schema_version``), ``volumes/``, ``excluded.csv`` and the preprocessed-volume cache ``cache/``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radlens.core import atomic_write_json, look_up_option
from radlens.data.cohort_schema import MANIFEST_NAME, CohortManifest, validate_cohort_rows
from radlens.data.ct_volumes import cohort_spacing, study_extents
from radlens.data.series_choice import choose_series
from radlens.data.splits import SPLIT_NAMES, assign_splits
from radlens.data.volumes import (
    DEFAULT_FITNESS,
    FitnessRules,
    Volume,
    VolumeCache,
    fitness_problems,
    load_volume,
    write_nifti,
)
from radlens.errors import DataError
from radlens.reports import label_many, load_vocabulary, reporting

__all__ = ["ImportColumns", "ImportResult", "RowProblem", "import_cohort"]

logger = logging.getLogger(__name__)

VOLUMES_DIR = "volumes"
CACHE_DIR = "cache"
EXCLUDED_NAME = "excluded.csv"


@dataclass(frozen=True)
class ImportColumns:
    """Which column of the studies table holds what (None: not given)."""

    patient: str
    report: str
    dicom: str | None = None
    nifti: str | None = None
    study: str | None = None
    site: str | None = None
    split: str | None = None
    series: str | None = None

    def named(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v}


@dataclass(frozen=True)
class RowProblem:
    """Why one row of the studies table was not imported; `row` counts data rows from 1 (the
    CSV line is row + 1); several reasons are joined by " | "."""

    row: int
    study_id: str
    reason: str

    def line(self) -> str:
        return f"row {self.row} (study {self.study_id or '?'}): {self.reason}"


@dataclass
class ImportResult:
    """The imported cohort: its table, the excluded rows, the label counts, the manifest."""

    out: Path
    table: pd.DataFrame
    excluded: list[RowProblem]
    manifest: CohortManifest

    def summary(self) -> list[str]:
        """What `radlens cohort import` prints."""
        m = self.manifest
        splits = ", ".join(f"{k} {v}" for k, v in m.splits.items())
        lines = [
            f"{m.n_patients} patients, {m.n_studies} studies ({splits}) -> "
            f"{self.out / 'cohort.parquet'}",
            f"labels ({m.vocab}, studies where the report calls it present):",
        ]
        for name, count in m.label_counts.items():
            if count:
                lines.append(f"  {name:<30} {count:>5}  {count / max(m.n_studies, 1):6.1%}")
        if not any(m.label_counts.values()):
            lines.append("  none: no report calls an abnormality of the vocabulary present")
        if self.excluded:
            lines.append(f"excluded {len(self.excluded)} studies ({self.out / EXCLUDED_NAME}):")
            lines.extend(f"  {p.line()}" for p in self.excluded)
        return lines


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _read_studies(path: Path, columns: ImportColumns) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such studies table (expected a CSV with one row per study)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable CSV ({type(exc).__name__}: {exc})") from exc
    if not (columns.dicom or columns.nifti):
        raise DataError("no image column: pass --dicom-column and/or --nifti-column")
    for role, name in columns.named().items():
        look_up_option(name, table.columns, what=f"{path}: --{role}-column", error=DataError)
    if table.empty:
        raise DataError(f"{path}: no rows; expected one row per study")
    return table


#: Columns copied unchanged into the cohort table when present: follow-up for the survival task
#: (`radlens train --task survival`) and its usual covariates.
PASSTHROUGH_COLUMNS = ("time", "event", "age", "sex")


def _cell(record: dict, column: str | None) -> str:
    return str(record.get(column, "") or "").strip() if column else ""


def _image_path(record: dict, columns: ImportColumns, base: Path) -> Path:
    text = _cell(record, columns.nifti) or _cell(record, columns.dicom)
    if not text:
        names = " or ".join(c for c in (columns.nifti, columns.dicom) if c)
        raise DataError(f"no image path in column {names}")
    path = Path(text).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return path


def _is_nifti(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith((".nii", ".nii.gz"))


def _load_row(path: Path, series_uid: str, rules: FitnessRules) -> tuple[Volume, str, list[str]]:
    """(volume, series_uid, fitness problems) of one study's image."""
    if _is_nifti(path):  # NIfTI has no modality: the HU checks stand in for it
        volume = load_volume(path)
        nifti_rules = dataclasses.replace(rules, allow_missing_modality=True)
        return volume, "", fitness_problems(volume, nifti_rules)
    uid = series_uid
    if path.is_dir():
        uid = choose_series(path, series_uid or None, rules).series_uid
    volume = load_volume(path, series_uid=uid or None, allow_non_ct=True)
    return volume, str(volume.metadata.get("series_uid", "")), fitness_problems(volume, rules)


@dataclass
class _Context:
    columns: ImportColumns
    rules: FitnessRules
    base: Path
    out: Path
    seen: dict[str, int]
    written: set[Path] = field(default_factory=set)


def _import_row(
    n: int, record: dict, ctx: _Context
) -> tuple[dict[str, object] | None, RowProblem | None]:
    """The cohort-table row of one study, or why it cannot be imported."""
    cols = ctx.columns
    study = _cell(record, cols.study) or f"row{n}"
    problems = []
    patient = _cell(record, cols.patient)
    if not patient:
        problems.append(f"empty patient id (column {cols.patient})")
    report = _cell(record, cols.report)
    if not report:
        problems.append(f"empty report (column {cols.report})")
    split = _cell(record, cols.split).lower()
    if cols.split and split not in SPLIT_NAMES:
        problems.append(f"split {split!r} (column {cols.split}); expected one of {SPLIT_NAMES}")
    if study in ctx.seen:
        problems.append(f"study id {study} repeats row {ctx.seen[study]}")
    ctx.seen.setdefault(study, n)
    try:
        path = _image_path(record, cols, ctx.base)
        volume, uid, unfit = _load_row(path, _cell(record, cols.series), ctx.rules)
        problems.extend(unfit)
    except DataError as exc:
        problems.append(str(exc))
    if problems:
        return None, RowProblem(n, study, " | ".join(problems))
    target = Path(VOLUMES_DIR) / _safe(patient) / f"{_safe(study)}.nii.gz"
    if target in ctx.written:  # two study ids with one file-safe name
        target = target.with_name(f"{_safe(study)}_row{n}.nii.gz")
    ctx.written.add(target)
    write_nifti(volume, ctx.out / target)
    row = {
        "patient_id": patient, "study_id": study, "report_text": report,
        "nifti_path": target.as_posix(), "dicom_dir": "" if _is_nifti(path) else str(path),
        "series_uid": uid, "site": _cell(record, cols.site), "split": split, "source_row": n,
    }  # fmt: skip
    row.update({c: record[c] for c in PASSTHROUGH_COLUMNS if c in record})
    return row, None


def _splits(table: pd.DataFrame, given: bool, seed: int, fractions: Sequence[float]) -> str:
    """Fill the split column (by patient); DataError naming a patient found in two splits."""
    if given:
        per_patient = table.groupby("patient_id")["split"].unique()
        mixed = {p: sorted(s) for p, s in per_patient.items() if len(s) > 1}
        if mixed:
            shown = "; ".join(f"{p}: {', '.join(s)}" for p, s in list(mixed.items())[:10])
            raise DataError(
                f"{len(mixed)} patient(s) in more than one split of the split column (a patient "
                f"leaks between splits): {shown}"
            )
        return "column"
    split_of = assign_splits(table["patient_id"], seed=seed, fractions=fractions)
    table["split"] = [split_of[p] for p in table["patient_id"]]
    return f"assign_splits(seed={seed}, fractions={list(fractions)})"


def _label_counts(table: pd.DataFrame, vocab: str) -> dict[str, int]:
    """Per abnormality of the vocabulary: studies whose report calls it present."""
    findings = label_many(list(table["report_text"]), vocab=vocab)
    counts = dict.fromkeys(load_vocabulary(vocab).abnormalities, 0)
    for study in findings:
        for name in {f.abnormality for f in reporting(study) if f.status == "present"}:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _fill_cache(out: Path, table: pd.DataFrame, shape: Sequence[int]) -> list[float]:
    """Pre-compute what `load_ct_cohort(out, shape=shape)` reads from its volume cache (default
    spacing); returns that spacing."""
    cache_dir = out / CACHE_DIR
    paths = [str(out / p) for p in table["nifti_path"]]
    extents = study_extents(paths, "nifti", cache_dir)
    spacing = cohort_spacing(extents, shape)
    cache = VolumeCache(cache_dir)
    for path in paths:
        cache.get(path, target_spacing=spacing, shape=shape)
    return [float(v) for v in spacing]


def _write(out: Path, table: pd.DataFrame, excluded: list[RowProblem]) -> None:
    problems = validate_cohort_rows(table)
    if problems:  # a bug here, not bad input: the rows were built from checked values
        raise DataError("imported rows do not fit the cohort schema: " + "; ".join(problems))
    table.to_parquet(out / "cohort.parquet", index=False)
    table.to_csv(out / "cohort.csv", index=False)
    if excluded:
        frame = pd.DataFrame([dataclasses.asdict(p) for p in excluded])
        frame.to_csv(out / EXCLUDED_NAME, index=False)
    elif (out / EXCLUDED_NAME).exists():
        (out / EXCLUDED_NAME).unlink()


def import_cohort(
    studies: str | Path,
    out: str | Path,
    columns: ImportColumns,
    *,
    vocab: str = "chest_ct",
    rules: FitnessRules = DEFAULT_FITNESS,
    skip_bad: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    cache_shape: Sequence[int] | None = None,
) -> ImportResult:
    """Import a studies table into the cohort folder `out` (see the module docstring).

    Paths in the table are relative to its folder. `cache_shape` (D, H, W): pre-fill the volume
    cache for training at that shape with the default spacing (None: no cache). DataError listing
    every bad row (unless `skip_bad`), or when no row is left.
    """
    studies, out = Path(studies), Path(out)
    table_in = _read_studies(studies, columns)
    load_vocabulary(vocab)  # an unknown vocabulary fails before any volume is read
    out.mkdir(parents=True, exist_ok=True)
    ctx = _Context(columns, rules, studies.parent, out, {})
    rows, excluded = [], []
    for n, record in enumerate(table_in.to_dict(orient="records"), start=1):
        row, problem = _import_row(n, record, ctx)
        if problem is not None:
            excluded.append(problem)
        else:
            rows.append(row)
    if excluded and not skip_bad:
        listing = "\n".join(f"  {p.line()}" for p in excluded)
        raise DataError(
            f"{studies}: {len(excluded)} of {len(table_in)} rows cannot be imported (fix them, or "
            f"pass --skip-bad to leave them out and list them in {EXCLUDED_NAME}):\n{listing}"
        )
    if not rows:
        raise DataError(f"{studies}: no row could be imported; every row is listed in the error")
    table = pd.DataFrame(rows)
    split_source = _splits(table, bool(columns.split), seed, fractions)
    counts = _label_counts(table, vocab)
    manifest = CohortManifest(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source_table=str(studies.resolve()),
        columns=columns.named(),
        vocab=vocab,
        fitness_rules=rules.as_dict(),
        split_source=split_source,
        n_patients=int(table["patient_id"].nunique()),
        n_studies=len(table),
        n_excluded=len(excluded),
        splits={s: int((table["split"] == s).sum()) for s in SPLIT_NAMES},
        label_counts=counts,
    )
    _write(out, table, excluded)
    if cache_shape is not None:
        manifest.cache_spacing = _fill_cache(out, table, cache_shape)
        manifest.cache_shape = [int(v) for v in cache_shape]
        manifest.volume_cache = CACHE_DIR
    atomic_write_json(out / MANIFEST_NAME, manifest.model_dump())
    logger.info("imported %d studies (%d excluded) into %s", len(table), len(excluded), out)
    return ImportResult(out, table, excluded, manifest)
