"""Survival from a segmentation model's measured tumour volume (issue 15, HECKTOR-style).

Usage: .venv/bin/python benchmarks/survival_from_segmentation.py --run SEG_RUN --cohort E
       [--fit-cohort F] [--seed 0] [--bootstrap 1000] [--window 64,96,96] [--threads 2]
       [--json FILE]

A segmentation run trained on another cohort measures every study of cohort E: the summed volume
of its nodule and mass candidates and whether it has a lymph-node candidate (`focal_scores`, the
0.5 candidate threshold). The phantom's synthetic outcomes come from documented rules on the true
summed nodule + mass volume (log scaled), lymphadenopathy and age (`radlens.phantom.outcomes`).
Linear Cox models (`covariate_cox`, Breslow, ridge 1e-3) are fitted on every study of cohort F
(`--fit-cohort`; without it, on E's train + val patients of `assign_splits(seed)`, 70/10/20)
and scored on every study of E (else E's test patients) by Harrell's C with a patient-bootstrap
95% CI, and each model's gain over covariates alone with a paired CI:

- covariates: age (standardised), sex, site (one-hot);
- + segmentation: covariates + ln(1 + measured tumour ml) + measured lymph node;
- + truth (ceiling of that): covariates + ln(1 + true tumour ml) + true lymphadenopathy;
- the true log hazard (the ceiling any model can reach; the frailty noise is what is left).

Prints JSON and writes benchmarks/results/survival_from_segmentation.json. Nothing here was tuned:
one segmentation run, one cohort, one split.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from radlens.data import read_cohort
from radlens.data.splits import assign_splits
from radlens.evaluation import concordance_index, focal_scores, patient_bootstrap
from radlens.phantom import outcome_covariates
from radlens.training import covariate_cox

RESULTS = Path(__file__).resolve().parent / "results" / "survival_from_segmentation.json"


def measured(run: str, cohort: str, window: tuple[int, ...]) -> pd.DataFrame:
    """Per study: measured tumour volume (ml) and whether a lymph-node candidate was found."""
    table = read_cohort(cohort)
    ids = table["study_id"].astype(str).tolist()
    res = focal_scores(run, cohort=cohort, studies=ids, window=window)
    cands = res.candidates
    tumour = cands[cands["finding"].isin(["nodule", "mass"])]
    volume = tumour.groupby("study_id")["volume_mm3"].sum() / 1000.0
    nodes = set(cands.loc[cands["finding"] == "lymphadenopathy", "study_id"].astype(str))
    return pd.DataFrame(
        {
            "study_id": ids,
            "measured_tumour_ml": [float(volume.get(s, 0.0)) for s in ids],
            "measured_node": [float(s in nodes) for s in ids],
        }
    )


def design(frame: pd.DataFrame, fit_rows: np.ndarray, extra: list[str]) -> np.ndarray:
    """Covariates (age standardised on `fit_rows`, sex and site one-hot) + `extra` columns."""
    age = frame["age"].astype(float)
    z = (age - age[fit_rows].mean()) / (age[fit_rows].std() or 1.0)
    dummies = pd.get_dummies(frame[["sex", "site"]].astype(str), drop_first=True, dtype=float)
    return np.column_stack([z, dummies.to_numpy(), frame[extra].to_numpy(dtype=float)])


def _frame(cohort: Path, run: str, window: tuple[int, ...]) -> pd.DataFrame:
    """Per study of `cohort`: patient, covariates, true and measured tumour, outcomes."""
    table = read_cohort(cohort)
    truth = outcome_covariates(table, pd.read_csv(cohort / "findings.csv"))
    outcomes = pd.read_csv(cohort / "outcomes.csv", dtype={"study_id": str})
    frame = (
        table[["study_id", "patient_id", "age", "sex", "site"]]
        .astype({"study_id": str, "patient_id": str})
        .merge(truth[["study_id", "tumour_volume_ml", "lymphadenopathy"]], on="study_id")
        .merge(measured(run, str(cohort), window), on="study_id")
        .merge(outcomes, on="study_id")
    )
    frame["patient_id"] = cohort.name + ":" + frame["patient_id"]  # two cohorts: P0001 twice
    frame["log_measured"] = np.log1p(frame["measured_tumour_ml"])
    frame["log_true"] = np.log1p(frame["tumour_volume_ml"])
    frame["true_node"] = frame["lymphadenopathy"].astype(float)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="segmentation run (trained elsewhere)")
    parser.add_argument("--cohort", required=True, help="phantom cohort with outcomes.csv")
    parser.add_argument("--fit-cohort", help="fit the Cox models on this cohort, test on --cohort")
    parser.add_argument("--seed", type=int, default=0, help="patient split of the cohort")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--window", default="64,96,96")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    window = tuple(int(v) for v in args.window.split(","))
    frame = _frame(Path(args.cohort), args.run, window)
    if args.fit_cohort:
        fitting = _frame(Path(args.fit_cohort), args.run, window)
        frame = pd.concat([fitting.assign(split="fit"), frame.assign(split="test")])
        frame = frame.reset_index(drop=True)
    else:
        split = assign_splits(frame["patient_id"], seed=args.seed)
        frame["split"] = frame["patient_id"].astype(str).map(split)
    fit = frame["split"].isin(["fit", "train", "val"]).to_numpy()
    test = ~fit
    time_, event = frame["time_months"].to_numpy(float), frame["event"].to_numpy(bool)
    models = {
        "covariates": [],
        "covariates+segmentation": ["log_measured", "measured_node"],
        "covariates+truth": ["log_true", "true_node"],
    }
    risk = {}
    for name, extra in models.items():
        x = design(frame, fit, extra)
        beta = covariate_cox(x[fit], time_[fit], event[fit])
        risk[name] = x @ beta
    risk["true_log_hazard"] = frame["log_hazard"].to_numpy(float)
    pids = frame.loc[test, "patient_id"].astype(str).to_numpy()
    t, e = time_[test], event[test]
    out: dict = {}
    for name, r in risk.items():
        ci = patient_bootstrap(concordance_index, t, e, r[test], patient_ids=pids,
                               n_bootstrap=args.bootstrap)  # fmt: skip
        entry = {"c_index": concordance_index(t, e, r[test]), "ci": [ci.low, ci.high]}
        if name != "covariates":

            def gain(tt, ee, a, b):
                return concordance_index(tt, ee, a) - concordance_index(tt, ee, b)

            base = risk["covariates"][test]
            d = patient_bootstrap(gain, t, e, r[test], base, patient_ids=pids,
                                  n_bootstrap=args.bootstrap)  # fmt: skip
            entry["gain_over_covariates"] = [gain(t, e, r[test], base), d.low, d.high]
        out[name] = entry
    mt, tt = frame.loc[test, "log_measured"], frame.loc[test, "log_true"]
    result = {
        "command": "benchmarks/survival_from_segmentation.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "json"),
        "run": args.run,
        "cohort": args.cohort,
        "fit_cohort": args.fit_cohort,
        "test": {"studies": int(test.sum()), "patients": len(set(pids)), "events": int(e.sum())},
        "fit_studies": int(fit.sum()),
        "measured_vs_true_log_volume_pearson_test": float(np.corrcoef(mt, tt)[0, 1]),
        "models": out,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result, indent=2, default=float))
    Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
