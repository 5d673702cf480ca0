"""The in-memory dataset every loader returns and every trainer consumes.

MedMNIST files, folders of radiographs and chest-CT cohorts all become an `ArrayDataset`: per split,
images as a uint8 or float32 array, labels as a float32 matrix (NaN = unknown), and string ids for
images and patients, so splitting, leakage checks and prediction tables work the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from radlens.errors import DataError

TaskType = Literal["binary", "multi-class", "multi-label", "ordinal-regression"]
TASK_TYPES: tuple[str, ...] = ("binary", "multi-class", "multi-label", "ordinal-regression")
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass
class ArrayDataset:
    """Images and labels per split, with names for every label.

    images[split]: (N, H, W), (N, H, W, C), (N, D, H, W) or channel-first (N, C, ...) arrays.
    labels[split]: (N, L) float32; binary / multi-class / ordinal: L == 1 holding the class index;
        for multi-label L == len(label_names) holding 1 / 0 / NaN (unknown, masked out).
    label_names: class names (single-label tasks) or label names (multi-label), in output order.
    ids[split], patient_ids[split]: (N,) str arrays; patient ids drive splitting and leakage checks.
    """

    name: str
    task: TaskType
    label_names: tuple[str, ...]
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    ids: dict[str, np.ndarray]
    patient_ids: dict[str, np.ndarray]
    n_channels: int = 1
    spatial_dims: int = 2
    official: bool = True
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASK_TYPES:
            raise DataError(
                f"dataset {self.name!r}: unknown task {self.task!r}; expected one of {TASK_TYPES}"
            )
        for split, images in self.images.items():
            n = len(images)
            tables = (("labels", self.labels), ("ids", self.ids), ("patient_ids", self.patient_ids))
            for what, table in tables:
                if split not in table:
                    raise DataError(
                        f"dataset {self.name!r}: split {split!r} has images but no {what}"
                    )
                if len(table[split]) != n:
                    raise DataError(
                        f"dataset {self.name!r}: split {split!r} has {n} images"
                        f" but {len(table[split])} {what}"
                    )

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self.images) + tuple(
            s for s in self.images if s not in SPLITS
        )

    @property
    def n_outputs(self) -> int:
        """Number of model outputs: one per class (or per label for multi-label); 1 for ordinal
        regression is not assumed, ordinal tasks output one logit per grade like multi-class."""
        return len(self.label_names)

    def size(self, split: str) -> int:
        return len(self.images[split])
