"""The pieces of a survival run that are not the loop: its data, its network, its baseline.

- `load_survival_data`: the cohort as the classifier loads it (`load_dataset`: same patient
  splits, volumes and cache), each split's follow-up (`read_outcomes`) and coded covariates
  (`CovariateEncoder`, fitted on the training split);
- `encoder_features` / `build_survival_net`: the image encoder is the run's `--model` with
  `DEFAULT_FEATURES` outputs, or, with ``--init`` from a classification run, as many as that
  run's labels (so its whole network, head included, loads: its label logits become the image
  features);
- `covariate_cox`: a ridge-penalised linear Cox model of the covariates alone (L-BFGS on the
  Breslow partial likelihood), the baseline a model with the image should beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning_fabric import Fabric

from radlens.data import ArrayDataset, cohort_table_path, read_cohort
from radlens.errors import ConfigError, DataError
from radlens.models import SurvivalNet, Task, build_model, cox_ph_loss
from radlens.training.config import TrainConfig
from radlens.training.device import fabric_accelerator
from radlens.training.init import read_init_checkpoint
from radlens.training.precision import resolve_precision
from radlens.training.sources import load_dataset
from radlens.training.survival_data import CovariateEncoder, read_outcomes

__all__ = [
    "BASELINE_L2",
    "DEFAULT_FEATURES",
    "SurvivalData",
    "build_survival_net",
    "covariate_cox",
    "encoder_features",
    "interval_cuts",
    "load_survival_data",
    "split_counts",
    "survival_fabric",
]

DEFAULT_FEATURES = 16
BASELINE_L2 = 1e-3


@dataclass
class SurvivalData:
    """The cohort's volumes (`ds`) and, per split in the same order, the follow-up frame
    (study_id, patient_id, site, time, event[, true_log_hazard]) and coded covariates."""

    ds: ArrayDataset
    frames: dict[str, pd.DataFrame]
    covariates: dict[str, np.ndarray]
    encoder: CovariateEncoder
    source: str  # where the follow-up came from


def load_survival_data(config: TrainConfig) -> SurvivalData:
    """Volumes, follow-up and covariates of `config.cohort` (module docstring)."""
    cohort = str(config.cohort)
    table = read_cohort(cohort)
    outcomes = read_outcomes(
        cohort,
        table,
        outcomes=config.outcomes,
        time_column=config.time_column,
        event_column=config.event_column,
    )
    ds = load_dataset(config)  # after the follow-up is checked: loading volumes takes time
    rows = ds.extra["row_index"]
    if not isinstance(rows, dict):
        raise DataError(f"cohort {cohort}: the loader gave no row index per split")
    file = cohort_table_path(cohort)
    encoder = CovariateEncoder(list(config.covariates or [])).fit(table, rows["train"], file)
    coded = encoder.transform(table, file)
    sites = ds.extra.get("site", {})
    frames, covariates = {}, {}
    for split in ds.images:
        idx = np.asarray(rows[split])
        frame = outcomes.iloc[idx].reset_index(drop=True)
        frame.insert(1, "patient_id", np.asarray(ds.patient_ids[split]).astype(str))
        site = sites.get(split) if isinstance(sites, dict) else None
        frame.insert(2, "site", np.asarray(site).astype(str) if site is not None else "")
        frames[split], covariates[split] = frame, coded[idx]
    if "train" not in frames or not frames["train"]["event"].any():
        raise DataError(
            f"cohort {cohort}: the training split has no event; a survival model needs events"
        )
    source = config.outcomes or (
        str(file)
        if (config.time_column or "time") in table.columns
        else str(file.parent / "outcomes.csv")
    )
    return SurvivalData(ds, frames, covariates, encoder, source)


def encoder_features(config: TrainConfig) -> tuple[int, Task]:
    """How many image features the encoder gives and the `Task` its outputs stand for (the
    source run's labels with ``--init`` from a classifier; else `DEFAULT_FEATURES`)."""
    if config.init:
        _, ckpt = read_init_checkpoint(config.init, frozenset({"label_names", "task"}))
        if not ckpt.get("encoder_prefix"):
            task = Task(
                ckpt["task"],
                tuple(ckpt["label_names"]),
                ordinal_loss=ckpt.get("ordinal_loss", "ce"),
            )
            if task.kind == "multi-label":
                return task.num_outputs, task
    names = tuple(f"feature_{i}" for i in range(DEFAULT_FEATURES))
    return DEFAULT_FEATURES, Task("multi-label", names)


def build_survival_net(
    config: TrainConfig, geometry: dict[str, Any], n_features: int, n_cov: int, n_out: int
) -> SurvivalNet:
    """`config.model` as the image encoder (stem as `make_model` chooses it) + a linear head."""
    small = config.small_input
    if small is None:
        small = geometry["min_side"] <= 64
    encoder = build_model(
        config.model,
        spatial_dims=geometry["spatial_dims"],
        in_channels=geometry["in_channels"],
        num_outputs=n_features,
        small_input=small,
        depth=max(1, geometry["depth"]),
    )
    return SurvivalNet(encoder, n_features, n_cov, n_out)


def covariate_cox(
    x: np.ndarray, time: np.ndarray, event: np.ndarray, *, l2: float = BASELINE_L2
) -> np.ndarray:
    """Coefficients (P,) of a linear Cox model (Breslow ties) of covariates `x` (N, P), with the
    ridge penalty `l2` * |beta|^2 (keeps a level seen only among censored subjects finite)."""
    xt = torch.tensor(np.array(x, dtype=np.float64))
    t = torch.tensor(np.array(time, dtype=np.float64))
    e = torch.tensor(np.array(event, dtype=bool))
    beta = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [beta],
        max_iter=200,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = cox_ph_loss(xt @ beta, t, e) + l2 * (beta**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return beta.detach().numpy().copy()


def survival_fabric(config: TrainConfig) -> Fabric:
    """Lightning Fabric on one device (bf16 autocast where native, as the classifier's loop)."""
    if config.devices != 1:
        raise ConfigError(
            f"--devices {config.devices}: --task survival trains on one device (the Cox risk "
            "set of a batch must not be split across processes)"
        )
    accelerator, devices, cuda = fabric_accelerator(config.device, 1)
    precision = resolve_precision(config.precision, cuda)
    return Fabric(accelerator=accelerator, devices=devices, precision=precision)


def interval_cuts(data: SurvivalData, intervals: int) -> list[float]:
    """Interval ends at quantiles of the training event times (the last: the largest)."""
    train = data.frames["train"]
    times = train["time"].to_numpy()[train["event"].to_numpy()]
    cuts = np.unique(np.quantile(times, np.linspace(0, 1, intervals + 1)[1:]))
    return [float(c) for c in cuts if c > 0] or [float(times.max())]


def split_counts(data: SurvivalData) -> dict[str, dict[str, int]]:
    """Studies, patients and events per split."""
    return {
        split: {
            "n_studies": len(f),
            "n_patients": int(f["patient_id"].nunique()),
            "n_events": int(f["event"].sum()),
        }
        for split, f in data.frames.items()
    }
