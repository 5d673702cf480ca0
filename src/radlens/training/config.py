"""Typed training configuration: every `radlens train` flag is a field; loadable from YAML.

The resolved configuration is saved as ``RUN/config.yaml`` and is all `load_run` needs to rebuild
the model. Unknown keys in a YAML file are errors naming the key (with a did-you-mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from radlens.core import atomic_write_text, suggest
from radlens.errors import ConfigError, ModelError
from radlens.models import resolve_model_name

AUGMENTS: tuple[str, ...] = ("none", "flip", "shift", "flip+shift")


def check_model_name(value: str) -> str:
    """The canonical name of a known model (for a pydantic validator: ValueError otherwise, with
    the closest name and the valid ones)."""
    try:
        return resolve_model_name(value)
    except ModelError as exc:
        raise ValueError(str(exc)) from None


def check_augment(value: str) -> str:
    """`value` when it is one of `AUGMENTS` (for a pydantic validator: ValueError otherwise)."""
    if value not in AUGMENTS:
        raise ValueError(f"unknown augmentation {value!r}; expected one of {AUGMENTS}")
    return value


class TrainConfig(BaseModel):
    """How to train one model. Defaults are the MedMNIST v2 recipe (Adam 1e-3, batch 128,
    100 epochs, lr x0.1 at 50% and 75% of the epochs, model selected on validation AUC)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # data: a MedMNIST dataset ...
    dataset: str | None = None
    size: int = 28
    data_dir: str | None = None
    data_file: str | None = None
    verify: bool = True
    # ... or a folder of radiographs with a label CSV
    images: str | None = None
    labels: str | None = None
    patient_column: str | None = None
    label_columns: list[str] | None = None
    image_column: str = "image"
    site_column: str | None = None
    image_size: int = 224
    # ... or a chest-CT cohort (`radlens cohort synth` layout): reports labelled by the labeler
    cohort: str | None = None
    cohort_shape: tuple[int, int, int] = (32, 64, 64)
    # (z, y, x) mm the volumes are resampled to before the centred crop/pad to cohort_shape;
    # None: the phantom field of view divided by cohort_shape (the whole chest, no crop)
    cohort_spacing: tuple[float, float, float] | None = None
    cohort_windows: list[tuple[float, float]] | None = None  # None: the loader's HU windows
    cohort_min_location_positives: int = Field(default=5, ge=1)
    cohort_cache: str | None = None
    # subsets for quick runs (first N images of a split, in stored order)
    max_train_images: int | None = Field(default=None, ge=1)
    max_eval_images: int | None = Field(default=None, ge=1)
    # model and task
    model: str = "resnet18"
    small_input: bool | None = None  # None: MedMNIST 28 px stem when the images are <= 64 px
    ordinal_loss: Literal["ce", "coral"] = "ce"
    class_weights: Literal["none", "balanced"] = "none"
    # optimisation
    epochs: int = Field(default=100, ge=1)
    batch_size: int = Field(default=128, ge=1)
    eval_batch_size: int = Field(default=512, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = Field(default=0.1, gt=0)
    augment: str = "none"
    shift_pixels: int = Field(default=2, ge=0)
    seed: int = 0
    # hardware
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = "auto"
    channels_last: bool | None = None  # None: on for CUDA
    compile: bool = False
    devices: int = Field(default=1, ge=1)
    threads: int | None = Field(default=None, ge=1)
    # output
    out: str = "runs/run"
    checkpoint_every: int = Field(default=1, ge=1)  # write last.pt/checkpoint.pt every N epochs

    @field_validator("cohort_shape", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        """Accept "32,64,64" from the command line."""
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("cohort_spacing", mode="before")
    @classmethod
    def _spacing(cls, value: Any) -> Any:
        """Accept "10,5.25,5.25" (z, y, x mm) from the command line."""
        if isinstance(value, str):
            value = [float(v) for v in value.split(",") if v.strip()]
        if value is not None and any(float(v) <= 0 for v in value):
            raise ValueError(f"cohort_spacing must be three positive mm values; got {value!r}")
        return value

    @field_validator("cohort_windows", mode="before")
    @classmethod
    def _windows(cls, value: Any) -> Any:
        """Accept "-1000:-200,-160:240" (HU lo:hi per channel) from the command line."""
        if isinstance(value, str):
            return [tuple(float(x) for x in w.split(":")) for w in value.split(",") if w.strip()]
        return value

    @field_validator("milestones", "label_columns", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """Accept "0.5,0.75" / "a,b" from the command line."""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("augment")
    @classmethod
    def _known_augment(cls, value: str) -> str:
        return check_augment(value)

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < m < 1 for m in value):
            raise ValueError(f"milestones are fractions of the epochs in (0, 1); got {value}")
        return value

    def check_source(self) -> None:
        """Exactly one data source: --dataset, --images/--labels or --cohort."""
        given = [
            flag
            for flag, v in (
                ("--dataset", self.dataset),
                ("--images", self.images),
                ("--cohort", self.cohort),
            )
            if v
        ]
        if len(given) > 1:
            raise ConfigError(f"give one data source, not {' and '.join(given)}")
        if not given:
            raise ConfigError(
                "no data: give --dataset NAME (MedMNIST), --images DIR --labels CSV"
                " --patient-column COL, or --cohort DIR (chest-CT cohort)"
            )
        if self.images and (not self.labels or not self.patient_column):
            raise ConfigError("--images needs --labels CSV and --patient-column COLUMN")

    def to_yaml(self, path: Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))


def _explain(exc: ValidationError, source: str) -> ConfigError:
    """One line per bad field: location, message, value (did-you-mean for unknown keys)."""
    fields = list(TrainConfig.model_fields)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}{suggest(loc, fields)}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg} (got {err.get('input')!r})")
    return ConfigError(f"{source}: " + "; ".join(parts))


def make_config(values: dict[str, Any], source: str = "options") -> TrainConfig:
    """Validate a dict into a TrainConfig, raising ConfigError naming each bad field."""
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        raise _explain(exc, source) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config and apply overrides (CLI flags that were given, i.e. not None)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys, got {type(values)}")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return make_config(values, source=str(path))


def resolve_config(options: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """Command-line options (None = not given) over an optional YAML file over the defaults."""
    given = {k: v for k, v in options.items() if v is not None}
    if config_file is not None:
        return load_config(config_file, given)
    return make_config(given)
