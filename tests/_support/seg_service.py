"""A tiny segmentation run for the deploy and service tests, and a planted network whose output
is known: on the sphere cohort (`_support.seg_cohort`: nodule balls at 40 HU, mass balls at
60 HU on -800 HU) it marks exactly the nodule (channel 0) and mass (channel 1) voxels, so lesion
candidates, contours and sizes can be checked against the painted masks."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from _support.seg_cohort import SPACING, write_sphere_cohort
from radlens.training import make_config, train_segmentation

#: the run's mediastinal window (-160, 240) HU is its third channel (`radlens.data.DEMO_WINDOWS`)
MEDIASTINUM_CHANNEL = 2
NODULE_VALUE, MASS_VALUE = (40.0 + 160.0) / 400.0, (60.0 + 160.0) / 400.0


class PlantedSeg(nn.Module):
    """Logits +ve exactly where the mediastinal channel is the nodule's / the mass's value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x[:, MEDIASTINUM_CHANNEL : MEDIASTINUM_CHANNEL + 1]
        return torch.cat([200 * (0.02 - (v - NODULE_VALUE).abs()),
                          200 * (0.02 - (v - MASS_VALUE).abs())], dim=1)  # fmt: skip


def train_tiny_seg_run(root: Path, *, epochs: int = 2) -> Path:
    """A real `radlens train --task segmentation` run (findings nodule, mass) on the sphere
    cohort, at the cohort's own spacing; returns the run folder."""
    write_sphere_cohort(root / "cohort", n_studies=5)
    config = make_config(
        {
            "task": "segmentation", "cohort": str(root / "cohort"), "model": "unet_lite",
            "spacing": ",".join(str(s) for s in SPACING), "patch": "8,16,16",
            "epochs": epochs, "batch_size": 8, "lr": 0.01, "device": "cpu",
            "out": str(root / "run"), "threads": 1,
        }
    )  # fmt: skip
    train_segmentation(config)
    return root / "run"
