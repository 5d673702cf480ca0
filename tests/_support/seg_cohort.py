"""A user's own image + mask folders: NIfTI CT-like volumes with spherical lesions, and the
cohort table (image_path, mask_path:<finding>, split) that `radlens train --task segmentation`
reads. Bright spheres on a noisy background: a network learns them in a few CPU epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radlens.data.volumes import Volume, write_nifti

SPACING = (4.0, 2.0, 2.0)


def sphere(shape, centre, radius_vox) -> np.ndarray:
    """Bool ball of `radius_vox` (z, y, x voxels, may differ per axis) at `centre`."""
    zz, yy, xx = np.indices(shape)
    r = np.asarray(radius_vox, dtype=float)
    d = ((zz - centre[0]) / r[0]) ** 2 + ((yy - centre[1]) / r[1]) ** 2
    return d + ((xx - centre[2]) / r[2]) ** 2 <= 1.0


def write_sphere_cohort(
    folder: Path, n_studies: int = 8, shape=(16, 32, 32), seed: int = 0
) -> pd.DataFrame:
    """`n_studies` (one per patient) with a "nodule" (small ball) and a "mass" (large ball) mask
    column; every fourth study has no mass (empty mask path). Splits: 5 train, rest val/test."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_studies):
        hu = rng.normal(-800.0, 30.0, size=shape).astype(np.float32)
        nodule = sphere(shape, (shape[0] // 2, 8 + rng.integers(0, 4), 8), (1.5, 2.5, 2.5))
        mass = sphere(shape, (shape[0] // 2, shape[1] - 10, shape[2] - 10), (3, 5, 5))
        has_mass = i % 4 != 3
        hu[nodule] = 40.0
        if has_mass:
            hu[mass] = 60.0
        image = Volume(hu, SPACING, (0.0, 0.0, 0.0))
        write_nifti(image, folder / f"img{i}.nii.gz")
        write_nifti(
            Volume(nodule.astype(np.float32), SPACING, (0, 0, 0)), folder / f"nod{i}.nii.gz"
        )
        if has_mass:
            write_nifti(
                Volume(mass.astype(np.float32), SPACING, (0, 0, 0)), folder / f"mass{i}.nii.gz"
            )
        split = "train" if i < max(1, n_studies - 3) else ("val" if i == n_studies - 3 else "test")
        rows.append(
            {
                "patient_id": f"P{i:02d}",
                "study_id": f"S{i:02d}",
                "image_path": f"img{i}.nii.gz",
                "mask_path:nodule": f"nod{i}.nii.gz",
                "mask_path:mass": f"mass{i}.nii.gz" if has_mass else "",
                "split": split,
                "report_text": "",
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cohort.csv", index=False)
    return table
