"""The pluggable `Scorer` the worker runs on each complete study, and the model-backed one.

A scorer turns a `Volume` into named predictions (abnormality x location, probability) and may
also give heatmaps (abnormality -> (Z, Y, X) float array in [0, 1]). `load_scorer(settings)` picks
the configured one: `RADLENS_SCORER=package.module:factory` (a plug-in), else
`ModelScorer(RADLENS_MODEL_RUN)`, else none (studies are stored and shown unscored).
"""

from __future__ import annotations

import importlib
import json
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


PREPROCESSING_FILE = "preprocessing.json"
CHEST_CT_DATASET = "chest_ct_cohort"


@dataclass(frozen=True)
class RunPreprocessing:
    """How a run's training volumes were made, so the service feeds the model the same thing.

    shape (D, H, W) voxels; windows: one (lo, hi) HU window per input channel; spacing (z, y, x)
    mm or None (the whole volume fitted to `shape`); source: where these values came from.
    """

    shape: tuple[int, int, int]
    windows: tuple[tuple[float, float], ...]
    spacing: tuple[float, float, float] | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "windows": [list(w) for w in self.windows],
            "spacing": None if self.spacing is None else list(self.spacing),
            "source": self.source,
        }


def run_preprocessing(run_dir: Path, checkpoint: dict[str, Any], dataset: str) -> RunPreprocessing:
    """The preprocessing a run was trained with, from what the run directory records.

    In order: `RUN/preprocessing.json` or `checkpoint["preprocessing"]` ({"shape", "windows",
    "spacing"}); else, for the synthetic chest-CT cohort (`radlens.data.ct_cohort`, dataset
    "chest_ct_cohort"), that loader's rules: shape from the checkpoint geometry (or the demo's
    `demo.json`), one -1000..400 HU window, spacing = phantom field of view / shape; else the
    whole volume fitted to the checkpoint's input shape with one -1000..400 HU window.
    """
    geometry = dict(checkpoint.get("geometry", {}))
    side = int(geometry.get("min_side", 64))
    shape = (int(geometry.get("depth", side)), side, side)
    recorded: dict[str, Any] | None = checkpoint.get("preprocessing")
    source = "checkpoint.pt"
    path = run_dir / PREPROCESSING_FILE
    if path.is_file():
        try:
            recorded, source = json.loads(path.read_text()), str(path)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path} is not valid JSON ({exc}); expected shape/windows") from exc
    if recorded:
        try:
            spacing = recorded.get("spacing")
            return RunPreprocessing(
                tuple(int(v) for v in recorded.get("shape", shape)),  # type: ignore[arg-type]
                tuple((float(lo), float(hi)) for lo, hi in recorded.get("windows", [CT_WINDOW])),
                None if spacing is None else tuple(float(v) for v in spacing),  # type: ignore[arg-type]
                source,
            )
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"{source}: preprocessing {recorded!r} is malformed ({exc}); expected "
                '{"shape": [D, H, W], "windows": [[lo, hi], ...], "spacing": [z, y, x] | null}'
            ) from exc
    if dataset == CHEST_CT_DATASET:
        return _ct_cohort_defaults(run_dir, shape)
    return RunPreprocessing(shape, (CT_WINDOW,), None, "fit volume to input shape")


def _ct_cohort_defaults(run_dir: Path, shape: tuple[int, int, int]) -> RunPreprocessing:
    """What `load_ct_cohort` does when called with its defaults (as `radlens demo` does):
    its default HU windows, spacing = phantom field of view / shape."""
    import inspect

    from radlens.data.ct_cohort import load_ct_cohort
    from radlens.data.volumes.preprocess import resolve_window
    from radlens.phantom.geometry import FOV_MM

    demo = run_dir.parent / "demo.json"
    if demo.is_file():
        demo_shape = json.loads(demo.read_text()).get("shape")
        if demo_shape and len(demo_shape) == 3 and demo_shape[0] == shape[0]:
            shape = tuple(int(v) for v in demo_shape)  # type: ignore[assignment]
    default = inspect.signature(load_ct_cohort).parameters["windows"].default
    single = isinstance(default, str) or (len(default) == 2 and not isinstance(default[0], tuple))
    windows = tuple(
        tuple(float(v) for v in resolve_window(w))  # type: ignore[union-attr]
        for w in ([default] if single else default)
    )
    spacing = tuple(FOV_MM[i] / shape[i] for i in range(3))
    return RunPreprocessing(shape, windows, spacing, "ct_cohort defaults")  # type: ignore[arg-type]


class ModelScorer:
    """Scores a CT volume with a trained run directory (`radlens.training.run.load_run`).

    Preprocessing is the run's own (`run_preprocessing`), through the same function training
    used (`radlens.data.volumes.preprocess.preprocess_volume`): reorient, resample to the recorded
    spacing, crop/pad to the input shape, one channel per HU window scaled to [0, 1]; then the
    run's prediction path (`radlens.training.device.predict_scores`: normalisation + activation)
    gives probabilities named by the run's label names ('abnormality' or
    'abnormality@location'). Heatmaps are Grad-CAM maps (`radlens.explain`) per output label
    that reaches `heatmap_threshold` (and always the top one; at most `max_heatmaps`), resized
    to the volume's shape.
    """

    def __init__(
        self,
        run_dir: Path | str,
        *,
        heatmap_threshold: float = 0.5,
        max_heatmaps: int = 8,
        preprocessing: RunPreprocessing | None = None,
    ) -> None:
        import hashlib

        from radlens.training.run import load_run

        self.run_dir = Path(run_dir)
        if not (self.run_dir / "checkpoint.pt").is_file():
            raise ModelError(
                f"model run directory {self.run_dir} does not exist or has no checkpoint.pt"
            )
        run = load_run(self.run_dir)
        geometry = dict(run.checkpoint.get("geometry", {}))
        if geometry.get("spatial_dims") != 3:
            raise ModelError(
                f"run {self.run_dir} is a {geometry.get('spatial_dims')}D model; the service "
                "scores 3D CT volumes and needs a 3D run"
            )
        self.model, self.task = run.model.eval(), run.task
        self.label_names = [str(n) for n in run.label_names]
        dataset = str(getattr(run.config, "dataset", ""))
        self.preprocessing = preprocessing or run_preprocessing(
            self.run_dir, run.checkpoint, dataset
        )
        n_in = int(geometry.get("in_channels", 1))
        if n_in != len(self.preprocessing.windows):
            raise ModelError(
                f"run {self.run_dir} takes {n_in} channel(s) but its preprocessing "
                f"({self.preprocessing.source}) gives {len(self.preprocessing.windows)} HU "
                "window(s); expected one window per channel"
            )
        self.heatmap_threshold = heatmap_threshold
        self.max_heatmaps = max_heatmaps
        digest = hashlib.sha256((self.run_dir / "checkpoint.pt").read_bytes()).hexdigest()
        self.model_version = f"{self.run_dir.name}@{digest[:12]}"
        log.info("model scorer %s, preprocessing %s", self.model_version, self.preprocessing)

    def _tensor(self, volume: Any):
        import torch

        from radlens.data.volumes.preprocess import preprocess_volume

        pre = self.preprocessing
        spacing = pre.spacing or tuple(
            sp * n / s
            for sp, n, s in zip(volume.spacing, volume.array.shape, pre.shape, strict=True)
        )
        hu = preprocess_volume(volume, target_spacing=spacing, shape=pre.shape)[0]
        channels = [np.clip((hu - lo) / (hi - lo), 0.0, 1.0) for lo, hi in pre.windows]
        # training stores uint8 (round(x * 255)); quantise the same way
        stacked = np.round(np.stack(channels) * 255.0).astype(np.uint8)
        return torch.from_numpy(stacked)[None]

    def score(self, volume: Any) -> list[Prediction]:
        from radlens.training.device import predict_scores

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
        """Grad-CAM per output label ('abnormality' or 'abnormality@location') whose probability
        reaches the threshold, plus the most probable one; keys are the label names."""
        import torch
        import torch.nn.functional as F

        from radlens.explain.cam import compute_cam
        from radlens.training.device import normalise

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
