"""A chest-like cohort for the calcified-plaque detector: the `nodule_cohort` chest (body, two
lungs, vessel tubes) plus an aorta (a blood tube between the lungs), a spine behind it and a
sternum in front (bone: dense and large), and in most studies two to four small calcified
plaques on the aortic wall (dense and small), as NIfTI with a plaque mask column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from _support.nodule_cohort import SHAPE, SPACING, chest
from radlens.data.volumes import Volume, write_nifti

FINDING = "arterial_wall_calcification"


def plaque_chest(rng: np.random.Generator, plaques: int) -> tuple[np.ndarray, np.ndarray]:
    """(HU, plaque mask) of one study with `plaques` plaques."""
    hu, _ = chest(rng, with_nodule=False)
    zz, yy, xx = np.indices(SHAPE)
    aorta_y, aorta_x = 30 + int(rng.integers(-2, 3)), 28 + int(rng.integers(-2, 3))
    inner = (yy - aorta_y) ** 2 + (xx - aorta_x) ** 2 <= 3.0**2
    hu[(zz >= 4) & (zz < 20) & inner] = 40.0  # blood: the aortic lumen
    spine = ((yy - 44) / 4.0) ** 2 + ((xx - 28) / 3.5) ** 2 <= 1.0
    hu[(zz >= 2) & (zz < 22) & spine] = 900.0 + float(rng.uniform(-100, 100))
    sternum = ((yy - 8) / 1.5) ** 2 + ((xx - 28) / 4.0) ** 2 <= 1.0
    hu[(zz >= 6) & (zz < 18) & sternum] = 600.0 + float(rng.uniform(-100, 100))
    mask = np.zeros(SHAPE, dtype=bool)
    for _ in range(plaques):
        angle = float(rng.uniform(0, 2 * np.pi))
        z = int(rng.integers(6, 18))
        y = round(aorta_y + 3.5 * float(np.sin(angle)))
        x = round(aorta_x + 3.5 * float(np.cos(angle)))
        mask[z : z + 2, y, x] = True  # 2 voxels along the wall
    hu[mask] = float(rng.uniform(500, 800))  # less dense than the spine
    hu += rng.normal(0.0, 15.0, size=SHAPE).astype(np.float32)
    return hu, mask


def write_plaque_cohort(folder: Path, n_studies: int = 12, seed: int = 0) -> pd.DataFrame:
    """`n_studies` (one per patient), every third without plaques, the others with two to
    four; the last four are the test split, the one before them val, the rest train."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_studies):
        hu, mask = plaque_chest(rng, 0 if i % 3 == 2 else int(rng.integers(2, 5)))
        write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), folder / f"img{i}.nii.gz")
        write_nifti(Volume(mask.astype(np.float32), SPACING, (0, 0, 0)), folder / f"pl{i}.nii.gz")
        split = "test" if i >= n_studies - 4 else ("val" if i == n_studies - 5 else "train")
        rows.append({"patient_id": f"P{i:02d}", "study_id": f"S{i:02d}",
                     "image_path": f"img{i}.nii.gz", f"mask_path:{FINDING}": f"pl{i}.nii.gz",
                     "split": split})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cohort.csv", index=False)
    return table
