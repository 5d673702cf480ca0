"""Tiny trained runs for the deploy tests: a 2D run trained on a folder of PNGs (its plan says
"image_folder") and a 3D run trained on CT-cohort-like volumes (plan "ct_cohort": spacing, HU
window, SPL orientation), plus real input files (PNG, DICOM series, NIfTI) to score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from radlens.data.arrays import ArrayDataset
from radlens.data.volumes import Volume, write_dicom_series, write_nifti
from radlens.training import make_config, train

COMMON = {"epochs": 1, "batch_size": 8, "device": "cpu", "precision": "32-true", "seed": 0}
SHAPE_3D = (8, 16, 16)
SPACING_3D = (10.0, 12.0, 12.0)
WINDOW = (-1000.0, 400.0)


def write_pngs(folder: Path, n: int = 24) -> pd.DataFrame:
    """n grayscale PNGs (20 x 12, so padding matters) with a binary label and patient ids."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        img = rng.integers(0, 255, size=(20, 12)).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i:02d}.png")
        rows.append({"image": f"img{i:02d}.png", "patient": f"p{i:02d}", "finding": i % 2})
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / "labels.csv", index=False)
    return frame


def phantom_volume(seed: int, shape: tuple[int, int, int] = (40, 48, 48)) -> Volume:
    """A body-like HU volume: air outside, soft tissue inside, a few dense spots."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    hu = np.where(y**2 + x**2 < 0.7, 40.0, -1000.0) + rng.normal(0, 20, size=shape)
    hu[(y - 0.2) ** 2 + (x + 0.3) ** 2 + z**2 < 0.05 * (1 + seed % 3)] = 300.0
    return Volume(hu.astype(np.float32), spacing=(5.0, 1.5, 1.5), origin=(0.0, 0.0, 0.0))


def ct_dataset(n: int = 12) -> ArrayDataset:
    rng = np.random.default_rng(1)
    images, labels, ids = {}, {}, {}
    for split in ("train", "val", "test"):
        images[split] = rng.integers(0, 255, size=(n, 1, *SHAPE_3D)).astype(np.uint8)
        labels[split] = rng.integers(0, 2, size=(n, 2)).astype(np.float32)
        ids[split] = np.array([f"{split}-{i}" for i in range(n)])
    return ArrayDataset(
        "tinyct", "multi-label", ("nodule", "effusion@left_lung"), images, labels, ids,
        {s: v.copy() for s, v in ids.items()}, n_channels=1, spatial_dims=3, official=False,
        extra={"spacing": SPACING_3D, "windows": [WINDOW]},
    )  # fmt: skip


@pytest.fixture(scope="session")
def run_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("run2d")
    write_pngs(root / "images")
    config = make_config({
        **COMMON, "images": str(root / "images"), "labels": str(root / "images" / "labels.csv"),
        "patient_column": "patient", "image_size": 16, "out": str(root / "run"),
    })  # fmt: skip
    train(config, progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def run_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("run3d") / "run"
    config = make_config(
        {**COMMON, "cohort": "tinyct", "model": "ctnet_3d", "cohort_shape": SHAPE_3D,
         "out": str(out)}
    )  # fmt: skip
    train(config, dataset=ct_dataset(), progress=False)
    return out


@pytest.fixture(scope="session")
def ct_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A DICOM series folder and a NIfTI file of two different phantom volumes."""
    root = tmp_path_factory.mktemp("ctin")
    write_dicom_series(phantom_volume(0), root / "series", patient_id="P0")
    write_nifti(phantom_volume(1), root / "vol.nii.gz")
    short = phantom_volume(2, shape=(10, 48, 48))  # 10 slices, 50 mm: not a chest CT
    write_dicom_series(short, root / "short", patient_id="P2")
    mr = root / "mr"
    write_dicom_series(phantom_volume(3), mr, patient_id="P3", extra={"Modality": "MR"})
    return {"series": root / "series", "nifti": root / "vol.nii.gz", "short": root / "short",
            "mr": mr}  # fmt: skip
