"""Tiny image-text runs for the deploy and service tests: a 3D one on NIfTI volumes (the
service's sentence maps) and a 2D one on the pair cohort with masks (report.html's gallery)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from _support.pretrain_cohort import make_pair_cohort
from radlens.data.volumes import Volume, write_nifti
from radlens.pretrain import ImageTextConfig, PairData, PretrainOptions, pretrain_image_text

TINY = ImageTextConfig(model="resnet_mini", text_width=32, text_layers=1, embed_dim=32, max_len=48,
                       top_k=4)  # fmt: skip
VOLUME_SHAPE = (16, 16, 16)


def train_3d_text_run(root: Path) -> Path:
    """Six 16^3 NIfTI volumes (every other one with a soft-tissue block) with one-line reports,
    one epoch: a real 3D run; returns its folder."""
    rng = np.random.default_rng(0)
    rows = []
    root.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        vol = rng.normal(-800, 50, VOLUME_SHAPE).astype(np.float32)
        if i % 2:
            vol[4:10, 4:10, 4:10] = 40.0
        write_nifti(Volume(vol, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)), root / f"v{i}.nii.gz")
        text = "FINDINGS: Right upper lobe mass." if i % 2 else "FINDINGS: Lungs are clear."
        rows.append({"patient_id": f"p{i}", "study_id": f"s{i}", "nifti_path": f"v{i}.nii.gz",
                     "report_text": text, "split": "train"})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "cohort.csv", index=False)
    opts = PretrainOptions(epochs=1, batch_size=6, device="cpu", precision="32-true", threads=1)
    data = PairData("nifti_path", shape=VOLUME_SHAPE, window="lung")
    pretrain_image_text(root, root / "run", data=data, model=TINY, options=opts, vocab_size=100)
    return root / "run"


def pair_cohort_with_masks(folder: Path, n: int = 32, size: int = 32) -> Path:
    """`make_pair_cohort` plus a ``masks`` column: an .npz per image with its consolidation blob
    (``consolidation@left_lung`` / ``@right_lung``; image left = patient right) and heart disc
    (``cardiomegaly@heart``), drawn where the images paint them."""
    make_pair_cohort(folder, n=n, size=size)
    table = pd.read_csv(folder / "cohort.csv")
    yy, xx = np.mgrid[:size, :size] / size
    masks = []
    for i, row in table.iterrows():
        found = {}
        text = str(row["report_text"]).lower()
        for side, cx in (("right", 0.25), ("left", 0.75)):
            if row["true:consolidation"] and f"{side} " in text:
                found[f"consolidation@{side}_lung"] = ((yy - 0.35) / 0.15) ** 2 + (
                    (xx - cx) / 0.15
                ) ** 2 < 1
        if row["true:cardiomegaly"]:
            found["cardiomegaly@heart"] = ((yy - 0.6) / 0.28) ** 2 + ((xx - 0.5) / 0.3) ** 2 < 1
        name = f"masks{i:03d}.npz"
        np.savez_compressed(folder / name, **found)
        masks.append(name)
    table["masks"] = masks
    table.to_csv(folder / "cohort.csv", index=False)
    return folder


def train_2d_text_run(cohort: Path, out: Path, epochs: int = 3) -> Path:
    """A 2D run on the pair cohort (32 px, local branch on)."""
    opts = PretrainOptions(epochs=epochs, batch_size=12, lr=3e-3, device="cpu",
                           precision="32-true", threads=1)  # fmt: skip
    pretrain_image_text(cohort, out, data=PairData("image", size=32), model=TINY, options=opts,
                        vocab_size=150)  # fmt: skip
    return out
