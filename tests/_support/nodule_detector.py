"""A tiny nodule detector run (`radlens train --task detection`'s trainer) on the chest-like
cohort of `_support.nodule_cohort`, for the deploy and service tests."""

from __future__ import annotations

from pathlib import Path

from _support.nodule_cohort import write_nodule_cohort
from radlens.training.nodule_detection import DetectorConfig, train_detector

TINY = DetectorConfig(epochs=10, negatives=600, per_scale=20, batch_size=64)


def train_tiny_detector(root: Path) -> Path:
    """Train on a 12-study cohort under `root`; returns the run folder."""
    write_nodule_cohort(root / "cohort", n_studies=12)
    train_detector(root / "cohort", root / "run", TINY)
    return root / "run"
