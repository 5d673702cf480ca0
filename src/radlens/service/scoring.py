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
LABEL_SEPARATORS = ("@", "/", "|")
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


def _input_shape(config: Any) -> tuple[int, int, int]:
    """The (D, H, W) the run was trained on, from its resolved config (default 64^3)."""
    data = config if isinstance(config, dict) else getattr(config, "__dict__", {})
    if hasattr(config, "model_dump"):
        data = config.model_dump()
    for key in ("input_shape", "volume_shape", "crop_shape", "shape", "size"):
        value = _find_key(data, key)
        if isinstance(value, list | tuple) and len(value) == 3:
            return tuple(int(v) for v in value)  # type: ignore[return-value]
        if isinstance(value, int) and value > 0:
            return (value, value, value)
    return (64, 64, 64)


def _find_key(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


class ModelScorer:
    """Scores a CT volume with a trained run directory (`radlens.training.load_run`).

    The volume is windowed to [-1000, 400] HU, scaled to [0, 1] and resized to the run's input
    shape; outputs are sigmoid probabilities named by the run's label names. Heatmaps are Grad-CAM
    maps from `radlens.explain` resized back to the volume's shape.
    """

    def __init__(self, run_dir: Path | str, *, heatmap_threshold: float = 0.5) -> None:
        import torch

        try:
            from radlens.training import load_run
        except ImportError as exc:
            raise ModelError(f"cannot load model runs: radlens.training.load_run missing ({exc})")
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise ModelError(f"model run directory {self.run_dir} does not exist")
        loaded = load_run(self.run_dir)
        self.model = loaded.model.eval()
        self.label_names = [str(n) for n in loaded.label_names]
        self.task = loaded.task
        self.input_shape = _input_shape(loaded.config)
        self.heatmap_threshold = heatmap_threshold
        self.model_version = f"{self.run_dir.name}"
        self._torch = torch
        self._last: tuple[int, Any] | None = None

    def _tensor(self, volume: Any):
        torch = self._torch
        lo, hi = CT_WINDOW
        arr = np.clip((np.asarray(volume.array, np.float32) - lo) / (hi - lo), 0.0, 1.0)
        x = torch.from_numpy(arr)[None, None]
        return torch.nn.functional.interpolate(
            x, size=self.input_shape, mode="trilinear", align_corners=False
        )

    def score(self, volume: Any) -> list[Prediction]:
        torch = self._torch
        x = self._tensor(volume)
        with torch.no_grad():
            logits = self.model(x).float()
        if logits.ndim != 2 or logits.shape[1] != len(self.label_names):
            raise ModelError(
                f"model in {self.run_dir} gave output shape {tuple(logits.shape)}, expected "
                f"(1, {len(self.label_names)}) for labels {self.label_names[:5]}..."
            )
        probs = torch.sigmoid(logits)[0].numpy()
        self._last = (id(volume), probs)
        return [
            Prediction(*split_label(name), float(p))
            for name, p in zip(self.label_names, probs, strict=True)
        ]

    def heatmaps(self, volume: Any) -> dict[str, np.ndarray]:
        """Grad-CAM per abnormality whose best probability reaches the threshold."""
        import torch.nn.functional as F

        from radlens.explain.cam import compute_cam

        preds = self.score(volume)
        best: dict[str, tuple[float, int]] = {}
        for idx, pred in enumerate(preds):
            if pred.score >= self.heatmap_threshold and pred.score > best.get(
                pred.abnormality, (-1.0, 0)
            )[0]:
                best[pred.abnormality] = (pred.score, idx)
        out: dict[str, np.ndarray] = {}
        if not best:
            return out
        x = self._tensor(volume)
        for abnormality, (_, idx) in best.items():
            cam = compute_cam(self.model, x, idx).maps[0]
            t = self._torch.from_numpy(cam)[None, None]
            up = F.interpolate(t, size=volume.array.shape, mode="trilinear", align_corners=False)
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
