"""Heatmaps of a trained run: pick the most confident positive predictions per label from
``RUN/predictions.parquet``, re-load their images from the run's dataset, and write one overlay
PNG per case (2D) or one axial/coronal/sagittal montage (3D) plus ``index.csv`` naming each file's
case, label, the checkpoint's own score and outcome (TP / FP / FN / TN), the raw evidence and the
shared scale it is drawn on, for the report's heatmap gallery; ``localization.csv`` where the
dataset has lesion masks, and ``sanity.csv`` (trained vs re-initialised weights) on request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from radlens.core import PREDICTIONS, RunPlan, look_up_option, read_plan, read_predictions
from radlens.data import ArrayDataset
from radlens.errors import ConfigError, DataError, EvaluationError
from radlens.explain.cam import CamMethod
from radlens.explain.evidence import (
    Tolerance,
    case_maps,
    checkpoint_outcome,
    evidence_scale,
    localize_cases,
    on_scale,
    parse_tolerance,
)
from radlens.explain.localization import peak_index
from radlens.explain.masks import resized_mask, study_fovs
from radlens.explain.overlays import montage_3d, overlay_2d
from radlens.explain.sanity import SANITY_CSV, SANITY_MODES, randomised_models, sanity_table
from radlens.models import Task
from radlens.training import LoadedRun, images_to_tensor, load_dataset, load_run, normalise

log = logging.getLogger(__name__)

LOCALIZATION = "localization.csv"


@dataclass(frozen=True)
class ExplainCase:
    """One heatmap to draw: row `index` of the image batch, explaining output `output_idx`."""

    index: int
    label: str
    output_idx: int
    case_id: str = ""
    score: float = float("nan")
    target: float = float("nan")  # 1 / 0 for this label, NaN when unknown

    @property
    def outcome(self) -> str:
        if np.isnan(self.target):
            return "unknown"
        return "TP" if self.target >= 0.5 else "FP"


def _slug(text: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text.strip())
    return keep.strip("_") or "label"


def render_cases(
    model: nn.Module,
    inputs: torch.Tensor | np.ndarray,
    display: Sequence[np.ndarray] | np.ndarray,
    cases: Sequence[ExplainCase],
    out_dir: str | Path,
    *,
    method: CamMethod = "gradcam",
    layer: str | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    window: tuple[float, float] | None = None,
    task: Task | None = None,
    scale: float | None = None,
    tolerance: Tolerance | None = None,
    draw: int | None = None,
) -> tuple[list[Path], pd.DataFrame]:
    """Compute a heatmap per case and write its PNG into `out_dir` (with `draw`, only for the
    first `draw` cases of each label: every case is still scored and indexed, file "").

    inputs: what the model eats, channel-first (N, C, H, W) or (N, C, D, H, W), already normalised.
    display: what to draw under the heatmap, per row: (H, W) / (H, W, 3) or a (D, H, W) volume.
    masks: optional ground-truth mask per case (same spatial shape); adds localization columns
        (strict and tolerant pointing game, chance, IoU / Dice) to the index, the per-label table
        (with p-values) as localization.csv, and a cyan outline to the picture. `tolerance`
        (`parse_tolerance`; default 0 voxels) makes `pointing_game` tolerant.
    task: the run's task: each case's score and outcome (TP / FP / FN / TN) are recomputed from
        `model`'s logits; without it the `ExplainCase` score and target-based outcome are shown.
    scale: the raw evidence drawn as full heat (default `evidence_scale` of these maps), so maps
        of several models can be drawn on one scale. Returns the PNG paths and an index frame
        (one row per case, with raw_max and evidence_scale), also written as index.csv.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = torch.as_tensor(np.asarray(inputs)) if not isinstance(inputs, torch.Tensor) else inputs
    if masks is not None and len(masks) != len(cases):
        raise DataError(f"{len(masks)} masks for {len(cases)} cases; expected one per case")
    where = ([c.index for c in cases], [c.output_idx for c in cases])
    maps = case_maps(model, x, *where, method=method, layer=layer)
    shared = float(scale) if scale is not None else evidence_scale(maps.raw_max)
    tol = tolerance or Tolerance(0, "voxel")  # default: the strict game only
    given = masks if masks is not None else [None] * len(cases)
    loc_rows, table = localize_cases(maps, given, [c.label for c in cases], tol)
    paths: list[Path] = []
    rows: list[dict[str, object]] = []
    counts: dict[str, int] = {}
    for n, case in enumerate(cases):
        score, outcome = case.score, case.outcome
        if task is not None:
            score, outcome = checkpoint_outcome(task, maps.logits[n], case.label, case.target)
        counts[case.label] = counts.get(case.label, 0) + 1
        name = f"{_slug(case.label)}_{counts[case.label]:02d}_{outcome}.png"
        raw_max = float(maps.raw_max[n])
        heat, mask = on_scale(maps, n, shared), given[n]
        title = (  # one line over a 3D montage (panel titles below), two over a 2D overlay
            f"{case.label}  score {score:.2f} ({outcome}){'  ' if heat.ndim == 3 else chr(10)}"
            f"evidence max {raw_max:.3g} = {raw_max / shared:.2f} x scale {shared:.3g}"
        )
        image = np.asarray(display[case.index])
        if draw is not None and counts[case.label] > draw:
            name = ""  # scored, not drawn
        elif heat.ndim == 3:
            path = montage_3d(
                image, heat, out / name, centre=peak_index(maps.shape[n]), mask=mask,
                spacing=spacing, title=title, window=window,
            )  # fmt: skip
        else:
            path = overlay_2d(image, heat, out / name, mask=mask, title=title, window=window)
        row: dict[str, object] = {"file": name, **asdict(case), "score": score}
        row |= {"recorded_score": case.score, "outcome": outcome, "method": method}
        row |= {"layer": maps.layer, "raw_max": raw_max, "evidence_scale": shared}
        row |= loc_rows[n]
        row["peak"] = str(peak_index(maps.shape[n]))
        if name:
            paths.append(path)
        rows.append(row)
    return paths, _write_index(rows, table, out)


def _write_index(
    rows: list[dict[str, object]], table: pd.DataFrame | None, out: Path
) -> pd.DataFrame:
    """index.csv (per case, plus each label's p-values as label_<p>) and localization.csv (per
    label); the returned index carries the localization table in attrs["localization"]."""
    index = pd.DataFrame(rows)
    if table is not None:
        table.to_csv(out / LOCALIZATION, index=False)
        keep = ["label", "p_value", "p_value_strict", "perm_p_value", "perm_p_value_strict"]
        per_label = table[[c for c in keep if c in table]].rename(
            columns=lambda c: c if c == "label" else f"label_{c}"
        )
        index = index.merge(per_label, on="label", how="left")
    index.to_csv(out / "index.csv", index=False)
    index.attrs["localization"] = table
    return index


def pick_cases(
    predictions: pd.DataFrame,
    label_names: Sequence[str],
    task_kind: str,
    *,
    cases: int,
    coral: bool = False,
) -> list[tuple[str, int, str, float, float]]:
    """The `cases` highest-scoring rows per label: (id, output column, label, score, target 1/0).

    Binary tasks explain only the positive class (the last name); CORAL ordinal heads explain
    grade k >= 1 through logit k-1 ("grade >= k").
    """
    if cases < 1:
        raise ConfigError(f"--cases {cases}: expected at least 1 case per label")
    picks = []
    names = list(label_names)
    targets = names[-1:] if task_kind == "binary" else names[1:] if coral else names
    for label in targets:
        k = names.index(label)
        col = f"score:{label}"
        if col not in predictions:
            raise EvaluationError(f"predictions table has no column {col!r}; is it from this run?")
        top = predictions.sort_values(col, ascending=False, kind="stable").head(cases)
        for _, row in top.iterrows():
            if task_kind == "multi-label":
                target = float(row[f"target:{label}"])
            else:
                target = float(int(row["target"]) == k)
            picks.append((str(row["id"]), k - 1 if coral else k, label, float(row[col]), target))
    return picks


def _run_dataset(
    run: LoadedRun, plan: RunPlan, cohort: str | Path | None, cohort_shape: Sequence[int] | None
) -> ArrayDataset:
    """The run's dataset: a chest-CT cohort folder when given (volumes prepared as the run's plan
    says: shape, spacing, windows; `cohort_shape` changes the crop), else what config.yaml names."""
    if cohort is None:
        return load_dataset(run.config)
    update: dict[str, Any] = {"cohort": str(cohort), "dataset": None, "images": None}
    update |= {"labels": None, "cohort_shape": tuple(int(v) for v in cohort_shape or plan.shape)}
    if plan.spacing_mm is not None:
        update["cohort_spacing"] = plan.spacing_mm
    if plan.windows_hu is not None:
        update["cohort_windows"] = [tuple(w) for w in plan.windows_hu]
    return load_dataset(run.config.model_copy(update=update))


def _truth_masks(
    ds: ArrayDataset,
    split: str,
    picks: Sequence[tuple],
    position: dict[str, int],
    shape: tuple,
    spacing: Sequence[float] | None = None,
    cohort: str | Path | None = None,
) -> list[np.ndarray | None] | None:
    """Ground-truth lesion masks (on the model input: resampled to `spacing` over their study's
    field of view, `study_fovs` of the dataset or the `cohort` table, then cropped to `shape`)
    for the picked cases whose study truly has the finding, when the dataset carries them
    (synthetic chest-CT)."""
    extra = ds.extra
    if not all(k in extra for k in ("mask_path", "true_labels", "truth_names")):
        return None
    names = list(extra["truth_names"])  # type: ignore[arg-type]
    truth = extra["true_labels"][split]  # type: ignore[index]
    paths = extra["mask_path"][split]  # type: ignore[index]
    fovs = study_fovs(ds, split, cohort) if spacing is not None else None
    masks: list[np.ndarray | None] = []
    for cid, _, label, _, _ in picks:
        abnormality = str(label).split("@", 1)[0]
        row = position[cid]
        present = abnormality in names and truth[row, names.index(abnormality)] == 1
        grid = (spacing, fovs[row]) if fovs is not None else (None, None)
        masks.append(resized_mask(paths[row], abnormality, shape, *grid) if present else None)
    return masks


def _predicted_rows(run: LoadedRun, split: str) -> pd.DataFrame:
    """The run's predictions of `split` (EvaluationError naming the splits it has)."""
    preds = read_predictions(run.run_dir / PREDICTIONS)
    rows = preds[preds["split"] == split]
    if rows.empty:
        have = sorted(preds["split"].unique().tolist())
        raise EvaluationError(
            f"{run.run_dir / PREDICTIONS} has no rows for split {split!r}; has {have}"
        )
    return rows


def _case_images(
    ds: ArrayDataset, split: str, picks: Sequence[tuple]
) -> tuple[dict[str, int], dict[int, int], torch.Tensor, list[np.ndarray]]:
    """Where each picked id sits in the split, its row in the batch, the model inputs of the
    picked images and what to draw under each heatmap."""
    if split not in ds.images:
        raise DataError(f"dataset {ds.name!r} has no split {split!r}; has {ds.splits}")
    position = {str(i): n for n, i in enumerate(ds.ids[split])}
    missing = [p[0] for p in picks if p[0] not in position]
    if missing:
        raise EvaluationError(
            f"{len(missing)} predicted ids (e.g. {missing[0]!r}) are not in dataset {ds.name!r}"
            f" split {split!r}; the data changed since training"
        )
    wanted = sorted({position[p[0]] for p in picks})
    local = {row: n for n, row in enumerate(wanted)}
    raw = ds.images[split][wanted]
    inputs = normalise(
        images_to_tensor(raw, n_channels=ds.n_channels, spatial_dims=ds.spatial_dims)
    )
    display = list(raw)
    if ds.spatial_dims == 2 and raw.ndim == 4 and raw.shape[1] == ds.n_channels != raw.shape[-1]:
        display = [np.moveaxis(img, 0, -1) for img in raw]  # channel-first stored -> (H, W, C)
    elif ds.spatial_dims == 3 and raw.ndim == 5:
        display = [img[0] for img in raw]  # (C, D, H, W) -> first window's (D, H, W)
    return position, local, inputs, display


def explain_run(
    run_dir: str | Path,
    *,
    cases: int = 8,
    out_dir: str | Path | None = None,
    method: CamMethod = "gradcam",
    layer: str | None = None,
    split: str = "test",
    dataset: ArrayDataset | None = None,
    cohort: str | Path | None = None,
    cohort_shape: Sequence[int] | None = None,
    tolerance: str | float | None = None,
    sanity: str | None = None,
    seed: int = 0,
) -> list[Path]:
    """Heatmaps of the `cases` most confident positive predictions per label of a run's `split`,
    written to `out_dir` (default RUN/heatmaps) with an index.csv; returns the PNG paths.

    The images are re-loaded from the dataset the run's config.yaml names, from the chest-CT
    `cohort` folder the run was trained on (prepared as RUN/plan.json says; `cohort_shape`
    changes the crop), or taken from `dataset`. Scores and outcomes are the checkpoint's own (a
    warning names any drift from predictions.parquet, which only picks the cases); the maps are
    drawn on one evidence scale (`radlens.explain.evidence`). Where the dataset has ground-truth
    masks, index.csv gets strict / tolerant pointing game, chance, IoU / Dice per case and
    localization.csv the per-label table with p-values; `tolerance` is '10mm' or '1vox' (default
    10 mm with a voxel spacing, else 1 voxel). `sanity` ("full" or "cascading") re-initialises
    the weights (seed `seed`) and writes the randomised maps to OUT_sanity/ on the trained scale
    and sanity.csv, trained vs randomised localization (`radlens.explain.sanity`)."""
    if sanity is not None:  # fail before the work
        sanity = look_up_option(sanity, SANITY_MODES, what="--sanity-mode")
    run = load_run(run_dir)
    plan = read_plan(run.run_dir)
    tol = parse_tolerance(tolerance, plan.spacing_mm if plan.spatial_dims == 3 else None)
    rows = _predicted_rows(run, split)
    picks = pick_cases(rows, run.label_names, run.task.kind, cases=cases, coral=run.task.coral)
    ds = dataset if dataset is not None else _run_dataset(run, plan, cohort, cohort_shape)
    position, local, inputs, display = _case_images(ds, split, picks)
    todo = [
        ExplainCase(local[position[cid]], label, out_idx, cid, score, target)
        for cid, out_idx, label, score, target in picks
    ]
    shape = tuple(inputs.shape[2:])
    source = cohort if cohort is not None else run.config.cohort
    masks = _truth_masks(ds, split, picks, position, shape, plan.spacing_mm, source)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "heatmaps"
    options = {"method": method, "layer": layer, "masks": masks, "task": run.task}
    options |= {"spacing": plan.spacing_mm or (1.0, 1.0, 1.0), "tolerance": tol}  # mm / voxels
    paths, index = render_cases(run.model, inputs, display, todo, out, **options)
    drift = (index["score"] - index["recorded_score"]).abs().max()
    if drift > 1e-3:
        log.warning(
            "scores recomputed from %s differ from %s by up to %.3g: the predictions were made"
            " by another checkpoint or other data; the heatmaps show the checkpoint's scores",
            run.run_dir / "checkpoint.pt",
            PREDICTIONS,
            drift,
        )
    if sanity is not None:
        options |= {"layer": str(index["layer"].iloc[0]), "method": method}
        _sanity(run.model, (inputs, display, todo), out, index, sanity, seed, options)
    log.info("wrote %d heatmaps to %s", len(paths), out)
    return paths


def _sanity(
    model: nn.Module,
    batch: tuple[torch.Tensor, Sequence[np.ndarray], Sequence[ExplainCase]],
    out: Path,
    index: pd.DataFrame,
    mode: str,
    seed: int,
    options: dict[str, Any],
) -> pd.DataFrame:
    """Explain the same cases with `randomised_models` of `model` (same layer, drawn on the
    trained maps' scale, in OUT_sanity/<model>/) and write OUT/sanity.csv: trained vs random."""
    scale = float(index["evidence_scale"].iloc[0])
    tables = {"trained": index.attrs.get("localization")}
    evidence = {"trained": index["raw_max"].to_numpy()}
    for name, twin in randomised_models(model, mode, seed=seed):
        # beside OUT, not in it: the report's gallery shows every PNG under OUT
        folder = out.parent / f"{out.name}_sanity" / _slug(name.replace("(", "").replace(")", ""))
        _, twin_index = render_cases(twin, *batch, folder, scale=scale, **options)
        tables[name] = twin_index.attrs.get("localization")
        evidence[name] = twin_index["raw_max"].to_numpy()
    table = sanity_table(tables, evidence)
    table.to_csv(out / SANITY_CSV, index=False)
    return table
