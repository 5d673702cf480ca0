"""A user's own survival cohort: NIfTI volumes with one bright ball whose radius sets the hazard,
and a cohort table (nifti_path, split, age, sex, site, time, event) that
`radlens train --task survival` reads. The bigger the ball, the sooner the event; a network sees
that in a few CPU epochs (the "easy synthetic case" of the survival tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radlens.data.volumes import Volume, write_nifti

SPACING = (4.0, 2.0, 2.0)
SHAPE = (16, 32, 32)


def write_survival_cohort(folder: Path, n_studies: int = 48, seed: int = 0) -> pd.DataFrame:
    """`n_studies` (one per patient): ball radius 0 (none) .. 6 voxels; time = 60 exp(-0.6 r)
    x U(0.85, 1.15); every fifth study censored at 60% of its time. Splits: 60% train, 15% val,
    25% test in row order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    zz, yy, xx = np.indices(SHAPE)
    rows = []
    n_train, n_val = int(0.6 * n_studies), int(0.15 * n_studies)
    for i in range(n_studies):
        radius = float(rng.integers(0, 7))
        hu = rng.normal(-800.0, 20.0, size=SHAPE).astype(np.float32)
        d2 = ((zz - 8) * 2) ** 2 + (yy - 16) ** 2 + (xx - 16) ** 2
        hu[d2 <= (radius * 2) ** 2] = 80.0
        write_nifti(Volume(hu, SPACING, (0.0, 0.0, 0.0)), folder / f"img{i}.nii.gz")
        t = 60.0 * np.exp(-0.6 * radius) * rng.uniform(0.85, 1.15)
        censored = i % 5 == 4
        split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        rows.append({
            "patient_id": f"P{i:03d}", "study_id": f"S{i:03d}", "nifti_path": f"img{i}.nii.gz",
            "report_text": "Mass in the right upper lobe." if radius else "No abnormality.",
            "true:mass": int(radius > 0), "split": split, "age": int(rng.integers(40, 80)),
            "sex": "F" if i % 2 else "M", "site": f"site_{i % 3}",
            "time": round(t * (0.6 if censored else 1.0), 3), "event": 0 if censored else 1,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cohort.csv", index=False)
    return table
