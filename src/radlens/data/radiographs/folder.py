"""A folder of images + a CSV of per-image labels -> an `ArrayDataset` split by patient.

Used by `radlens train --images DIR --labels labels.csv --patient-column PID`. Decoding, display
normalisation, resizing and caching are `radlens.data.radiographs.decode.load_radiograph`; label
parsing and task inference are `radlens.data.radiographs.labels.parse_labels`; splitting and the
leakage check are `radlens.data.splits`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from radlens.core import suggest
from radlens.data.arrays import SPLITS, ArrayDataset
from radlens.data.radiographs.decode import Fit, load_radiograph
from radlens.data.radiographs.labels import parse_labels
from radlens.data.splits import assign_splits, check_no_patient_leakage
from radlens.errors import DataError


def _read_table(labels_csv: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise DataError(f"labels file {labels_csv} does not exist") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"labels file {labels_csv} is not a readable CSV: {exc}") from exc
    if frame.empty:
        raise DataError(f"labels file {labels_csv} has no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _need_column(frame: pd.DataFrame, column: str, option: str, where: Path) -> None:
    if column in frame.columns:
        return
    hint = suggest(column, frame.columns, cutoff=0.5)
    raise DataError(
        f"labels file {where}: no column {column!r} ({option}){hint} "
        f"(columns: {', '.join(frame.columns)})"
    )


def _row_splits(
    frame: pd.DataFrame,
    patients: list[str],
    split_column: str | None,
    seed: int,
    fractions: Sequence[float],
    where: Path,
) -> list[str]:
    if split_column is None:
        mapping = assign_splits(patients, seed=seed, fractions=fractions)
        return [mapping[p] for p in patients]
    splits = [s.strip().lower() for s in frame[split_column].astype(str)]
    bad = sorted({s for s in splits if s not in SPLITS})
    if bad:
        raise DataError(
            f"labels file {where}: column {split_column!r} has {bad[:5]}; expected train/val/test"
        )
    return splits


def _image_names(frame: pd.DataFrame, image_column: str, where: Path) -> list[str]:
    """The image of every row: none empty, none listed twice."""
    names = [v.strip() for v in frame[image_column].astype(str)]
    blank_images = [i for i, v in enumerate(names) if not v]
    if blank_images:
        raise DataError(f"labels file {where}: empty {image_column!r} on line(s) "
                        f"{', '.join(str(i + 2) for i in blank_images[:10])}")  # fmt: skip
    dup = sorted({v for v in names if names.count(v) > 1}) if len(set(names)) < len(names) else []
    if dup:
        raise DataError(
            f"labels file {where}: {len(dup)} image(s) listed more than once, e.g. "
            f"{', '.join(dup[:5])}; give each image one row (multi-label: several columns)"
        )
    return names


def _patient_ids(frame: pd.DataFrame, patient_column: str, where: Path) -> list[str]:
    """The patient of every row: none empty."""
    patients = [p.strip() for p in frame[patient_column].astype(str)]
    blank = [i + 2 for i, p in enumerate(patients) if not p]
    if blank:
        raise DataError(f"labels file {where}: empty patient id ({patient_column!r}) on "
                        f"line(s) {', '.join(map(str, blank[:10]))}")  # fmt: skip
    return patients


def _check_filled(
    splits: list[str], patients: list[str], fractions: Sequence[float], seed: int, where: Path
) -> None:
    """DataError when a split with a positive fraction got no patient."""
    for split, fraction in zip(SPLITS, fractions, strict=True):
        if fraction > 0 and split not in splits:
            raise DataError(
                f"{where}: split {split!r} got no patients ({len(set(patients))} patients, "
                f"fractions {tuple(fractions)}, seed {seed}); add patients or change the seed"
            )


def _split_arrays(
    rows: dict[str, list],
    labels: np.ndarray,
    arrays: list[np.ndarray],
    sites: np.ndarray | None,
    image_shape: tuple[int, ...],
) -> dict[str, dict[str, np.ndarray]]:
    """Per split: "images", "labels", "ids", "pids" (and "site" when `sites` is given)."""
    split_arr = np.array(rows["splits"])
    out: dict[str, dict[str, np.ndarray]] = {k: {} for k in ("images", "labels", "ids", "pids")}
    for split in SPLITS:
        idx = np.flatnonzero(split_arr == split)
        empty = np.zeros((0, *image_shape), np.uint8)
        out["images"][split] = np.stack([arrays[i] for i in idx]) if len(idx) else empty
        out["labels"][split] = labels[idx]
        out["ids"][split] = np.array([rows["names"][i] for i in idx], dtype=str)
        out["pids"][split] = np.array([rows["patients"][i] for i in idx], dtype=str)
        if sites is not None:
            out.setdefault("site", {})[split] = sites[idx].astype(str)
    return out


def load_image_folder(
    images_dir: str | Path,
    labels_csv: str | Path,
    *,
    image_column: str = "image",
    patient_column: str,
    label_columns: Sequence[str] | None = None,
    task: str | None = None,
    size: int = 224,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    cache_dir: str | Path | None = None,
    fit: Fit = "pad",
    channels: int = 1,
    site_column: str | None = None,
    split_column: str | None = None,
    name: str | None = None,
    label_values: Sequence[str] | None = None,
) -> ArrayDataset:
    """Images under `images_dir` + a CSV of per-image labels -> an `ArrayDataset`.

    The CSV names each image (path relative to `images_dir`, or absolute) in `image_column` and
    its patient in `patient_column`. Label columns default to every other column (minus the
    site / split columns); the task is inferred unless given (`radlens.data.radiographs.labels`)
    and `label_values` declares a single label column's classes (others are an error).
    Patients are split by `assign_splits(seed, fractions)` (or taken from `split_column`) and
    leakage is checked. Images are decoded, normalised and resized (`load_radiograph`), cached.
    Every missing or unreadable image is reported together in one DataError.
    """
    images_dir, labels_csv = Path(images_dir), Path(labels_csv)
    if not images_dir.is_dir():
        raise DataError(f"images folder {images_dir} does not exist or is not a folder")
    frame = _read_table(labels_csv)
    _need_column(frame, image_column, "--image-column", labels_csv)
    _need_column(frame, patient_column, "--patient-column", labels_csv)
    meta = [image_column, patient_column]
    for column, option in ((site_column, "--site-column"), (split_column, "--split-column")):
        if column is not None:
            _need_column(frame, column, option, labels_csv)
            meta.append(column)
    if label_columns is None:
        label_columns = [c for c in frame.columns if c not in meta]
    names = _image_names(frame, image_column, labels_csv)
    patients = _patient_ids(frame, patient_column, labels_csv)
    task_name, label_names, labels = parse_labels(
        frame, list(label_columns), task=task, where=f"labels file {labels_csv}",
        label_values=label_values,
    )  # fmt: skip
    splits = _row_splits(frame, patients, split_column, seed, fractions, labels_csv)
    check_no_patient_leakage(splits, patients)
    arrays = _load_all(images_dir, names, size, fit, channels, cache_dir, labels_csv)
    if split_column is None:
        _check_filled(splits, patients, fractions, seed, labels_csv)
    out = _split_arrays(
        {"names": names, "patients": patients, "splits": splits},
        labels,
        arrays,
        frame[site_column].astype(str).to_numpy() if site_column is not None else None,
        (size, size) if channels == 1 else (size, size, 3),
    )
    return ArrayDataset(
        name=name or images_dir.name,
        task=task_name,  # type: ignore[arg-type]
        label_names=label_names,
        images=out["images"],
        labels=out["labels"],
        ids=out["ids"],
        patient_ids=out["pids"],
        n_channels=channels,
        spatial_dims=2,
        official=False,  # user data: no official release to check it against
        source=str(images_dir),
        extra={"size": size, "fit": fit, "labels_csv": str(labels_csv), "seed": seed,
               "fractions": tuple(fractions), **user_data_note(images_dir, names, labels_csv),
               **({"site": out["site"]} if "site" in out else {})},
    )  # fmt: skip


def user_data_note(images_dir: Path, names: Sequence[str], labels_csv: Path) -> dict[str, str]:
    """What a run on a user's folder says about its data: {"data_note": "user data: <folder>
    (N files, fingerprint sha256:<16 hex>)", "data_fingerprint": <64 hex>}. The fingerprint is a
    sha256 over the sorted image paths (as the CSV names them) with their sizes in bytes, and the
    labels file's name and bytes: the same files give the same fingerprint on any machine."""
    digest = hashlib.sha256()
    for rel in sorted(names):
        path = Path(rel) if Path(rel).is_absolute() else images_dir / rel
        digest.update(f"{rel}\t{path.stat().st_size}\n".encode())
    digest.update(f"{labels_csv.name}\n".encode() + labels_csv.read_bytes())
    fingerprint = digest.hexdigest()
    note = f"user data: {images_dir} ({len(names)} files, fingerprint sha256:{fingerprint[:16]})"
    return {"data_note": note, "data_fingerprint": fingerprint}


def _load_all(
    images_dir: Path,
    names: list[str],
    size: int,
    fit: Fit,
    channels: int,
    cache_dir: str | Path | None,
    labels_csv: Path,
) -> list[np.ndarray]:
    problems: list[str] = []
    arrays: list[np.ndarray] = []
    with Progress(
        TextColumn("[bold]loading images"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("images", total=len(names))
        for rel in names:
            path = Path(rel) if Path(rel).is_absolute() else images_dir / rel
            if not path.is_file():
                problems.append(f"{rel} (missing)")
            else:
                try:
                    arrays.append(
                        load_radiograph(path, size, fit=fit, channels=channels, cache_dir=cache_dir)
                    )
                except DataError as exc:
                    reason = str(exc).removeprefix(f"{path}: ")
                    problems.append(f"{rel} ({reason})")
            progress.advance(task)
    if problems:
        n_missing = sum(p.endswith("(missing)") for p in problems)
        raise DataError(
            f"{len(problems)} of {len(names)} images listed in {labels_csv} cannot be used "
            f"({n_missing} missing, {len(problems) - n_missing} unreadable) under {images_dir}: "
            + "; ".join(problems[:10])
            + (f"; ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        )
    return arrays
