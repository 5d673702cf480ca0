"""Localization of a chest-CT run's heatmaps against the synthetic cohort's lesion masks.

For every study of a split that truly has an abnormality (the cohort's true findings, not the
report labels) and that the model has an output for, the Grad-CAM map of that output is scored
against the abnormality's mask (`radlens.explain.localization`): pointing game, IoU / Dice of the
thresholded map, and the chance hit rate of a pointer dropped uniformly inside the patient's body
(`body_region` of the volume, rebuilt from the model input's HU window), with a one-sided binomial
test of the hits against that chance. Two controls go through the same scoring: the map inverted
(1 - map, what MONAI's default normaliser draws) and mirrored left-right (a flipped axis); a
correct pipeline beats chance, the controls should not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import Progress
from torch import nn

from radlens.core import RunPlan, read_plan
from radlens.data import ArrayDataset
from radlens.errors import DataError, EvaluationError
from radlens.explain.cam import CamExplainer, CamMethod
from radlens.explain.evidence import Tolerance, parse_tolerance
from radlens.explain.localization import (
    body_region,
    case_record,
    score_heatmap,
    summarise_localization,
)
from radlens.explain.masks import resized_mask, study_fovs
from radlens.training import LoadedRun, images_to_tensor, load_dataset, load_run, normalise

log = logging.getLogger(__name__)

BODY_HU = -500.0  # body = voxels denser than this (lungs filled in per slice)
CONTROLS: dict[str, str] = {"inverted": "1 - map", "flipped_lr": "map mirrored left-right"}

__all__ = ["CONTROLS", "RunLocalization", "body_from_inputs", "localize_run"]


@dataclass
class RunLocalization:
    """`table`: per abnormality and "all": n, hits, pointing_game (within the tolerance),
    pointing_game_strict, iou, dice, chance, chance_strict, p_value / p_value_strict (Poisson-
    binomial against each case's chance), perm_p_value / perm_p_value_strict (peaks permuted
    across the group's cases), and `<control>_pointing_game` / `<control>_p_value` per control;
    `cases`: one row per scored case (id, group, hit, strict_hit, iou, dice, chance, peak, score,
    control hits)."""

    table: pd.DataFrame
    cases: pd.DataFrame
    layer: str
    method: str
    tolerance: str
    split: str

    def to_dict(self) -> dict[str, object]:
        return {
            "split": self.split,
            "method": self.method,
            "layer": self.layer,
            "tolerance": self.tolerance,
            "chance": "uniform random point inside the body (HU > -500, lungs filled)",
            "per_abnormality": self.table.set_index("group").to_dict(orient="index"),
        }


def body_from_inputs(image: np.ndarray, windows: Sequence[Sequence[float]]) -> np.ndarray | None:
    """Body mask of one stored cohort volume (C, D, H, W) uint8, one channel per HU window: the
    first window containing -500 HU is mapped back to HU; None when no window does."""
    for c, (lo, hi) in enumerate(windows):
        if lo < BODY_HU < hi:
            hu = float(lo) + np.asarray(image[c], np.float32) / 255.0 * (float(hi) - float(lo))
            return body_region(hu, threshold=BODY_HU)
    return None


def _load(run_dir: str | Path, dataset: ArrayDataset | None) -> tuple[LoadedRun, ArrayDataset]:
    run = load_run(run_dir)
    ds = dataset if dataset is not None else load_dataset(run.config)
    if not all(k in ds.extra for k in ("mask_path", "true_labels", "truth_names")):
        raise EvaluationError(
            f"dataset {ds.name!r} of run {run_dir} has no ground-truth masks; localization needs"
            " a synthetic chest-CT cohort (`radlens cohort synth`, `radlens demo`)"
        )
    return run, ds


def _cases(
    run: LoadedRun, ds: ArrayDataset, split: str, max_cases: int | None
) -> list[tuple[str, int]]:
    """(abnormality, row) of every study of `split` that truly has an abnormality the model has
    an output for, at most `max_cases` per abnormality (the first in split order)."""
    if split not in ds.images:
        raise DataError(f"dataset {ds.name!r} has no split {split!r}; has {ds.splits}")
    truth_names = list(ds.extra["truth_names"])  # type: ignore[arg-type]
    truth = np.asarray(ds.extra["true_labels"][split])  # type: ignore[index]
    outputs = [n for n in run.label_names if "@" not in n and n in truth_names]
    if not outputs:
        raise EvaluationError(
            f"run {run.run_dir} has no output named after a cohort abnormality; outputs"
            f" {list(run.label_names)[:5]}..., abnormalities {truth_names}"
        )
    todo = []
    for label in outputs:
        rows = np.flatnonzero(truth[:, truth_names.index(label)] == 1)
        todo.extend((label, int(r)) for r in rows[:max_cases])
    if not todo:
        raise EvaluationError(f"split {split!r} has no study with a true finding to localize")
    return todo


@dataclass
class _Scorer:
    """Scores one case's heatmap against its mask on the run's input grid (plan shape; each
    mask resampled to the plan's spacing over its study's field of view `fovs`, when known)."""

    ds: ArrayDataset
    split: str
    plan: RunPlan
    tolerance: Tolerance
    threshold: float
    fovs: np.ndarray | None = None  # (N, 3) z, y, x mm per study of the split (`study_fovs`)
    bodies: dict[int, np.ndarray | None] = field(default_factory=dict)
    near: list[np.ndarray] = field(default_factory=list)  # per scored case, for the permutations
    strict: list[np.ndarray] = field(default_factory=list)

    def body(self, row: int) -> np.ndarray | None:
        if row not in self.bodies:
            windows = self.plan.windows_hu
            image = self.ds.images[self.split][row]
            self.bodies[row] = body_from_inputs(image, windows) if windows else None
        return self.bodies[row]

    def __call__(
        self, label: str, row: int, heat: np.ndarray, score: float
    ) -> dict[str, object] | None:
        spacing = self.plan.spacing_mm
        fov = None if self.fovs is None else self.fovs[row]
        grid = (spacing, fov) if spacing is not None and fov is not None else (None, None)
        path = str(self.ds.extra["mask_path"][self.split][row])  # type: ignore[index]
        mask = resized_mask(path, label, self.plan.shape, *grid)
        if mask is None:
            log.warning("study %d: no %s mask; skipped", row, label)
            return None
        near = self.tolerance.near(mask)
        region = self.body(row)
        s = score_heatmap(heat, mask, threshold=self.threshold, region=region)
        record = {"id": str(self.ds.ids[self.split][row]), **case_record(s, label)}
        inside = near if region is None else near[region]
        record |= {"hit": bool(near[s.peak]), "chance": float(inside.mean()), "score": score}
        self.near.append(near)
        self.strict.append(mask)
        controls = {"inverted": 1.0 - heat, "flipped_lr": heat[..., ::-1]}
        for name, h in controls.items():  # only the pointing game of each control
            record[f"{name}_hit"] = bool(near[np.unravel_index(int(np.argmax(h)), h.shape)])
        return record


def _check_shape(ds: ArrayDataset, split: str, plan: RunPlan) -> None:
    """The dataset's volumes must be the run's input shape (the masks are put on that grid)."""
    got = tuple(int(v) for v in ds.images[split].shape[-3:])
    if got != tuple(plan.shape):
        raise DataError(
            f"dataset {ds.name!r} split {split!r} holds volumes of shape {got}; the run's plan "
            f"says the model input is {tuple(plan.shape)}"
        )


def localize_run(
    run_dir: str | Path,
    *,
    split: str = "test",
    method: CamMethod = "gradcam",
    layer: str | None = None,
    tolerance: int | str | Tolerance = 1,
    threshold: float = 0.5,
    max_cases: int | None = None,
    dataset: ArrayDataset | None = None,
    batch_size: int = 4,
    progress: bool = True,
    model: nn.Module | None = None,
) -> RunLocalization:
    """Score the run's heatmaps on every truly positive study of `split`, per abnormality.

    Args:
        run_dir: a run trained on a chest-CT cohort (its config.yaml names the cohort folder;
            RUN/plan.json says how its volumes were prepared).
        tolerance: pointing-game tolerance: voxels (Chebyshev; an int or '1vox'), '10mm'
            (Euclidean, the plan's spacing) or a `Tolerance`; used for the chance rate too.
        threshold: IoU / Dice of the map thresholded at this fraction of its maximum.
        max_cases: at most this many studies per abnormality (the first in split order).
        dataset: the loaded cohort dataset instead of re-loading the one config.yaml names.
            Each study's field of view comes from its extra["fov_mm"], else from the image
            headers of the cohort config.yaml names (`study_fovs`).
        model: explain this model instead of the run's checkpoint (e.g. a re-initialised copy,
            `radlens.explain.randomised_models`, for the sanity check).
    """
    run, ds = _load(run_dir, dataset)
    plan = read_plan(run.run_dir)
    todo = _cases(run, ds, split, max_cases)
    _check_shape(ds, split, plan)
    fovs = study_fovs(ds, split, run.config.cohort)
    tol = (
        tolerance
        if isinstance(tolerance, Tolerance)
        else parse_tolerance(
            str(tolerance) if isinstance(tolerance, str) else f"{int(tolerance)}vox",
            plan.spacing_mm,
        )
    )
    score = _Scorer(ds, split, plan, tol, threshold, fovs)
    images = ds.images[split]
    records: list[dict[str, object]] = []
    with (
        CamExplainer(model or run.model, method=method, layer=layer) as cam,
        Progress(transient=True, disable=not progress) as bar,
    ):
        job = bar.add_task("localization", total=len(todo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            rows = [r for _, r in chunk]
            x = normalise(images_to_tensor(images[rows], n_channels=ds.n_channels, spatial_dims=3))
            idx = [run.label_names.index(label) for label, _ in chunk]
            result = cam(x, class_idx=idx)
            for k, (label, row) in enumerate(chunk):
                record = score(label, row, result.maps[k], float(result.scores[k, idx[k]]))
                if record is not None:
                    records.append(record)
            bar.advance(job, len(chunk))
        used = cam.layer or ""
    table = _summary(records, score)
    return RunLocalization(table, pd.DataFrame(records), used, method, str(tol), split)


def _summary(records: list[dict[str, object]], score: _Scorer) -> pd.DataFrame:
    """`summarise_localization` of the cases (with the permutation tests on the scored masks),
    plus each control's pointing game and p-value."""
    cases = pd.DataFrame(records)
    if cases.empty:
        raise EvaluationError("no positive study had a ground-truth mask to score against")
    table = summarise_localization(cases, near_masks=score.near, strict_masks=score.strict)
    for name in CONTROLS:
        control = summarise_localization(cases.assign(hit=cases[f"{name}_hit"]))
        table[f"{name}_pointing_game"] = control["pointing_game"].to_numpy()
        table[f"{name}_p_value"] = control["p_value"].to_numpy()
    return table
