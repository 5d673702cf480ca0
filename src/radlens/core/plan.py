"""A run's plan: what data it learned from and exactly how inputs were prepared for the model.

Every run writes ``RUN/plan.json`` when it starts; `radlens evaluate`, `radlens explain`, the
service's scorer and the demos read it through `read_plan`, so a new image is prepared exactly
as the training images were (nnU-Net's "plans" file plays the same role). The plan is data:
a versioned, typed record with no defaults guessed by a consumer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radlens.core.rundir import PLAN, atomic_write_json
from radlens.errors import ConfigError

PLAN_VERSION = 1
DataSource = Literal["medmnist", "image_folder", "ct_cohort", "arrays"]


class RunPlan(BaseModel):
    """What a run learned from and how its inputs were made (all lengths in mm, (z, y, x))."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PLAN_VERSION
    data_source: DataSource
    dataset: str = Field(description="dataset name: a MedMNIST flag, a folder, a cohort")
    task: str
    labels: tuple[str, ...] = Field(description="the label space, in output order")
    spatial_dims: Literal[2, 3]
    channels: int = Field(ge=1)
    shape: tuple[int, ...] = Field(description="model input (H, W) or (D, H, W), in voxels")
    spacing_mm: tuple[float, float, float] | None = Field(
        default=None, description="volumes resampled to this spacing; None: fitted to `shape`"
    )
    windows_hu: tuple[tuple[float, float], ...] | None = Field(
        default=None, description="one (lo, hi) HU window per input channel (CT volumes)"
    )
    orientation: str | None = Field(
        default=None, description="array axes after reorientation, e.g. 'SPL' for (z, y, x)"
    )
    crop: Literal["none", "center"] = "none"
    intensity: str = Field(
        default="uint8 [0, 255] -> [-1, 1]",
        description="how stored pixels map to the model's input (radlens.training.device)",
    )

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def write_plan(run_dir: str | Path, plan: RunPlan) -> Path:
    """Write ``RUN/plan.json`` (atomically)."""
    path = Path(run_dir) / PLAN
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, plan.model_dump(mode="json"))
    return path


def read_plan(run_dir: str | Path) -> RunPlan:
    """The run's plan; a clear error when it is missing, not JSON or not a plan."""
    path = Path(run_dir) / PLAN
    if not path.is_file():
        raise ConfigError(
            f"{path} not found: every radlens run records how its inputs were prepared there. "
            f"Runs made before plans existed can write it from their config.yaml with "
            f"`radlens plan {Path(run_dir)}` (current defaults fill what config.yaml omits), "
            "or be trained again"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != PLAN_VERSION:
        got = raw.get("version") if isinstance(raw, dict) else type(raw).__name__
        raise ConfigError(
            f"{path}: plan version {got!r}; this radlens reads version {PLAN_VERSION}"
        )
    try:
        return RunPlan.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field {where}: {first['msg']}") from None
