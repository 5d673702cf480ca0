"""Typed training configuration: every `radlens train` flag is a field; loadable from YAML.

The resolved configuration is saved as ``RUN/config.yaml`` and is all `load_run` needs to rebuild
the model. Unknown keys in a YAML file are errors naming the key (with a did-you-mean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

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
    100 epochs, lr x0.1 at 50% and 75% of the epochs, model selected on validation AUC).
    Each field is a `radlens train` flag; its description is the flag's help."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # data: a MedMNIST dataset ...
    dataset: str | None = Field(None, description="MedMNIST dataset, e.g. pneumoniamnist.")
    size: int = Field(28, description="MedMNIST image size (28, 64, 128, 224).")
    data_dir: str | None = Field(None, description="Data folder [$RADLENS_DATA_DIR].")
    data_file: str | None = Field(None, description="Load this npz instead of the official.")
    verify: bool = Field(True, description="Check the official MD5 (off: unofficial data).")
    # ... or a folder of radiographs with a label CSV
    images: str | None = Field(None, description="Folder of radiographs (PNG/JPEG/DICOM).")
    labels: str | None = Field(None, description="CSV of per-image labels for --images.")
    patient_column: str | None = Field(None, description="Patient-id column of --labels.")
    label_columns: list[str] | None = Field(None, description="Label columns, comma-separated.")
    label_values: list[str] | None = Field(
        None, description="Classes of the label column, e.g. 0,1 or 0,1,2,3 (others: error)."
    )
    image_column: str = Field("image", description="Image-path column of --labels.")
    site_column: str | None = Field(None, description="Site column of --labels.")
    split_column: str | None = Field(
        None, description="Split column of --labels (train/val/test; default: by patient id)."
    )
    image_size: int = Field(224, description="Resize radiographs to this size.")
    # ... or a chest-CT cohort (`radlens cohort synth` layout): reports labelled by the labeler
    cohort: str | None = Field(None, description="Chest-CT cohort folder (radlens cohort synth).")
    cohort_shape: tuple[int, int, int] = Field(
        (32, 64, 64), description="Chest CT: volume shape D,H,W."
    )
    # None: the phantom field of view divided by cohort_shape (the whole chest, no crop)
    cohort_spacing: tuple[float, float, float] | None = Field(
        None, description="Chest CT: resample to Z,Y,X mm, then centre-crop to --cohort-shape."
    )
    cohort_windows: list[tuple[float, float]] | None = Field(  # None: the loader's HU windows
        None, description="Chest CT: HU windows, one channel each, e.g. -1000:-200,-160:240."
    )
    cohort_min_location_positives: int = Field(
        5,
        ge=1,
        description="Chest CT: keep abnormality@location outputs with this many train positives.",
    )
    cohort_cache: str | None = Field(None, description="Chest CT: preprocessed-volume cache.")
    # subsets for quick runs (first N images of a split, in stored order)
    max_train_images: int | None = Field(
        None, ge=1, description="Seeded subset of training images."
    )
    max_eval_images: int | None = Field(None, ge=1, description="Seeded subset of val/test images.")
    label_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Train on this fraction of the training patients' labels (seeded by --seed,"
        " patient-level, every label keeps a positive; val/test whole).",
    )
    # model and task
    model: str = Field(
        "resnet18",
        description="resnet18, resnet50, densenet121, resnet18_25d, resnet18_3d, resnet50_3d, "
        "acs_resnet18, acs_resnet50, ctnet, ctnet_lite.",
    )
    small_input: bool | None = Field(  # None: MedMNIST 28 px stem when the images are <= 64 px
        None, description="3x3 stride-1 stem (default: <= 64 px)."
    )
    ordinal_loss: Literal["ce", "coral"] = Field("ce", description="Ordinal tasks: ce or coral.")
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="none or balanced (inverse freq)."
    )
    init: str | None = Field(
        None,
        description="Start from a run's best weights (RUN dir or .pt; same model; weights only):"
        " label rows re-mapped by name, new labels fresh.",
    )
    # segmentation (--task segmentation: a cohort with per-finding masks, radlens.training.seg_data)
    task: Literal["classification", "segmentation", "survival", "detection"] = Field(
        "classification",
        description="classification (study labels), segmentation (per-finding masks; --cohort;"
        " model unet, unet_lite, segresnet or segresnet_lite), survival (time to event;"
        " --cohort with time/event columns or outcomes.csv) or detection (nodules: candidates"
        " + a 3-D CNN; --cohort with masks; 12 epochs, lr 2e-3 unless given).",
    )
    seg_loss: Literal["pos-weight", "balanced"] = Field(
        "pos-weight",
        description="Segmentation loss: Dice + BCE with lesion voxels x10 (pos-weight) or with"
        " each finding's lesion and background voxels weighing alike (balanced: learns small"
        " lesions, costs large ones; masks cut at the val-best threshold).",
    )
    # survival (--task survival: radlens.training.survival)
    head: Literal["cox", "discrete"] = Field(
        "cox", description="Survival: cox (partial likelihood) or discrete (logistic hazards)."
    )
    covariates: list[str] | None = Field(
        None, description="Survival: cohort-table covariates beside the image, e.g. age,sex,site."
    )
    outcomes: str | None = Field(
        None,
        description="Survival: CSV of study_id, time, event (default: the cohort table's"
        " columns, else the cohort's outcomes.csv).",
    )
    time_column: str | None = Field(
        None, description="Survival: follow-up time column (default: time, else time_months)."
    )
    event_column: str = Field("event", description="Survival: event column (1 event, 0 censored).")
    intervals: int = Field(10, ge=2, description="Survival (discrete head): time intervals.")
    freeze_encoder: bool = Field(
        False,
        description="Train the final layer only, on the --init encoder (classification: linear"
        " probing, batch-norm statistics kept; survival: the head on the encoder's features).",
    )
    findings: list[str] | None = Field(
        None, description="Segmentation: findings to segment, comma-separated (default: all)."
    )
    spacing: tuple[float, float, float] = Field(
        (5.0, 3.5, 3.5),
        description="Segmentation: resample to Z,Y,X mm (finer than the classifier's grid).",
    )
    patch: tuple[int, int, int] = Field(
        (32, 64, 64),
        description="Segmentation: patch and sliding window D,H,W (1,H,W: a 2D network on slices).",
    )
    # optimisation
    epochs: int = Field(
        100,
        ge=1,
        description="Epochs. With --resume, a larger N extends a run: it continues from its last"
        " state (the LR is not raised) and LR milestones are recomputed for N.",
    )
    batch_size: int = Field(128, ge=1, description="Batch size.")
    eval_batch_size: int = Field(512, ge=1, description="Evaluation batch size.")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay.")
    milestones: tuple[float, ...] = Field(
        (0.5, 0.75), description="LR drops at these epoch fractions."
    )
    gamma: float = Field(0.1, gt=0, description="LR factor at each milestone.")
    patience: int | None = Field(
        None,
        ge=1,
        description="Early stopping: once the LR has dropped at a milestone, stop when the"
        " validation AUC has not improved for N epochs (the best epoch's weights are kept, as"
        " always; a run that stopped stays stopped on --resume). Default: train all --epochs.",
    )
    augment: str = Field("none", description="none, flip, shift or flip+shift.")
    shift_pixels: int = Field(2, ge=0, description="Largest shift in pixels.")
    seed: int = Field(0, description="Random seed.")
    # hardware
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = Field(
        "auto", description="auto, 32-true, bf16-mixed, 16-mixed."
    )
    channels_last: bool | None = Field(
        None, description="Channels-last memory format (default: on for CUDA)."
    )
    compile: bool = Field(False, description="torch.compile.")
    devices: int = Field(1, ge=1, description="Number of devices (DDP through Fabric).")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch.")
    # output
    out: str = Field("runs/run", description="Run directory to write.")
    checkpoint_every: int = Field(1, ge=1, description="Write checkpoints every N epochs.")
    keep_optimizer: bool = Field(
        False,
        description="Keep the optimiser state in last.pt when the run ends (needed to extend a"
        " finished run with --resume --epochs N; else last.pt keeps weights only, once).",
    )

    @field_validator("cohort_shape", "patch", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        """Accept "32,64,64" from the command line."""
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("cohort_spacing", "spacing", mode="before")
    @classmethod
    def _spacing(cls, value: Any, info: ValidationInfo) -> Any:
        """Accept "10,5.25,5.25" (z, y, x mm) from the command line."""
        if isinstance(value, str):
            value = [float(v) for v in value.split(",") if v.strip()]
        if value is not None and any(float(v) <= 0 for v in value):
            raise ValueError(f"{info.field_name} must be three positive mm values; got {value!r}")
        return value

    @field_validator("cohort_windows", mode="before")
    @classmethod
    def _windows(cls, value: Any) -> Any:
        """Accept "-1000:-200,-160:240" (HU lo:hi per channel) from the command line."""
        if isinstance(value, str):
            return [tuple(float(x) for x in w.split(":")) for w in value.split(",") if w.strip()]
        return value

    @field_validator(
        "milestones", "label_columns", "label_values", "findings", "covariates", mode="before"
    )
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
        """Exactly one data source (--dataset, --images/--labels or --cohort), the one the task
        needs, and no option the task ignores."""
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
        if self.task == "survival" and not self.cohort:
            raise ConfigError(
                "--task survival needs --cohort DIR (a cohort table with time and event columns,"
                " or an outcomes.csv / --outcomes CSV of study_id, time, event)"
            )
        if self.task == "detection" and not self.cohort:
            raise ConfigError(
                "--task detection needs --cohort DIR (a cohort table with the finding's masks:"
                " mask_path, or image_path and mask_path:<finding> columns)"
            )
        if self.task == "segmentation" and not self.cohort:
            raise ConfigError(
                "--task segmentation needs --cohort DIR (a cohort table with masks: mask_path,"
                " or image_path and mask_path:<finding> columns)"
            )
        if self.patience and self.task in ("segmentation", "survival", "detection"):
            raise ConfigError(
                f"--patience (early stopping on the validation AUC) is for classification runs;"
                f" --task {self.task} trains all --epochs"
            )

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
