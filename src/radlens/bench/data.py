"""Benchmark data: one MedMNIST file per (dataset, size, protocol), resized for the paper's
protocol (28 px images scaled up with nearest-neighbour, as the official script's
``transforms.Resize((224, 224), interpolation=NEAREST)`` does)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from radlens.bench.spec import MODELS_3D_ONLY
from radlens.data import ArrayDataset
from radlens.data.medmnist import get_info, load_medmnist, resolve_data_dir
from radlens.errors import DataError

logger = logging.getLogger(__name__)


def resize_nearest(images: np.ndarray, size: int, spatial_dims: int) -> np.ndarray:
    """Scale the spatial axes of stored images ((N,H,W), (N,H,W,C) or (N,D,H,W)) to `size`."""
    if spatial_dims == 3:
        x = torch.from_numpy(images)[:, None].float()
        y = torch.nn.functional.interpolate(x, size=(size, size, size), mode="nearest")
        return y[:, 0].to(torch.uint8 if images.dtype == np.uint8 else torch.float32).numpy()
    rgb = images.ndim == 4
    x = torch.from_numpy(images if rgb else images[..., None]).permute(0, 3, 1, 2)
    out = []
    for start in range(0, len(x), 4096):  # bounded float memory for the 165k-image sets
        chunk = x[start : start + 4096].float()
        y = torch.nn.functional.interpolate(chunk, size=(size, size), mode="nearest")
        out.append(y.to(x.dtype))
    y = torch.cat(out).permute(0, 2, 3, 1).numpy()
    return y if rgb else y[..., 0]


def find_data_file(name: str, data_dir: str | None, data_files: dict[str, str]) -> Path | None:
    """An explicit --data-file for this dataset, else None (the official file name is used)."""
    if name in data_files:
        return Path(data_files[name]).expanduser()
    return None


def unofficial_copy(name: str, data_dir: str | None) -> Path | None:
    """With --no-verify and no official `{name}.npz`: a lone `{name}_*.npz` copy of the 28 px file
    (e.g. pneumoniamnist_UNOFFICIAL_trainsubset.npz) in the data folder."""
    folder = resolve_data_dir(data_dir)
    sized = {f"{name}_{s}.npz" for s in (64, 128, 224)}
    found = [p for p in sorted(folder.glob(f"{name}_*.npz")) if p.name not in sized]
    return found[0] if len(found) == 1 else None


def load_bench_dataset(
    name: str,
    size: int,
    protocol: str,
    *,
    data_dir: str | None = None,
    data_files: dict[str, str] | None = None,
    verify: bool = True,
) -> tuple[ArrayDataset, Path]:
    """The dataset a benchmark row trains on, and the file it came from."""
    info = get_info(name)
    info.check_size(size)
    data_files = data_files or {}
    file_size = 28 if protocol == "resize" else size
    data_file = find_data_file(info.name, data_dir, data_files) if file_size == 28 else None
    official_path = resolve_data_dir(data_dir) / info.file_name(file_size)
    if data_file is None and not official_path.is_file() and not verify and file_size == 28:
        data_file = unofficial_copy(info.name, data_dir)
        if data_file is not None:
            logger.warning("%s: official file missing; using %s (unofficial)", name, data_file)
    ds = load_medmnist(info.name, file_size, data_dir=data_dir, data_file=data_file, verify=verify)
    source = Path(ds.source)
    if file_size != size:
        dims = ds.spatial_dims
        ds = replace(
            ds,
            images={s: resize_nearest(v, size, dims) for s, v in ds.images.items()},
            extra={**ds.extra, "resized_from": file_size, "size": size},
        )
    if not ds.official:
        logger.warning("%s %d px: unofficial data (%s)", name, size, source.name)
    return ds, source


def check_model_fits(model: str, dataset: str) -> str | None:
    """Why `model` cannot run on `dataset` (a 3D-only model on 2D images), or None."""
    if model in MODELS_3D_ONLY and not get_info(dataset).is_3d:
        return f"model {model!r} is for the 3D datasets; {dataset!r} is 2D"
    return None


__all__ = ["DataError", "check_model_fits", "load_bench_dataset", "resize_nearest"]
