"""`radlens evaluate` on a survival run: C-index and time-dependent AUC with CIs, risk groups.

It reads the run's predictions.parquet (the best model's risk per study of every split, written
by `radlens.training.train_survival`) and, for the evaluated split:

- Harrell's C-index (`concordance_index`) and the cumulative/dynamic AUC at `horizons` (default:
  the quartiles of the training split's event times that lie inside the split's follow-up) with
  their mean, all with patient-bootstrap CIs (`survival_bootstrap`);
- the same for the baselines the run carries: the covariates-only Cox model (``risk_covariates``)
  and, on a synthetic cohort, the true log hazard (``true_log_hazard``: the ceiling); and the
  paired bootstrap difference of C-index, model minus covariates only;
- risk groups: `N_GROUPS` groups cut at the tertiles of the validation split's risks (the split's
  own when there is no validation split, or when it is the one evaluated; said in the output),
  each with its Kaplan-Meier curve (`kaplan_meier`), size, events and median survival;
- evaluation.json (all figures, the KM curves as points) and report.html (tables, KM plot).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from radlens.core import (
    CONFIG,
    EVALUATION,
    REPORT,
    atomic_write_json,
    atomic_write_text,
    read_predictions,
)
from radlens.errors import EvaluationError
from radlens.evaluation.bootstrap import patient_bootstrap
from radlens.evaluation.survival import concordance_index, kaplan_meier, survival_bootstrap
from radlens.evaluation.survival_report import km_figure, survival_html
from radlens.training import make_config, train_survival

__all__ = [
    "BASELINES",
    "DEMO_SURVIVAL",
    "N_GROUPS",
    "evaluate_survival_run",
    "is_survival_run",
    "risk_groups",
    "survival_demo",
]

N_GROUPS = 3
GROUP_NAMES = ("low", "intermediate", "high")
#: prediction column -> (name, what it is) of the baselines a run may carry
BASELINES: dict[str, tuple[str, str]] = {
    "risk_covariates": ("covariates_only", "linear Cox of the covariates, training split"),
    "true_log_hazard": ("true_risk", "the synthetic outcome rules' log hazard: the ceiling"),
}


#: the demo's survival setting: a Cox head on the classifier's frozen encoder (its label
#: logits as image features) and the covariates; seconds on 2 CPU cores (`survival_demo`)
DEMO_SURVIVAL: dict[str, Any] = {
    "head": "cox", "freeze_encoder": True, "covariates": ["age", "sex", "site"], "epochs": 60,
    "batch_size": 64, "lr": 0.01, "weight_decay": 1e-3, "augment": "none", "milestones": [0.5],
}  # fmt: skip
#: what a survival run takes over from the classification run it starts from
_FROM_CLASSIFIER = ("cohort", "cohort_shape", "cohort_spacing", "cohort_windows",
                    "cohort_min_location_positives", "cohort_cache", "model", "small_input",
                    "seed", "device", "threads", "eval_batch_size")  # fmt: skip


def is_survival_run(run_dir: str | Path) -> bool:
    """Whether RUN/config.yaml says task "survival" (False without a config)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return False
    values = yaml.safe_load(path.read_text()) or {}
    return isinstance(values, dict) and values.get("task") == "survival"


def _horizons(train: pd.DataFrame, rows: pd.DataFrame) -> list[float]:
    times = train.loc[train["event"].astype(bool), "time"].to_numpy(dtype=float)
    if not len(times):
        return []
    lo, hi = rows["time"].min(), rows["time"].max()
    picks = np.round(np.quantile(times, (0.25, 0.5, 0.75)), 1)
    return [float(h) for h in np.unique(picks) if lo <= h < hi]


def _figures(boot, horizons: Sequence[float]) -> dict[str, Any]:
    def entry(i: int) -> dict[str, float | None]:
        vals = (boot.estimate[i], boot.low[i], boot.high[i])
        return dict(
            zip(
                ("estimate", "low", "high"),
                (float(v) if np.isfinite(v) else None for v in vals),
                strict=True,
            )
        )

    out: dict[str, Any] = {"c_index": entry(0)}
    out["time_auc"] = [{"horizon": h, **entry(1 + i)} for i, h in enumerate(horizons)]
    if horizons:
        out["mean_auc"] = entry(1 + len(horizons))
    return out


def risk_groups(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, cuts: Sequence[float]
) -> list[dict[str, Any]]:
    """Per group (risk <= cuts[0], ..., > cuts[-1]): size, events, risk range, median survival
    (the first KM time with S <= 0.5; None if never) and the KM curve (time, survival)."""
    group = np.searchsorted(np.asarray(cuts, dtype=float), risk, side="left")
    out = []
    for g in range(len(cuts) + 1):
        sel = group == g
        name = GROUP_NAMES[g] if len(cuts) + 1 == len(GROUP_NAMES) else f"group {g + 1}"
        entry: dict[str, Any] = {
            "group": name,
            "n": int(sel.sum()),
            "events": int(event[sel].sum()),
        }
        if sel.any():
            km_t, km_s = kaplan_meier(time[sel], event[sel])
            below = np.flatnonzero(km_s <= 0.5)
            entry.update(
                risk_range=[float(risk[sel].min()), float(risk[sel].max())],
                median_survival=float(km_t[below[0]]) if len(below) else None,
                km_time=[0.0, *map(float, km_t)],
                km_survival=[1.0, *map(float, km_s)],
            )
        out.append(entry)
    return out


def _group_cuts(frame: pd.DataFrame, split: str) -> tuple[list[float], str]:
    val = frame[frame["split"] == "val"]
    source = "val" if split != "val" and len(val) >= N_GROUPS else split
    ref = frame.loc[frame["split"] == source, "risk"].to_numpy(dtype=float)
    qs = np.linspace(0, 1, N_GROUPS + 1)[1:-1]
    return [float(c) for c in np.quantile(ref, qs)], source


def _difference(rows: pd.DataFrame, column: str, n_bootstrap: int, seed: int) -> dict[str, Any]:
    t, e = rows["time"].to_numpy(float), rows["event"].to_numpy(bool)

    def metric(tb, eb, a, b) -> np.ndarray:
        return np.array([concordance_index(tb, eb, a) - concordance_index(tb, eb, b)])

    res = patient_bootstrap(
        metric,
        t,
        e,
        rows["risk"].to_numpy(float),
        rows[column].to_numpy(float),
        patient_ids=rows["patient_id"].to_numpy(),
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    return {
        "versus": column,
        "estimate": float(res.estimate[0]),
        "low": float(res.low[0]),
        "high": float(res.high[0]),
    }


def _rows(run_dir: Path, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = read_predictions(run_dir)
    missing = [c for c in ("split", "patient_id", "time", "event", "risk") if c not in frame]
    if missing:
        raise EvaluationError(f"{run_dir}: predictions lack the survival columns {missing}")
    rows = frame[frame["split"] == split].reset_index(drop=True)
    if rows.empty:
        have = sorted(frame["split"].unique())
        raise EvaluationError(f"{run_dir}: no predictions for split {split!r}; have {have}")
    if not rows["event"].astype(bool).any():
        raise EvaluationError(f"{run_dir}: split {split!r} has no event; no C-index is defined")
    return frame, rows


def evaluate_survival_run(
    run_dir: str | Path,
    *,
    split: str = "test",
    n_bootstrap: int = 1000,
    horizons: Sequence[float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate a survival run's `split` (module docstring); write evaluation.json and
    report.html into the run and return evaluation.json's content."""
    run_dir = Path(run_dir)
    frame, rows = _rows(run_dir, split)
    train = frame[frame["split"] == "train"]
    chosen = list(horizons) if horizons is not None else _horizons(train, rows)
    t, e = rows["time"].to_numpy(float), rows["event"].to_numpy(bool)
    boots = max(n_bootstrap, 1)
    result: dict[str, Any] = {
        "task": "survival",
        "split": split,
        "run": str(run_dir),
        "head": frame.attrs.get("radlens", {}).get("head"),
        "n_studies": len(rows),
        "n_patients": int(rows["patient_id"].nunique()),
        "n_events": int(e.sum()),
        "follow_up": {"median": float(np.median(t)), "max": float(t.max())},
        "horizons": chosen,
        "n_bootstrap": n_bootstrap,
        "ci": "patient bootstrap, 95% percentile" if n_bootstrap else "none (estimates only)",
    }
    scored = {"risk": "model"} | {
        c: BASELINES[c][0] for c in BASELINES if c in rows and rows[c].notna().all()
    }
    for column, name in scored.items():
        boot = survival_bootstrap(
            t,
            e,
            rows[column].to_numpy(float),
            patient_ids=rows["patient_id"].to_numpy(),
            times=chosen,
            n_bootstrap=boots,
            seed=seed,
        )
        figures = _figures(boot, chosen)
        if column == "risk":
            result.update(figures)
        else:
            result.setdefault("baselines", {})[name] = {"what": BASELINES[column][1], **figures}
    if "risk_covariates" in scored:
        result["difference_vs_covariates"] = _difference(rows, "risk_covariates", boots, seed)
    cuts, source = _group_cuts(frame, split)
    result["risk_groups"] = {
        "cut_points": cuts,
        "cut_on": f"tertiles of the {source} risks",
        "groups": risk_groups(t, e, rows["risk"].to_numpy(float), cuts),
    }
    atomic_write_json(run_dir / EVALUATION, result)
    atomic_write_text(run_dir / REPORT, survival_html(result, km_figure(result["risk_groups"])))
    return result


def survival_demo(
    classifier_run: str | Path, out: str | Path, *, n_bootstrap: int = 1000, **overrides: Any
) -> dict[str, Any]:
    """Train `DEMO_SURVIVAL` (with `overrides`) into `out` on a finished chest-CT classification
    run's cohort, splits and encoder (``--init`` it, frozen), evaluate its test split, and return
    the figures a demo prints: C-index with CI of the model, the covariates-only model and the
    true risk (ceiling), and the seconds it took."""

    start = time.perf_counter()
    source = Path(classifier_run) / CONFIG
    if not source.is_file():
        raise EvaluationError(f"{classifier_run}: not a run directory (no {CONFIG})")
    values = yaml.safe_load(source.read_text()) or {}
    config = {k: values[k] for k in _FROM_CLASSIFIER if k in values}
    config |= DEMO_SURVIVAL | overrides
    config |= {"task": "survival", "init": str(classifier_run), "out": str(out)}
    train_survival(make_config(config, str(source)))
    result = evaluate_survival_run(out, split="test", n_bootstrap=n_bootstrap)
    base = result.get("baselines", {})
    return {
        "c_index": result["c_index"],
        "covariates_only": base.get("covariates_only", {}).get("c_index"),
        "true_risk": base.get("true_risk", {}).get("c_index"),
        "n_studies": result["n_studies"], "n_events": result["n_events"],
        "seconds": round(time.perf_counter() - start, 1), "run": str(out),
    }  # fmt: skip
