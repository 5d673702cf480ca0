"""What one `radlens bench medmnist` call runs: a typed grid specification and the recipes.

Recipes:
- ``paper``: the MedMNIST v2 protocol exactly (no augmentation, no TTA, one model per seed;
  Adam 1e-3, batch 128, lr x0.1 at 50% and 75% of the epochs, best epoch on validation AUC).
- ``radlens``: the paper's schedule plus random flips and 2-pixel shifts on the GPU, test-time
  augmentation (mean of the image and its mirror) and a mean-probability ensemble over the seeds.
  Datasets whose labels are left/right (OrganA/C/S-MNIST, OrganMNIST3D) get shifts only and no
  mirror TTA: a mirrored left kidney is a right kidney.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from radlens.data.medmnist import dataset_names, get_info
from radlens.errors import ConfigError
from radlens.training import check_augment, check_model_name

RECIPES: tuple[str, ...] = ("paper", "radlens")
#: Models that only make sense on volumes (the 2D names build 3D networks on 3D data as well).
MODELS_3D_ONLY: tuple[str, ...] = (
    "resnet18_3d",
    "resnet50_3d",
    "resnet18_25d",
    "acs_resnet18",
    "acs_resnet50",
)


class BenchSpec(BaseModel):
    """A grid: datasets x sizes x models x seeds, and how each combination is trained."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[str] = Field(default_factory=lambda: ["pneumoniamnist"])
    sizes: list[int] = Field(default_factory=lambda: [28])
    models: list[str] = Field(default_factory=lambda: ["resnet18"])
    epochs: int = Field(default=100, ge=1)
    seeds: int = Field(default=3, ge=1)
    out: str = "bench"
    protocol: Literal["resize", "native"] = "resize"
    data_dir: str | None = None
    data_files: dict[str, str] = Field(default_factory=dict)  # dataset -> npz (size 28)
    verify: bool = True
    recipe: Literal["paper", "radlens"] = "paper"
    augment: str | None = None  # None: from the recipe
    tta: bool | None = None
    ensemble: bool | None = None
    class_weights: Literal["none", "balanced"] = "none"
    batch_size: int = Field(default=128, ge=1)
    lr: float = Field(default=1e-3, gt=0)  # at batch 128; scaled for other batch sizes
    lr_scaling: Literal["none", "linear", "sqrt"] = "sqrt"
    max_train_images: int | None = Field(default=None, ge=1)
    max_eval_images: int | None = Field(default=None, ge=1)
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    threads: int | None = Field(default=None, ge=1)
    checkpoint_every: int = Field(default=1, ge=1)  # epochs between last.pt writes

    @field_validator("datasets", "models", "sizes", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, value: list[str]) -> list[str]:
        if [v.lower() for v in value] == ["all"]:
            return list(dataset_names())
        return [get_info(v).name for v in value]  # DataError with did-you-mean

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        return [check_model_name(name) for name in value]

    @field_validator("augment")
    @classmethod
    def _known_augment(cls, value: str | None) -> str | None:
        return None if value is None else check_augment(value)

    @property
    def effective_lr(self) -> float:
        """The learning rate at `batch_size`: `lr` is for batch 128 (the paper's), scaled by
        batch/128 (linear) or its square root (sqrt, the default, gentler for Adam)."""
        ratio = self.batch_size / 128
        factor = {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[self.lr_scaling]
        return self.lr * factor

    # ---- what the recipe means for one dataset -------------------------------------------
    def plan(self, dataset: str) -> dict[str, Any]:
        """Augmentation, TTA and ensembling for `dataset` (explicit options beat the recipe)."""
        lateral = any(
            "left" in n.lower() or "right" in n.lower() for n in get_info(dataset).label_names
        )
        if self.recipe == "paper":
            augment, tta, ensemble = "none", False, False
        else:
            augment, tta, ensemble = ("shift" if lateral else "flip+shift"), not lateral, True
        return {
            "augment": self.augment if self.augment is not None else augment,
            "tta": self.tta if self.tta is not None else tta,
            "ensemble": self.ensemble if self.ensemble is not None else ensemble,
        }

    def setting(self, dataset: str) -> dict[str, Any]:
        """Everything besides dataset/size/model/seed that changes a result (the resume key)."""
        return {
            "epochs": self.epochs,
            "recipe": self.recipe,
            **self.plan(dataset),
            "class_weights": self.class_weights,
            "batch_size": self.batch_size,
            "lr": self.effective_lr,
            "max_train_images": self.max_train_images,
            "max_eval_images": self.max_eval_images,
            "verify": self.verify,
        }

    def setting_id(self, dataset: str) -> str:
        blob = json.dumps(self.setting(dataset), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:8]


def make_spec(values: dict[str, Any]) -> BenchSpec:
    """Validate options into a BenchSpec; ConfigError naming each bad field."""
    try:
        return BenchSpec(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"--{loc.replace('_', '-')}: {msg} (got {err.get('input')!r})")
        raise ConfigError("bench: " + "; ".join(parts)) from None


def protocol_label(size: int, protocol: str) -> str:
    """How the images of a row were made: the paper's resize, or MedMNIST+ native files."""
    if size == 28:
        return "28 native"
    if protocol == "resize":
        return f"28→{size} resized (paper)"
    return f"MedMNIST+ native {size}"
