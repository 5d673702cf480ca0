"""A trained run as a scorer of new inputs, prepared only as the run's plan (RUN/plan.json) says.

Stages (each timed by `predict`):
- `read` decodes an input: a radiograph through `radlens.data.radiographs.read_radiograph`, a CT
  volume through `radlens.data.volumes.load_volume`;
- `check` runs the chest-CT fitness checks on a volume (`radlens.data.check_fitness`: modality,
  coverage, spacing, orientation, HU range; NotScorableError with every reason). A NIfTI file
  has no DICOM modality, so for NIfTI a missing modality passes; every other check applies;
- `prepare` makes it a model input exactly as training stored its images (radiographs:
  `resize_image` to the plan's size with the fit of the run's data source; CT volumes:
  `prepare_ct_volume` with the plan's shape, spacing and HU windows);
- `score` runs the model (`radlens.training.predict_scores`: normalisation and activation).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radlens.core import PLAN, RunPlan, read_plan
from radlens.data import DEFAULT_FITNESS, FitnessRules, check_fitness
from radlens.data.radiographs import read_radiograph, resize_image
from radlens.data.volumes import ORIENTATION, Volume, load_volume, prepare_ct_volume
from radlens.deploy.inputs import NIFTI_SUFFIXES
from radlens.errors import ModelError
from radlens.training import images_to_tensor, load_run, predict_scores

__all__ = ["FITS_BY_SOURCE", "Predictor", "check_run_plan"]

#: how each data source resized its radiographs (`radlens.data.radiographs.decode.resize_image`):
#: image folders are padded (`load_image_folder`'s default), MedMNIST was centre-cropped
FITS_BY_SOURCE = {"image_folder": "pad", "medmnist": "crop"}


def check_run_plan(plan: RunPlan, run_dir: Path, labels: tuple[str, ...]) -> None:
    """ModelError unless `predict` can prepare new inputs for this run from its plan alone."""
    where = run_dir / PLAN
    if tuple(plan.labels) != tuple(labels):
        raise ModelError(
            f"{where}: labels {list(plan.labels)[:6]} differ from checkpoint.pt's "
            f"{list(labels)[:6]}; the plan and the checkpoint belong to different runs"
        )
    if plan.spatial_dims == 2:
        if plan.data_source not in FITS_BY_SOURCE:
            raise ModelError(
                f"{where}: data source {plan.data_source!r}; the plan of a run trained on "
                "arrays does not say how its images were made. predict scores 2D runs "
                f"trained on {sorted(FITS_BY_SOURCE)} and 3D runs trained on a CT cohort"
            )
        if len(set(plan.shape)) != 1 or plan.channels not in (1, 3):
            raise ModelError(
                f"{where}: shape {list(plan.shape)} with {plan.channels} channel(s); expected "
                "square radiographs with 1 or 3 channels"
            )
        return
    if not plan.windows_hu or len(plan.windows_hu) != plan.channels:
        raise ModelError(
            f"{where}: {len(plan.windows_hu or ())} HU window(s) (windows_hu) for "
            f"{plan.channels} channel(s), data source {plan.data_source!r}; predict scores CT "
            "volumes in HU and needs a run trained on a CT cohort, one HU window per channel"
        )
    if plan.orientation not in (None, ORIENTATION):
        raise ModelError(
            f"{where}: orientation {plan.orientation!r}; volumes are prepared in "
            f"{ORIENTATION!r} (radlens.data.volumes.preprocess)"
        )


class Predictor:
    """A run directory loaded for scoring new inputs (model in eval mode on `device`).
    `fitness`: the rules 3D inputs must pass (None: no checks)."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        device: str = "cpu",
        workers: int = 1,
        fitness: FitnessRules | None = DEFAULT_FITNESS,
    ) -> None:
        self.run_dir = Path(run_dir)
        run = load_run(self.run_dir)  # ModelError when the directory or checkpoint is missing
        self.plan = read_plan(self.run_dir)
        self.label_names = tuple(str(n) for n in run.label_names)
        check_run_plan(self.plan, self.run_dir, self.label_names)
        self.device = torch.device(device)
        self.model = run.model.eval().to(self.device)
        self.task = run.task
        self.workers = workers
        self.fitness = fitness

    @property
    def spatial_dims(self) -> int:
        return self.plan.spatial_dims

    def read(self, path: Path) -> Any:
        """Decode one input: a float [0, 1] radiograph, or a `Volume` in HU."""
        if self.plan.spatial_dims == 2:
            return read_radiograph(path, channels=self.plan.channels)
        # with fitness rules a non-CT series is read, then refused by the modality check
        return load_volume(path, workers=self.workers, allow_non_ct=self.fitness is not None)

    def check(self, decoded: Any, path: Path) -> None:
        """NotScorableError (every failed check as a reason) unless a volume passes the fitness
        rules; radiographs and `fitness=None` pass."""
        if self.plan.spatial_dims == 2 or self.fitness is None:
            return
        rules = self.fitness
        if path.name.lower().endswith(NIFTI_SUFFIXES):
            rules = dataclasses.replace(rules, allow_missing_modality=True)
        check_fitness(decoded, rules)

    def prepare(self, decoded: Any) -> np.ndarray:
        """A decoded input as the run's training images were stored: uint8 (H, W[, 3]) or
        (C, D, H, W)."""
        plan = self.plan
        if plan.spatial_dims == 2:
            fit = FITS_BY_SOURCE[plan.data_source]
            return resize_image(decoded, int(plan.shape[0]), fit=fit)  # type: ignore[arg-type]
        volume: Volume = decoded
        return prepare_ct_volume(volume, plan.shape, plan.spacing_mm, plan.windows_hu or ())

    def tensor(self, prepared: list[np.ndarray]) -> torch.Tensor:
        """Prepared inputs -> one channel-first uint8 batch, as training feeds the model."""
        return images_to_tensor(
            np.stack(prepared), n_channels=self.plan.channels, spatial_dims=self.spatial_dims
        )

    def score(self, batch: torch.Tensor, batch_size: int = 16) -> np.ndarray:
        """(N, K) probabilities, one column per label name."""
        probs = predict_scores(
            self.model, batch, self.task, batch_size=batch_size, device=self.device
        )
        if probs.shape[1] != len(self.label_names):
            raise ModelError(
                f"model in {self.run_dir} gave {probs.shape[1]} outputs for "
                f"{len(self.label_names)} label names"
            )
        return probs
