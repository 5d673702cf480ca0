"""A tiny image–report cohort for pretraining tests: grey PNGs whose content follows the report.

Consolidation is a bright blob in the left or right half (the report names the side),
cardiomegaly a wide bright disc in the centre; reports say so in a few phrasings, or deny it.
Truth columns ``true:consolidation`` and ``true:cardiomegaly`` hold what was painted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CONSOLIDATION = ("Consolidation in the {side} lung.", "There is {side} lower lobe consolidation.")
NO_CONSOLIDATION = ("No consolidation.", "The lungs are clear without consolidation.")
CARDIO = ("Cardiomegaly.", "The heart is enlarged, cardiomegaly.")
NO_CARDIO = ("No cardiomegaly.", "Heart size is normal, no cardiomegaly.")


def _image(rng: np.random.Generator, size: int, side: str | None, cardio: bool) -> np.ndarray:
    img = rng.normal(60, 12, (size, size))
    yy, xx = np.mgrid[:size, :size] / size
    if cardio:
        img += 120 * (((yy - 0.6) / 0.28) ** 2 + ((xx - 0.5) / 0.3) ** 2 < 1)
    if side is not None:  # image left = patient right (radiological convention)
        cx = 0.25 if side == "right" else 0.75
        img += 150 * (((yy - 0.35) / 0.15) ** 2 + ((xx - cx) / 0.15) ** 2 < 1)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_pair_cohort(folder: Path, n: int = 48, size: int = 32, seed: int = 0) -> Path:
    """Write n studies (PNG + report) and cohort.csv into `folder`; return the folder."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        cons, cardio = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        side = str(rng.choice(["left", "right"])) if cons else None
        name = f"img{i:03d}.png"
        Image.fromarray(_image(rng, size, side, cardio)).save(folder / name)
        parts = [
            rng.choice(CONSOLIDATION).format(side=side) if cons else rng.choice(NO_CONSOLIDATION),
            rng.choice(CARDIO) if cardio else rng.choice(NO_CARDIO),
        ]
        rows.append({
            "patient_id": f"p{i:03d}", "study_id": f"s{i:03d}", "image": name,
            "report_text": "FINDINGS: " + " ".join(parts), "site": f"site{i % 2}",
            "split": "test" if i % 4 == 3 else "train",
            "true:consolidation": int(cons), "true:cardiomegaly": int(cardio),
        })  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "cohort.csv", index=False)
    return folder
