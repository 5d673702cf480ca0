"""Evaluate a training run directory: RUN/predictions.parquet -> RUN/evaluation.json + report.html.

`evaluate_run_dir` is the one entry point (`radlens evaluate`): optionally re-predict the split
from checkpoint.pt first, then statistics and the report. The model card is assembled from
RUN/metrics.json and RUN/config.yaml, plus the evaluation itself (what was measured where, and the
limits it shows).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import yaml

from radlens.core import (
    CONFIG,
    EVALUATION,
    METRICS,
    PREDICTIONS,
    atomic_write_text,
    look_up_option,
    read_predictions,
)
from radlens.data import grayscale_items
from radlens.errors import EvaluationError, RadlensError
from radlens.evaluation.audit import DUPLICATE_CACHE
from radlens.evaluation.evaluate import EvaluationResult, evaluate_predictions
from radlens.evaluation.report import write_report
from radlens.evaluation.thresholds import MIN_VAL_POSITIVES
from radlens.evaluation.tripod import one_vs_rest, train_row
from radlens.training import load_dataset, make_config, repredict_split

log = logging.getLogger(__name__)

INTENDED_USE = (
    "Research and development of radiology image classifiers: comparing models and data"
    " handling under honest evaluation. Not a medical device; not for diagnosis, triage or any"
    " clinical decision."
)


#: the splits `evaluate_run_dir` reports on (train is what the model was fitted on)
EVAL_SPLITS: tuple[str, ...] = ("val", "test")
#: predictions-table columns `evaluate_run_dir(by=...)` groups by, where the table has them
GROUP_COLUMNS: tuple[str, ...] = ("site",)


def check_split(split: str) -> str:
    """`split` when it is val or test; EvaluationError naming --split and the valid values."""
    if split == "train":
        raise EvaluationError(
            "--split 'train': evaluate reports on val or test only [expected one of: "
            f"{', '.join(EVAL_SPLITS)}]; the model was fitted on train, so its figures would be "
            "optimistic and the leakage audit would match every image with itself"
        )
    return look_up_option(split, EVAL_SPLITS, what="--split", error=EvaluationError)


def check_by(by: str | None, predictions: Path) -> None:
    """Before any work: `by` must be a grouping column of the predictions table (or, while the
    table is not written yet, one `evaluate` groups by); EvaluationError listing them."""
    if by is None:
        return
    columns = read_predictions(predictions).columns if predictions.is_file() else GROUP_COLUMNS
    available = [c for c in GROUP_COLUMNS if c in columns]
    if by not in available:
        raise EvaluationError(
            f"--by {by!r}: {predictions.name} has no such grouping column; available grouping "
            f"columns: {', '.join(available) or 'none'}"
        )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path} is not valid JSON: {exc}") from exc


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvaluationError(f"{path} is not valid YAML: {exc}") from exc
    return data if isinstance(data, dict) else {"config": data}


def limits_of(result: EvaluationResult, metrics: dict) -> list[str]:
    """Limits that the evaluation itself shows (undefined labels, small counts, data source)."""
    out = []
    table = result.table
    undefined = table.loc[table["auroc"].isna(), "label"].tolist()
    if undefined:
        out.append(
            f"AUROC undefined for {len(undefined)} label(s) in {result.split}: {undefined[:8]}"
        )
    small = table.loc[table["n_positive"].between(1, 29), "label"].tolist()
    if small:
        out.append(f"fewer than 30 positives for {len(small)} label(s): wide intervals")
    if "optimistic" in result.threshold_from:
        out.append("thresholds were chosen on the evaluated split (no validation predictions)")
    if _is_user_data(metrics):
        out.append(f"trained/evaluated on {metrics['data_note']}: no official release to check")
    elif metrics.get("official_data") is False:
        out.append("trained/evaluated on data that is not the official release (see data)")
    sites = sorted({s or "unknown" for s in result.data.sites}) if result.data else []
    if len(sites) <= 1:
        out.append(f"single site ({', '.join(sites)}): performance on other sites is unknown")
    out.append("patient ids are image ids when the dataset has none (e.g. MedMNIST)")
    return out


def _is_user_data(metrics: dict) -> bool:
    """The run trained on a user's folder (metrics.json's data_note "user data: ...")."""
    return str(metrics.get("data_note", "")).startswith("user data")


def build_model_card(run_dir: str | Path, result: EvaluationResult) -> dict:
    """Data, splits, training configuration, intended use and limits of one run. A user's
    folder is named by its data note ("user data: <folder> (N files, fingerprint ...)") with
    official_data None: there is no official release it could match."""
    run_dir = Path(run_dir)
    metrics = _read_json(run_dir / METRICS)
    config = _read_yaml(run_dir / CONFIG)
    splits = metrics.get("splits", {})
    user = _is_user_data(metrics)
    return {
        "name": run_dir.name,
        "data": {
            "dataset": metrics["data_note"]
            if user
            else metrics.get("dataset", config.get("dataset")),
            "task": metrics.get("task", result.task),
            "official_data": None if user else metrics.get("official_data"),
            "note": metrics.get("data_note", ""),
            **(
                {"fingerprint": metrics["data_fingerprint"]}
                if "data_fingerprint" in metrics
                else {}
            ),
            "labels": list(result.label_names),
        },
        "splits": {
            name: {
                k: v
                for k, v in (vals or {}).items()
                if k in ("n_images", "n_patients", "prevalence", "measured_on")
            }
            for name, vals in splits.items()
        }
        or {"evaluated": result.split},
        "training_config": config or "config.yaml not found",
        "training_metrics": splits,
        "intended_use": INTENDED_USE,
        "limits": limits_of(result, metrics),
    }


#: What the audit says when a 3D run's volumes were not compared for near-duplicates.
VOLUMES_NOT_COMPARED = (
    "near-duplicate 3D volumes: not compared (opt in with `radlens evaluate --audit-volumes`)"
)


def training_data(
    run_dir: Path, split: str, *, hash_images: bool = True, volumes: bool = False
) -> dict:
    """Training patients (and 2D images or 3D volumes) of the run's dataset, for the leakage
    audit.

    Loads the dataset named by RUN/config.yaml through `radlens.training.sources.load_dataset`.
    When it cannot be loaded, returns {"unavailable": reason} (the audit then covers the table
    only).
    """
    try:
        values = _read_yaml(run_dir / CONFIG)
        if not values:
            raise EvaluationError(f"{run_dir / CONFIG} not found")
        dataset = load_dataset(make_config(values, source=str(run_dir / CONFIG)))
    except (RadlensError, ImportError, OSError) as exc:
        log.warning("leakage audit limited to the predictions table: %s", exc)
        return {"unavailable": f"training data not loaded ({exc})"}
    if "train" not in dataset.patient_ids:
        return {"unavailable": "the run's dataset has no train split"}
    out: dict = {"train_patient_ids": dataset.patient_ids["train"]}
    out["train_cohort"] = {
        "labels": dataset.labels["train"],
        "task": dataset.task,
        "class_names": dataset.label_names,
        "sizes": {k: len(v) for k, v in dataset.images.items()},
    }
    if hash_images and dataset.spatial_dims == 3 and not volumes:
        out["volumes_not_compared"] = VOLUMES_NOT_COMPARED
    elif hash_images and split in dataset.images:  # 2D images or 3D volumes (CT cohorts)
        out["duplicate_cache"] = run_dir / DUPLICATE_CACHE  # descriptors kept by content digest
        names = {"train": "train", "eval": split}
        if split == "test" and "val" in dataset.images:
            names["val"] = "val"
        for key, name in names.items():
            out[f"{key}_images"] = grayscale_items(
                dataset.images[name], dataset.spatial_dims, dataset.n_channels
            )
    return out


def _add_train_row(result: EvaluationResult, cohort: dict | None, patient_ids) -> None:
    """Put the train split first in the result's cohort table (ids only when that is all)."""
    if patient_ids is None:
        return
    y = None
    if cohort is not None:
        task = cohort.get("task", result.task)
        classes = cohort.get("class_names") or (result.data.class_names if result.data else ())
        y = one_vs_rest(cohort["labels"], task, classes, result.label_names)
        if "sizes" in cohort:
            result.cohort["dataset_sizes"] = cohort["sizes"]
    row = train_row(result.label_names, y=y, patient_ids=np.asarray(patient_ids, dtype=object))
    result.cohort.setdefault("splits", []).insert(0, row)


def evaluate_run_dir(
    run_dir: str | Path,
    *,
    split: str = "test",
    by: str | None = None,
    operating_point: str | float = "youden",
    n_bootstrap: int = 1000,
    seed: int = 0,
    heatmaps_dir: str | Path | None = None,
    audit_data: bool = True,
    audit_volumes: bool = False,
    write: bool = True,
    repredict: bool = False,
    device: str | None = None,
    train_patient_ids=None,
    train_labels=None,
    min_val_positives: int = MIN_VAL_POSITIVES,
    small_val_policy: str = "flag",
) -> EvaluationResult:
    """Evaluate RUN/predictions.parquet; write RUN/evaluation.json and RUN/report.html.

    `split` is val or test and `by` a grouping column of the predictions table (else an
    EvaluationError before any work). With `repredict`, `split` is first predicted again from
    checkpoint.pt on `device` (updating metrics.json and predictions.parquet); its
    MedMNIST-evaluator figures land on `result.figures`. With `audit_data`, the run's training
    data (from config.yaml) joins the leakage audit: patient ids always, 2D images or 3D volumes
    for near-duplicates (volumes only with `audit_volumes`: ~1 min for 700 volumes; descriptors
    kept in RUN/duplicate_descriptors.npz). `train_patient_ids`, when given, are
    the training patients and nothing is loaded (ids only: what a caller that holds the
    dataset, e.g. the CT demo, passes; with `train_labels`, in the dataset's label layout, the
    report gives train prevalence too).
    Thresholds on fewer than `min_val_positives` val positives are flagged or refused
    (`small_val_policy`, see `evaluate_predictions`).
    """
    split = check_split(split)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EvaluationError(
            f"run directory {run_dir} does not exist (train one with `radlens train`)"
        )
    check_by(by, run_dir / PREDICTIONS)
    figures = repredict_split(run_dir, split, device=device) if repredict else None
    frame = read_predictions(run_dir / PREDICTIONS)
    if train_patient_ids is not None:
        train = {"train_patient_ids": list(train_patient_ids)}
        if train_labels is not None:
            train["train_cohort"] = {"labels": np.asarray(train_labels, dtype=np.float64)}
    elif audit_data:
        train = training_data(run_dir, split, volumes=audit_volumes)
    else:
        train = {"unavailable": "not requested"}
    unavailable = train.pop("unavailable", None)
    volumes_note = train.pop("volumes_not_compared", None)
    train_cohort = train.pop("train_cohort", None)
    result = evaluate_predictions(
        frame,
        split=split,
        by=by,
        operating_point=operating_point,
        n_bootstrap=n_bootstrap,
        seed=seed,
        min_val_positives=min_val_positives,
        small_val_policy=small_val_policy,
        **train,
    )
    result.figures = figures
    _add_train_row(result, train_cohort, train.get("train_patient_ids"))
    if unavailable:
        result.leakage["training_data"] = unavailable
    if volumes_note:
        result.leakage["checked"] = [*result.leakage.get("checked", []), volumes_note]
    if write:
        atomic_write_text(run_dir / EVALUATION, result.to_json())
        card = build_model_card(run_dir, result)
        write_report(run_dir, result, model_card=card, heatmaps_dir=heatmaps_dir)
    n_defined = int(np.isfinite(result.table["auroc"]).sum())
    log.info("evaluated %s: %d of %d labels with an AUROC", split, n_defined, len(result.table))
    return result
