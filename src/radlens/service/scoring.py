"""The pluggable `Scorer` the worker runs on each complete study, and the model-backed one.

A scorer turns a `Volume` into named predictions (abnormality x location, probability) and may
also give heatmaps (abnormality -> (Z, Y, X) float array in [0, 1]). `load_scorer(settings)` picks
the configured one: `RADLENS_SCORER=package.module:factory` (a plug-in), else
`ModelScorer(RADLENS_MODEL_RUN)`, else none (studies are stored and shown unscored).
`ModelScorer` prepares volumes only as the run's plan (`RUN/plan.json`) says.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from radlens.core import CHECKPOINT, PLAN, RunPlan, read_plan
from radlens.data.volumes import ORIENTATION, Volume, prepare_ct_volume
from radlens.errors import ConfigError, ModelError
from radlens.explain import compute_cam
from radlens.training import images_to_tensor, load_run, normalise, predict_scores

log = logging.getLogger(__name__)
LABEL_SEPARATORS = ("@", "/", "|", ":")


@dataclass(frozen=True)
class Prediction:
    """One model output: abnormality id, location id (None = anywhere) and probability."""

    abnormality: str
    location: str | None
    score: float


@runtime_checkable
class Scorer(Protocol):
    """What the worker needs; `heatmaps(volume)` is optional (checked with `hasattr`)."""

    model_version: str

    def score(self, volume: Any) -> list[Prediction]: ...


def split_label(label: str) -> tuple[str, str | None]:
    """'nodule@right_upper_lobe' (or '/', '|') -> ('nodule', 'right_upper_lobe'); 'nodule' ->
    ('nodule', None)."""
    for sep in LABEL_SEPARATORS:
        if sep in label:
            abnormality, _, location = label.partition(sep)
            return abnormality.strip(), (location.strip() or None)
    return label.strip(), None


def prepare_volume(volume: Volume, plan: RunPlan) -> np.ndarray:
    """A CT volume as the run's training volumes were stored, (C, D, H, W) uint8: the plan's
    shape, spacing (None: the whole volume fitted to the shape) and HU windows through
    `radlens.data.volumes.preprocess.prepare_ct_volume`, the function training used."""
    return prepare_ct_volume(volume, plan.shape, plan.spacing_mm, plan.windows_hu or ())


def check_plan(plan: RunPlan, run_dir: Path, in_channels: int, labels: Sequence[str]) -> None:
    """ModelError unless the plan describes CT volumes the service can prepare for this model."""
    where = run_dir / PLAN
    if plan.spatial_dims != 3 or len(plan.shape) != 3:
        raise ModelError(
            f"{where}: a {plan.spatial_dims}D run (shape {list(plan.shape)}); the service scores "
            "3D CT volumes and needs a 3D run"
        )
    if not plan.windows_hu:
        raise ModelError(
            f"{where}: no windows_hu (data source {plan.data_source!r}); the service scores CT "
            "volumes in HU and needs a run trained on CT volumes with one HU window per channel"
        )
    if in_channels != len(plan.windows_hu) or plan.channels != in_channels:
        raise ModelError(
            f"run {run_dir} takes {in_channels} channel(s) but {where} gives "
            f"{len(plan.windows_hu)} HU window(s) for {plan.channels} channel(s); expected one "
            "window per channel"
        )
    if plan.orientation not in (None, ORIENTATION):
        raise ModelError(
            f"{where}: orientation {plan.orientation!r}; the service prepares volumes in "
            f"{ORIENTATION!r} (radlens.data.volumes.preprocess)"
        )
    if tuple(plan.labels) != tuple(labels):
        raise ModelError(
            f"{where}: labels {list(plan.labels)[:6]}... differ from the checkpoint's "
            f"{list(labels)[:6]}...; the plan and the checkpoint belong to different runs"
        )


class ModelScorer:
    """Scores a CT volume with a trained run directory (`radlens.training.run.load_run`).

    The volume is prepared as the run's plan says (`RUN/plan.json`, `prepare_volume`); the run's
    prediction path (`radlens.training.device.predict_scores`: normalisation + activation)
    gives probabilities named by the run's labels ('abnormality' or 'abnormality@location').
    Heatmaps are Grad-CAM maps (`radlens.explain`) per output label that reaches
    `heatmap_threshold` (and always the top one; at most `max_heatmaps`), resized to the
    volume's shape.
    """

    def __init__(
        self, run_dir: Path | str, *, heatmap_threshold: float = 0.5, max_heatmaps: int = 8
    ) -> None:
        self.run_dir = Path(run_dir)
        checkpoint = self.run_dir / CHECKPOINT
        if not checkpoint.is_file():
            raise ModelError(
                f"model run directory {self.run_dir} does not exist or has no {CHECKPOINT}"
            )
        self.plan = read_plan(self.run_dir)
        run = load_run(self.run_dir)
        geometry = dict(run.checkpoint.get("geometry", {}))
        if geometry.get("spatial_dims") != 3:
            raise ModelError(
                f"run {self.run_dir} is a {geometry.get('spatial_dims')}D model; the service "
                "scores 3D CT volumes and needs a 3D run"
            )
        self.label_names = [str(n) for n in run.label_names]
        check_plan(self.plan, self.run_dir, int(geometry.get("in_channels", 1)), self.label_names)
        self.model, self.task = run.model.eval(), run.task
        self.heatmap_threshold = heatmap_threshold
        self.max_heatmaps = max_heatmaps
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        self.model_version = f"{self.run_dir.name}@{digest[:12]}"
        log.info("model scorer %s, plan %s", self.model_version, self.plan)

    def _tensor(self, volume: Volume) -> torch.Tensor:
        """(1, C, D, H, W) uint8, as training feeds its stored volumes to the model."""
        return images_to_tensor(
            prepare_volume(volume, self.plan)[None], n_channels=self.plan.channels, spatial_dims=3
        )

    def score(self, volume: Volume) -> list[Prediction]:
        probs = predict_scores(self.model, self._tensor(volume), self.task, batch_size=1)[0]
        if len(probs) != len(self.label_names):
            raise ModelError(
                f"model in {self.run_dir} gave {len(probs)} outputs for "
                f"{len(self.label_names)} label names"
            )
        return [
            Prediction(*split_label(name), float(p))
            for name, p in zip(self.label_names, probs, strict=True)
        ]

    def heatmaps(self, volume: Volume) -> dict[str, np.ndarray]:
        """Grad-CAM per output label ('abnormality' or 'abnormality@location') whose probability
        reaches the threshold, plus the most probable one; keys are the label names."""
        scored = sorted(((p.score, i) for i, p in enumerate(self.score(volume))), reverse=True)
        # the top output always gets one: the worklist's top finding can always be shown
        chosen = [i for k, (s, i) in enumerate(scored) if k == 0 or s >= self.heatmap_threshold]
        chosen = chosen[: self.max_heatmaps]
        out: dict[str, np.ndarray] = {}
        x = normalise(self._tensor(volume))
        for idx in chosen:
            cam = torch.from_numpy(compute_cam(self.model, x, idx).maps[0])[None, None].float()
            up = F.interpolate(cam, size=volume.array.shape, mode="trilinear", align_corners=False)
            out[self.label_names[idx]] = up[0, 0].numpy().clip(0, 1).astype(np.float32)
        return out


def load_scorer(scorer_spec: str, model_run: Path | None) -> Scorer | None:
    """The configured scorer: a `module:factory` plug-in, else a ModelScorer, else None."""
    if scorer_spec:
        module_name, _, attr = scorer_spec.partition(":")
        if not module_name or not attr:
            raise ConfigError(
                f"RADLENS_SCORER {scorer_spec!r} must look like 'package.module:factory'"
            )
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"RADLENS_SCORER {scorer_spec!r} cannot be imported: {exc}") from exc
        scorer = factory()
        if not isinstance(scorer, Scorer):
            raise ConfigError(
                f"RADLENS_SCORER {scorer_spec!r} built {type(scorer).__name__}, which lacks "
                "score(volume) and model_version"
            )
        return scorer
    if model_run is not None:
        return ModelScorer(model_run)
    log.warning("no scorer configured (RADLENS_MODEL_RUN / RADLENS_SCORER): studies stay unscored")
    return None
