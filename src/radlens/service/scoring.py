"""The pluggable `Scorer` the worker runs on each complete study, and the model-backed one.

A scorer turns a `Volume` into named predictions (abnormality x location, probability) and may
also give heatmaps (abnormality -> (Z, Y, X) float array in [0, 1]). `load_scorer(settings)` picks
the configured one: `RADLENS_SCORER=package.module:factory` (a plug-in), else
`ModelScorer(RADLENS_MODEL_RUN)`, else none (studies are stored and shown unscored).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from radlens.errors import ConfigError, ModelError

log = logging.getLogger(__name__)
LABEL_SEPARATORS = ("@", "/", "|", ":")
CT_WINDOW = (-1000.0, 400.0)


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


class ModelScorer:
    """Scores a CT volume with a trained run directory (`radlens.runs.load_run`).

    Preprocessing follows the chest-CT training path (`radlens.data.preprocess.preprocess_volume`):
    reorient, resample to `target_spacing` (default: the whole volume fitted to the run's input
    shape, as the cohort loader fits the phantom field of view), crop/pad to the input shape
    (depth x side x side from the checkpoint's geometry), then one channel per HU window (default
    -1000..400) scaled to [0, 1]. The run's own prediction path (`radlens.device_data
    .predict_scores`: normalisation + the task's activation) gives probabilities named by the
    run's label names ('abnormality' or 'abnormality@location'). Heatmaps are Grad-CAM maps
    (`radlens.explain`) resized back to the volume's shape.
    """

    def __init__(
        self,
        run_dir: Path | str,
        *,
        heatmap_threshold: float = 0.5,
        windows: tuple = (CT_WINDOW,),
        target_spacing: tuple[float, float, float] | None = None,
    ) -> None:
        import hashlib

        try:
            from radlens.runs import load_run
        except ImportError as exc:
            raise ModelError(
                f"cannot load model runs: radlens.runs.load_run missing ({exc})"
            ) from exc
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise ModelError(f"model run directory {self.run_dir} does not exist")
        run = load_run(self.run_dir)
        geometry = dict(run.checkpoint.get("geometry", {}))
        if geometry.get("spatial_dims") != 3:
            raise ModelError(
                f"run {self.run_dir} is a {geometry.get('spatial_dims')}D model; the service "
                "scores 3D CT volumes and needs a 3D run"
            )
        self.model, self.task = run.model.eval(), run.task
        self.label_names = [str(n) for n in run.label_names]
        side = int(geometry.get("min_side", 64))
        self.input_shape = (int(geometry.get("depth", side)), side, side)
        self.windows = tuple(windows)
        if int(geometry.get("in_channels", 1)) != len(self.windows):
            raise ModelError(
                f"run {self.run_dir} takes {geometry.get('in_channels')} channel(s) but "
                f"{len(self.windows)} HU window(s) were given; pass one window per channel"
            )
        self.target_spacing = target_spacing
        self.heatmap_threshold = heatmap_threshold
        digest = hashlib.sha256((self.run_dir / "checkpoint.pt").read_bytes()).hexdigest()
        self.model_version = f"{self.run_dir.name}@{digest[:12]}"

    def _tensor(self, volume: Any):
        import torch

        from radlens.data.preprocess import preprocess_volume, resolve_window

        spacing = self.target_spacing or tuple(
            sp * n / s
            for sp, n, s in zip(volume.spacing, volume.array.shape, self.input_shape, strict=True)
        )
        hu = preprocess_volume(volume, target_spacing=spacing, shape=self.input_shape)[0]
        channels = []
        for window in self.windows:
            lo, hi = resolve_window(window)
            channels.append(np.clip((hu - lo) / (hi - lo), 0.0, 1.0))
        return torch.from_numpy(np.stack(channels).astype(np.float32))[None]

    def score(self, volume: Any) -> list[Prediction]:
        from radlens.device_data import predict_scores

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

    def heatmaps(self, volume: Any) -> dict[str, np.ndarray]:
        """Grad-CAM per abnormality whose best probability reaches the threshold."""
        import torch
        import torch.nn.functional as F

        from radlens.device_data import normalise
        from radlens.explain.cam import compute_cam

        best: dict[str, tuple[float, int]] = {}
        for idx, pred in enumerate(self.score(volume)):
            if (
                pred.score >= self.heatmap_threshold
                and pred.score > best.get(pred.abnormality, (-1.0, 0))[0]
            ):
                best[pred.abnormality] = (pred.score, idx)
        out: dict[str, np.ndarray] = {}
        x = normalise(self._tensor(volume))
        for abnormality, (_, idx) in best.items():
            cam = torch.from_numpy(compute_cam(self.model, x, idx).maps[0])[None, None]
            up = F.interpolate(cam, size=volume.array.shape, mode="trilinear", align_corners=False)
            out[abnormality] = up[0, 0].numpy().clip(0, 1).astype(np.float32)
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
