"""A chest-like cohort for the nodule detector: a soft-tissue body in air, two aerated lungs,
one solid nodule (a ball) and vessel mimics (tubes of the nodule's density running along z, which
look like a nodule on any one slice, and in-plane) per study, as NIfTI with a nodule mask column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radlens.data.volumes import Volume, write_nifti

SPACING = (3.5, 3.5, 3.5)
SHAPE = (24, 56, 56)


def _ball(centre, radius) -> np.ndarray:
    zz, yy, xx = np.indices(SHAPE)
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius**2


def chest(rng: np.random.Generator, with_nodule: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(HU, nodule mask) of one study."""
    zz, yy, xx = np.indices(SHAPE)
    hu = np.full(SHAPE, -1000.0, dtype=np.float32)
    hu[((yy - 28) / 25.0) ** 2 + ((xx - 28) / 26.0) ** 2 <= 1] = 40.0
    lungs = []
    for cx in (16, 40):
        lung = ((zz - 12) / 10.0) ** 2 + ((yy - 28) / 18.0) ** 2 + ((xx - cx) / 9.0) ** 2 <= 1
        hu[lung] = -850.0
        lungs.append(lung)
    for _ in range(4):  # vessel mimics: one along z, one in-plane per draw, inside a lung
        side = int(rng.integers(2))
        y, x = int(rng.integers(18, 38)), (16, 40)[side] + int(rng.integers(-3, 4))
        tube = ((yy - y) ** 2 + (xx - x) ** 2 <= 1.2**2) & lungs[side]
        hu[tube] = 40.0
        z = int(rng.integers(6, 18))
        tube = ((zz - z) ** 2 + (xx - x) ** 2 <= 1.2**2) & lungs[side]
        hu[tube] = 40.0
    mask = np.zeros(SHAPE, dtype=bool)
    if with_nodule:
        side = int(rng.integers(2))
        c = (int(rng.integers(8, 16)), int(rng.integers(20, 36)), (16, 40)[side])
        mask = _ball(c, 2.2) & lungs[side]
        hu[mask] = 40.0
    hu += rng.normal(0.0, 15.0, size=SHAPE).astype(np.float32)
    return hu, mask


def write_nodule_cohort(folder: Path, n_studies: int = 12, seed: int = 0) -> pd.DataFrame:
    """`n_studies` (one per patient): the last four are the test split (one without a nodule),
    the one before them val, the rest train."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_studies):
        hu, mask = chest(rng, with_nodule=i != n_studies - 1)
        write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), folder / f"img{i}.nii.gz")
        write_nifti(Volume(mask.astype(np.float32), SPACING, (0, 0, 0)), folder / f"nod{i}.nii.gz")
        split = "test" if i >= n_studies - 4 else ("val" if i == n_studies - 5 else "train")
        rows.append({"patient_id": f"P{i:02d}", "study_id": f"S{i:02d}",
                     "image_path": f"img{i}.nii.gz", "mask_path:nodule": f"nod{i}.nii.gz",
                     "split": split})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cohort.csv", index=False)
    return table
