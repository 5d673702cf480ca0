"""SYNTHETIC follow-up for phantom studies: time to event or censoring from documented rules.

These outcomes are invented. They are drawn from the rules below so that a survival model has
something learnable and a user can see the survival pipeline work end to end; they say nothing
about any real disease course.

Rules (`OutcomeRules`, all per study, from that study's cohort row and finding rows):

- linear predictor (the true log relative hazard, returned as `log_hazard`):
  lp = volume_coef * ln(1 + tumour volume in ml) + lymph_coef * [lymphadenopathy present]
       + age_coef * (age - 60);
  the tumour volume is the summed `volume_ml` of the study's nodules and masses (the log keeps a
  60 mm mass from dwarfing every other term);
- event time: exponential with rate baseline_hazard * exp(lp + frailty), frailty ~ N(0, noise_sd)
  (the noise no image can explain, so the best achievable C-index stays below 1);
- censoring: administrative at `follow_up_months`, and random loss to follow-up, exponential
  with rate `dropout_rate` per month; the observed time is the earliest of the three and the
  event indicator says whether the event came first;
- each study draws from its own generator, seeded by (seed, CRC-32 of its study id), so a study's
  outcome does not depend on which other studies are in the table.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radlens.errors import DataError

TUMOUR_FINDINGS: tuple[str, ...] = ("nodule", "mass")
OUTCOME_COLUMNS: tuple[str, ...] = (
    "study_id", "log_hazard", "time_months", "event", "censoring",
)  # fmt: skip


@dataclass(frozen=True)
class OutcomeRules:
    """Coefficients of the synthetic outcome model (see the module docstring)."""

    volume_coef: float = 0.5
    lymph_coef: float = 0.7
    age_coef: float = 0.04
    noise_sd: float = 0.3
    baseline_hazard: float = 1.0 / 120.0  # per month: median survival ~ 83 months at lp = 0
    follow_up_months: float = 60.0
    dropout_rate: float = 1.0 / 240.0  # per month


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks columns {missing}; got {list(frame.columns)}")


def outcome_covariates(studies: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Per study: study_id, age, tumour_volume_ml, lymphadenopathy (the rules' inputs)."""
    _require(studies, ("study_id", "age"), "study table")
    _require(findings, ("study_id", "abnormality", "volume_ml"), "finding table")
    ids = studies["study_id"].astype(str)
    if ids.duplicated().any():
        raise DataError(f"study table repeats study ids {sorted(set(ids[ids.duplicated()]))}")
    f = findings.assign(study_id=findings["study_id"].astype(str))
    tumour = f[f["abnormality"].isin(TUMOUR_FINDINGS)].groupby("study_id")["volume_ml"].sum()
    lymph = set(f.loc[f["abnormality"] == "lymphadenopathy", "study_id"])
    age = pd.to_numeric(studies["age"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(age).all():
        raise DataError("study table has a missing or non-numeric age")
    return pd.DataFrame(
        {
            "study_id": ids.to_numpy(),
            "age": age,
            "tumour_volume_ml": ids.map(tumour).fillna(0.0).to_numpy(dtype=np.float64),
            "lymphadenopathy": ids.isin(lymph).to_numpy(),
        }
    )


def log_hazard(covariates: pd.DataFrame, rules: OutcomeRules = OutcomeRules()) -> np.ndarray:
    """The true log relative hazard (linear predictor) of each study's covariates."""
    return (
        rules.volume_coef * np.log1p(covariates["tumour_volume_ml"].to_numpy(dtype=np.float64))
        + rules.lymph_coef * covariates["lymphadenopathy"].to_numpy(dtype=np.float64)
        + rules.age_coef * (covariates["age"].to_numpy(dtype=np.float64) - 60.0)
    )


def synthesize_outcomes(
    studies: pd.DataFrame,
    findings: pd.DataFrame,
    *,
    seed: int = 0,
    rules: OutcomeRules = OutcomeRules(),
) -> pd.DataFrame:
    """SYNTHETIC follow-up per study (`OUTCOME_COLUMNS`): the true log hazard, the observed time
    in months, the event indicator and what ended follow-up ('event', 'administrative',
    'dropout'). `studies` needs study_id and age, `findings` study_id, abnormality, volume_ml
    (the phantom's cohort and finding tables)."""
    cov = outcome_covariates(studies, findings)
    lp = log_hazard(cov, rules)
    times, events, reasons = [], [], []
    for study_id, eta in zip(cov["study_id"], lp, strict=True):
        rng = np.random.default_rng([int(seed), zlib.crc32(str(study_id).encode())])
        rate = rules.baseline_hazard * np.exp(eta + rng.normal(0.0, rules.noise_sd))
        t_event = rng.exponential(1.0 / rate)
        t_dropout = rng.exponential(1.0 / rules.dropout_rate)
        ends = {"event": t_event, "dropout": t_dropout, "administrative": rules.follow_up_months}
        reason = min(ends, key=ends.__getitem__)
        times.append(ends[reason])
        events.append(reason == "event")
        reasons.append(reason)
    return pd.DataFrame(
        {
            "study_id": cov["study_id"],
            "log_hazard": lp,
            "time_months": np.asarray(times, dtype=np.float64),
            "event": np.asarray(events, dtype=bool),
            "censoring": reasons,
        },
        columns=list(OUTCOME_COLUMNS),
    )
