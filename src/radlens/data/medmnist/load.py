"""MedMNIST v2: fetch official files, verify them, and load them as an `ArrayDataset`.

The catalogue (18 datasets, URL + MD5 per size) lives in `radlens.data.medmnist.catalogue`. A file
is "official" only when its MD5 equals the catalogue's; with `verify=False` (CLI `--no-verify`) or
a non-matching `data_file`, the dataset is loaded but marked `official=False`, and every result
computed from it must say "unofficial data".
"""

from __future__ import annotations

import logging
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from rich.table import Table

from radlens.data.arrays import SPLITS, ArrayDataset
from radlens.data.download import download_file, file_md5
from radlens.data.medmnist.catalogue import (
    DatasetInfo,
    PaperResult,
    dataset_names,
    get_info,
    list_datasets,
    paper_result,
    paper_results,
)
from radlens.errors import DataError

__all__ = [
    "DatasetInfo",
    "PaperResult",
    "catalogue_table",
    "dataset_names",
    "fetch_medmnist",
    "get_info",
    "info_table",
    "list_datasets",
    "load_medmnist",
    "paper_result",
    "paper_results",
    "resolve_data_dir",
    "validate_arrays",
]

log = logging.getLogger(__name__)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Data folder: the argument, else $RADLENS_DATA_DIR, else ~/.radlens/data."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get("RADLENS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".radlens" / "data"


def fetch_medmnist(
    name: str, size: int = 28, dest_dir: str | Path | None = None, *, url: str | None = None
) -> Path:
    """Download one official MedMNIST file (progress bar, MD5 check, atomic write).

    `url` overrides the catalogue URL (a mirror); the MD5 always comes from the catalogue. An
    existing file with the right MD5 is kept; one with a wrong MD5 is replaced.
    """
    info = get_info(name)
    target = resolve_data_dir(dest_dir) / info.file_name(size)
    expected = info.md5(size)
    if target.is_file():
        if file_md5(target) == expected:
            log.info("%s already present with the official MD5", target)
            return target
        log.warning("%s exists but its MD5 is not the official one; downloading again", target)
    return download_file(url or info.url(size), target, md5=expected)


def _missing_file_error(info: DatasetInfo, size: int, folder: Path) -> DataError:
    wanted = info.file_name(size)
    others = sorted(p.name for p in folder.glob(f"{info.name}*.npz")) if folder.is_dir() else []
    hint = (
        f"; found {', '.join(others)} there: pass it with --data-file (it is not the official "
        "file name, so results will be marked unofficial)"
        if others
        else ""
    )
    return DataError(
        f"MedMNIST file {wanted} not found in {folder}; run `radlens data fetch {info.name} "
        f"--size {size} --dest {folder}`{hint}"
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError as exc:
        raise DataError(f"MedMNIST file {path} does not exist") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"MedMNIST file {path} is not a readable .npz (zip) archive (corrupt or truncated?):"
            f" {exc}"
        ) from exc


def validate_arrays(
    arrays: dict[str, np.ndarray], info: DatasetInfo, size: int, source: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Check keys, dtypes, shapes and label ranges of MedMNIST arrays.

    Returns (images, labels) per split; labels as float32 (N, L) (class index in column 0 for
    single-label tasks, 0/1 per label for multi-label). Raises DataError naming the key.
    """
    wanted = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels")]
    missing = [k for k in wanted if k not in arrays]
    if missing:
        raise DataError(
            f"{source}: missing key(s) {', '.join(missing)}; found {sorted(arrays) or 'none'} "
            f"(expected {', '.join(wanted)})"
        )
    if info.is_3d:
        expect_shape = (size, size, size)
        shape_text = f"(N, {size}, {size}, {size})"
    elif info.n_channels == 1:
        expect_shape = (size, size)
        shape_text = f"(N, {size}, {size})"
    else:
        expect_shape = (size, size, info.n_channels)
        shape_text = f"(N, {size}, {size}, {info.n_channels})"
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        img, lab = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if img.dtype != np.uint8:
            raise DataError(f"{source}: {split}_images has dtype {img.dtype}, expected uint8")
        if img.ndim == 0 or tuple(img.shape[1:]) != expect_shape:
            raise DataError(
                f"{source}: {split}_images has shape {img.shape}, expected {shape_text} for "
                f"{info.name} at size {size}"
            )
        labels[split] = _validate_labels(lab, len(img), info, f"{source}: {split}_labels")
        images[split] = img
    return images, labels


def _validate_labels(lab: np.ndarray, n: int, info: DatasetInfo, where: str) -> np.ndarray:
    if not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == np.bool_):
        raise DataError(f"{where} has dtype {lab.dtype}, expected an integer type (uint8)")
    multi = info.task == "multi-label"
    if lab.ndim == 1 and not multi:
        lab = lab[:, None]
    n_cols = info.n_labels if multi else 1
    if lab.ndim != 2 or lab.shape != (n, n_cols):
        expected = f"({n}, {n_cols})" if multi else f"({n},) or ({n}, 1)"
        raise DataError(f"{where} has shape {lab.shape}, expected {expected}")
    values = lab.astype(np.int64)
    if multi:
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            raise DataError(
                f"{where}: multi-label values must be 0 or 1; found {np.unique(values[bad])[:5]}"
            )
    elif n and (values.min() < 0 or values.max() >= info.n_labels):
        raise DataError(
            f"{where}: class index out of range [{values.min()}, {values.max()}]; "
            f"{info.name} has {info.n_labels} classes (0..{info.n_labels - 1})"
        )
    return values.astype(np.float32)


def load_medmnist(
    name: str,
    size: int = 28,
    *,
    data_dir: str | Path | None = None,
    data_file: str | Path | None = None,
    verify: bool = True,
) -> ArrayDataset:
    """Load one MedMNIST dataset (all three splits) as an `ArrayDataset`.

    Without `data_file` the official file name is looked up in `resolve_data_dir(data_dir)` and
    its MD5 must match the catalogue (else DataError naming file, expected and actual MD5) unless
    `verify=False`. With `data_file` that exact npz is loaded; it counts as official only if its
    MD5 matches. Images stay uint8 as stored; labels become float32 (N, L).
    """
    info = get_info(name)
    info.check_size(size)
    expected = info.md5(size)
    if data_file is not None:
        path = Path(data_file).expanduser()
        if not path.is_file():
            raise DataError(f"--data-file {path} does not exist or is not a file")
    else:
        path = resolve_data_dir(data_dir) / info.file_name(size)
        if not path.is_file():
            raise _missing_file_error(info, size, path.parent)
    actual: str | None = None
    if verify:
        actual = file_md5(path)
        official = actual == expected
        if not official and data_file is None:
            raise DataError(
                f"MedMNIST file {path} has MD5 {actual}, expected the official {expected} for "
                f"{info.name} size {size}; re-download it with `radlens data fetch {info.name} "
                f"--size {size}` or pass --no-verify to use it as unofficial data"
            )
        if not official:
            log.warning(
                "%s is not the official %s file (MD5 %s, expected %s): results are unofficial",
                path, info.file_name(size), actual, expected,
            )  # fmt: skip
    else:
        official = False
        log.warning("MD5 check of %s skipped (--no-verify): results are unofficial", path)
    images, labels = validate_arrays(_read_npz(path), info, size, str(path))
    for split in SPLITS:
        if len(images[split]) != info.n_samples[split]:
            log.warning(
                "%s: %s split has %d samples, the official %s has %d",
                path.name, split, len(images[split]), info.name, info.n_samples[split],
            )  # fmt: skip
    ids = {s: _ids(s, len(images[s])) for s in SPLITS}
    return ArrayDataset(
        name=info.name,
        task=info.task,  # type: ignore[arg-type]
        label_names=info.label_names,
        images=images,
        labels=labels,
        ids=ids,
        patient_ids={s: ids[s].copy() for s in SPLITS},
        n_channels=info.n_channels,
        spatial_dims=3 if info.is_3d else 2,
        official=official,
        source=str(path),
        extra={
            "size": size,
            "md5": actual,
            "expected_md5": expected,
            "licence": info.licence,
            "python_class": info.python_class,
        },
    )


def _ids(split: str, n: int) -> np.ndarray:
    width = max(6, len(str(max(n - 1, 0))))
    return np.array([f"{split}-{i:0{width}d}" for i in range(n)], dtype=str)


def catalogue_table(data_dir: str | Path | None = None) -> Table:
    """The catalogue as a rich table (`radlens data list`), marking sizes present locally."""
    folder = resolve_data_dir(data_dir)
    table = Table(title=f"MedMNIST v2 datasets (local folder: {folder}; * = file present)")
    for column in ("dataset", "task", "labels", "ch", "dims", "train", "val", "test"):
        right = column in ("train", "val", "test")
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "task")
    table.add_column("sizes", overflow="fold")
    table.add_column("licence", overflow="fold")
    for info in list_datasets():
        sizes = " ".join(
            f"{s}*" if (folder / info.file_name(s)).is_file() else str(s) for s in info.sizes
        )
        table.add_row(
            info.name,
            info.task,
            str(info.n_labels),
            str(info.n_channels),
            "3D" if info.is_3d else "2D",
            *(f"{info.n_samples[s]:,}" for s in SPLITS),
            sizes,
            info.licence,
        )
    return table


def info_table(name: str, data_dir: str | Path | None = None) -> Table:
    """One dataset's labels and files (URL, MD5, local presence) as a rich table."""
    info = get_info(name)
    folder = resolve_data_dir(data_dir)
    labels = "; ".join(f"{i}={n}" for i, n in enumerate(info.label_names))
    table = Table(title=f"{info.python_class} ({info.task}, {info.licence}): {labels}")
    for column in ("size", "file", "md5", "url", "local"):
        table.add_column(column, overflow="fold")
    for size in info.sizes:
        present = (folder / info.file_name(size)).is_file()
        table.add_row(
            str(size), info.file_name(size), info.md5(size), info.url(size),
            "present" if present else "-",
        )  # fmt: skip
    return table
