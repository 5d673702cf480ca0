"""The chest-CT demo's options and result (`radlens.demos.ct.run_ct_demo`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radlens.data import DEMO_WINDOWS
from radlens.demos.ct_segmentation import SegStepOptions

__all__ = ["CtDemoOptions", "CtDemoResult"]


@dataclass(frozen=True)
class CtDemoOptions:
    """Everything the demo does differently on request; defaults fit 10 minutes on 2 CPU cores."""

    patients: int = 450
    seed: int = 0
    shape: tuple[int, int, int] = (32, 64, 64)  # the whole field of view resampled to this grid
    crop: tuple[float, float, float] = (1.0, 0.75, 1.0)  # `input_shape`: what the model sees
    sites: int = 3
    model: str = "ctnet_3d"
    epochs: int | None = None  # None: `default_epochs()` (36 with native bf16, else 18)
    patience: int | None = 6  # early stopping once the LR has dropped (None: all epochs)
    batch_size: int = 8
    lr: float = 2e-3
    heatmap_cases: int = 7  # per finding: the localization figure rests on >= 60 cases
    heatmap_pictures: int = 3  # per finding: montages drawn into the report (all are scored)
    threads: int | None = 2
    min_location_positives: int = 5
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    windows: tuple[tuple[float, float], ...] = DEMO_WINDOWS
    synth_shape: tuple[int, int, int] | None = None  # None: `synthesis_shape(shape)`
    segmentation: SegStepOptions | None = field(default_factory=SegStepOptions)  # None: none
    detect_nodules: bool = False  # the two-stage nodule detector beside the classifier (~10 min)
    detect_masses: bool = False  # the same detector trained on masses (~10 min)
    detect_nodes: bool = False  # ... on enlarged lymph nodes (~10 min)
    detect_plaques: bool = False  # ... on calcified plaques, dense-peak candidates (~10 min)


@dataclass
class CtDemoResult:
    out: Path
    run_dir: Path
    report: Path
    summary: dict[str, Any]
