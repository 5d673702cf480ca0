"""What an explanation claims, measured on the checkpoint being explained.

* Scores and outcomes (TP / FP / FN / TN) come from the model's own logits for the explained case
  (`checkpoint_outcome`), never from a predictions table that another checkpoint wrote.
* Evidence keeps its size: Grad-CAM / HiResCAM maps are gradient x activation, in logit units;
  `CaseMaps` keeps each map's raw maximum (`raw_max`) besides its shape, and `on_scale` draws a
  map against one shared scale (`evidence_scale`: the `EVIDENCE_PERCENTILE`th percentile of the
  per-map maxima of the explained set, or a scale given, e.g. the trained model's for its
  randomised copy), so a map with little evidence is drawn faint instead of stretched to 1.
* Localization of the explained cases (`localize_cases`): strict and tolerant pointing game
  (`Tolerance`: mm with a voxel spacing, else voxels), chance, the Poisson-binomial and
  permutation p-values of `radlens.explain.localization`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress
from torch import nn

from radlens.errors import ConfigError, DataError
from radlens.explain.cam import CamExplainer, CamMethod
from radlens.explain.localization import (
    case_record,
    near_mask,
    score_heatmap,
    summarise_localization,
)
from radlens.models import Task

__all__ = [
    "DEFAULT_TOLERANCE_MM",
    "EVIDENCE_PERCENTILE",
    "CaseMaps",
    "Tolerance",
    "case_maps",
    "checkpoint_outcome",
    "evidence_scale",
    "localize_cases",
    "on_scale",
    "parse_tolerance",
]

#: the shared drawing scale is this percentile of the explained maps' raw maxima
EVIDENCE_PERCENTILE = 95.0
#: pointing-game tolerance when a run has a voxel spacing (about one 10 mm slice, 2 in-plane
#: voxels of the CT demo); without one: 1 voxel (Chebyshev)
DEFAULT_TOLERANCE_MM = 10.0


@dataclass(frozen=True)
class Tolerance:
    """Pointing-game tolerance: `value` in "mm" (Euclidean, needs `spacing`) or "voxel"
    (Chebyshev, whole voxels)."""

    value: float
    unit: str
    spacing: tuple[float, ...] | None = None

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"

    def near(self, mask: np.ndarray) -> np.ndarray:
        return near_mask(mask, self.value, spacing=self.spacing if self.unit == "mm" else None)


def parse_tolerance(spec: str | float | None, spacing: Sequence[float] | None) -> Tolerance:
    """'10mm', '2vox' / '2voxel' / '2' (voxels), or None: `DEFAULT_TOLERANCE_MM` mm when the
    run has a `spacing` (z, y, x mm), else 1 voxel."""
    sp = None if spacing is None else tuple(float(v) for v in spacing)
    if spec is None:
        return Tolerance(DEFAULT_TOLERANCE_MM, "mm", sp) if sp else Tolerance(1, "voxel")
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(mm|vox|voxels?)?\s*", str(spec).lower())
    if match is None:
        raise ConfigError(
            f"--tolerance {spec!r}: expected a distance such as '10mm' or '1vox' (voxels)"
        )
    value, unit = float(match.group(1)), match.group(2) or "voxel"
    if unit == "mm":
        if sp is None:
            raise ConfigError(
                f"--tolerance {spec!r} is in mm but the run's plan has no voxel spacing;"
                " give it in voxels, e.g. '1vox'"
            )
        return Tolerance(value, "mm", sp)
    if value != int(value):
        raise ConfigError(f"--tolerance {spec!r}: voxels must be a whole number")
    return Tolerance(int(value), "voxel")


@dataclass
class CaseMaps:
    """Maps of explained cases: `shape` (each map divided by its own maximum, float16),
    `raw_max` (that maximum: the strongest gradient-weighted evidence, logit units), `logits`
    (N, K) of the explained model, `layer` and `method`."""

    shape: list[np.ndarray]
    raw_max: np.ndarray
    logits: np.ndarray
    layer: str
    method: str

    def raw(self, n: int) -> np.ndarray:
        return self.shape[n].astype(np.float32) * np.float32(self.raw_max[n])


def case_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    rows: Sequence[int],
    outputs: Sequence[int],
    *,
    method: CamMethod = "gradcam",
    layer: str | None = None,
    progress: bool = True,
) -> CaseMaps:
    """One map per case: row `rows[i]` of `inputs` explaining output column `outputs[i]`."""
    if len(rows) != len(outputs):
        raise DataError(f"{len(rows)} rows for {len(outputs)} outputs; expected one per case")
    shapes, peaks, logits = [], [], []
    with (
        CamExplainer(model, method=method, layer=layer) as cam,
        Progress(transient=True, disable=not progress) as bar,
    ):
        task = bar.add_task("heatmaps", total=len(rows))
        for row, out in zip(rows, outputs, strict=True):
            if not 0 <= row < len(inputs):
                raise DataError(f"case index {row} outside the {len(inputs)} images given")
            result = cam(inputs[row : row + 1].float(), class_idx=out)
            shapes.append(result.maps[0].astype(np.float16))
            peaks.append(float(result.raw_max[0]))
            logits.append(result.scores[0])
            bar.advance(task)
        used = cam.layer or ""
    return CaseMaps(shapes, np.asarray(peaks), np.asarray(logits), used, str(method))


def evidence_scale(
    raw_max: Sequence[float] | np.ndarray, percentile: float = EVIDENCE_PERCENTILE
) -> float:
    """The shared drawing scale: the `percentile`th percentile of the maps' raw maxima (1.0 when
    every map is empty, so empty maps stay empty)."""
    peaks = np.asarray(raw_max, dtype=np.float64)
    if peaks.size == 0:
        raise DataError("no maps to take an evidence scale from")
    scale = float(np.percentile(peaks, percentile))
    return scale if scale > 0 else 1.0


def on_scale(maps: CaseMaps, n: int, scale: float) -> np.ndarray:
    """Map `n` in units of `scale`, clipped to [0, 1] for drawing."""
    if not scale > 0:
        raise ConfigError(f"evidence scale {scale} must be > 0")
    return np.clip(maps.raw(n) / np.float32(scale), 0.0, 1.0)


def checkpoint_outcome(
    task: Task, logits: np.ndarray, label: str, target: float
) -> tuple[float, str]:
    """(score, outcome) of `label` from the explained model's own `logits` (K,): the score as
    the run's predictions are made (`Task.activate`), the prediction as `Task.predict` makes it
    (score > 0.5, or the arg-max class), the outcome TP / FP / FN / TN against `target` (1 / 0;
    NaN: "positive" / "negative")."""
    names = list(task.label_names)
    if label not in names:
        raise ConfigError(f"label {label!r} is not an output of this run; has {names[:5]}...")
    k = names.index(label)
    scores = task.activate(torch.as_tensor(np.asarray(logits, np.float32)[None])).numpy()
    predicted = np.asarray(task.predict(scores))[0]
    if task.multi_label:
        positive = bool(predicted[k])
    elif task.kind == "binary":
        positive = bool(predicted) and k == len(names) - 1
    else:
        positive = int(predicted) == k
    if np.isnan(target):
        return float(scores[0, k]), "positive" if positive else "negative"
    truth = target >= 0.5
    outcome = ("T" if positive == truth else "F") + ("P" if positive else "N")
    return float(scores[0, k]), outcome


def localize_cases(
    maps: CaseMaps,
    masks: Sequence[np.ndarray | None],
    labels: Sequence[str],
    tolerance: Tolerance,
) -> tuple[list[dict[str, object]], pd.DataFrame | None]:
    """Per-case localization columns (empty dict where a case has no mask) and the per-label
    table (`summarise_localization` with permutation p-values), None without masks."""
    rows: list[dict[str, object]] = []
    records, near, strict = [], [], []
    for n, (mask, label) in enumerate(zip(masks, labels, strict=True)):
        if mask is None or not np.asarray(mask).any():
            rows.append({})
            continue
        m = np.asarray(mask, bool)
        near.append(tolerance.near(m))
        strict.append(m)
        score = score_heatmap(maps.raw(n), m)
        hit, chance = bool(near[-1][score.peak]), float(near[-1].mean())
        records.append(case_record(score, label) | {"hit": hit, "chance": chance})
        rows.append(
            {
                "pointing_game": hit,
                "pointing_game_strict": score.strict_hit,
                "tolerance": str(tolerance),
                "chance": chance,
                "chance_strict": score.strict_chance,
                "iou": score.iou,
                "dice": score.dice,
            }
        )
    if not records:
        return rows, None
    one_grid = len({m.shape for m in strict}) == 1
    table = summarise_localization(
        pd.DataFrame(records),
        near_masks=near if one_grid else None,
        strict_masks=strict if one_grid else None,
    )
    table.insert(1, "tolerance", str(tolerance))
    return rows, table.rename(columns={"group": "label"})
