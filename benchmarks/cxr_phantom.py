"""Phantom chest radiographs + CXR reports: speed, label prevalence, labeler agreement.

Usage: .venv/bin/python benchmarks/cxr_phantom.py [--seed 7] [--studies 200]
       [--f1-seed 2027] [--f1-reports 1000]

Renders the first `--studies` studies of the phantom cohort of `--seed` (default grid
64 x 96 x 96, as `radlens cohort synth`), then:
- speed: median seconds per study of the DRR (256 x 256, with the study's projected masks)
  plus the CXR report; the CT rendering itself is timed separately;
- prevalence: the `cxr_true:<observation>` prevalence over those studies, and the labeler's
  (`--vocab chest_xr`, present only) on their CXR reports.
- labeler F1: micro F1 of the chest_xr labeler against the intended labels on `--f1-reports`
  CXR reports of a seed not used in development (observation level, and observation@location
  for zones and pleurae);
- learnability probe: is each finding visible at all? Per observation with >= 8 positives, the
  AUROC of a logistic regression (standardised pixels -> 40 PCA components, C = 0.1) on the
  radiographs downsampled to 32 x 32 px, out of fold (5 folds grouped by patient). A linear
  probe sees global signs (heart size, basal fluid, lucent rims), not small focal lesions.
Prints JSON and writes benchmarks/results/cxr_phantom.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radlens.phantom import (
    CXR_OBSERVATIONS,
    cxr_findings,
    sample_findings,
    simulate_patient,
    write_cxr_report,
)
from radlens.phantom.cxr_cohort import projected_masks
from radlens.reports import label_many
from radlens.reports.tables import label_matrix

RESULTS = Path(__file__).resolve().parent / "results" / "cxr_phantom.json"
IMPLIED = ("", "heart", "mediastinum")  # locations the labeler leaves implicit


def _studies(seed: int, n: int, *, render: bool):
    k = 0
    while True:
        for study, info in simulate_patient(seed, k, render=render):
            yield study, info
            n -= 1
            if n == 0:
                return
        k += 1


def _cohort(seed: int, n: int) -> tuple[dict, dict, dict]:
    """Render the first `n` studies of cohort `seed`: (speed, prevalence, probe)."""
    drr, ct, truth, texts, small, patients = [], [], [], [], [], []
    t0 = time.perf_counter()
    for study, info in _studies(seed, n, render=True):
        ct.append(time.perf_counter() - t0)
        t = time.perf_counter()
        rad = projected_masks(study, 256, info["cxr_seed"])  # as the cohort writer renders it
        write_cxr_report(study.findings, np.random.default_rng(info["cxr_seed"]))
        drr.append(time.perf_counter() - t)
        texts.append(info["cxr_report"])
        truth.append(info["cxr_truth"])
        small.append(np.asarray(Image.fromarray(rad.to_uint8()).resize((32, 32), Image.BILINEAR)))
        patients.append(info["patient_id"])
        t0 = time.perf_counter()
    speed = {
        "studies": n,
        "drr_plus_report_s_median": round(float(np.median(drr)), 4),
        "drr_plus_report_s_p90": round(float(np.percentile(drr, 90)), 4),
        "ct_render_s_median": round(float(np.median(ct)), 4),
    }
    truth_m = np.array([[t[o] for o in CXR_OBSERVATIONS] for t in truth])
    pred = label_matrix(label_many(texts, "chest_xr"), CXR_OBSERVATIONS, "keep")
    prevalence = {
        "studies": n,
        "truth_positives": dict(zip(CXR_OBSERVATIONS, map(int, truth_m.sum(0)), strict=True)),
        "truth_prevalence": {
            o: round(float(v), 3) for o, v in zip(CXR_OBSERVATIONS, truth_m.mean(0), strict=True)
        },
        "labeler_prevalence": {
            o: round(float(v), 3)
            for o, v in zip(CXR_OBSERVATIONS, (pred == 1).mean(0), strict=True)
        },
    }
    return speed, prevalence, _probe(np.stack(small), truth_m, np.array(patients))


def _probe(images: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> dict:
    """Out-of-fold AUROC of a linear probe on 32 px pixels per observation (module docstring)."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    out = {}
    for j, obs in enumerate(CXR_OBSERVATIONS):
        y = truth[:, j]
        if obs == "no_finding" or y.sum() < 8 or (1 - y).sum() < 8:
            continue
        model = make_pipeline(StandardScaler(), PCA(40, random_state=0),
                              LogisticRegression(C=0.1, max_iter=2000))  # fmt: skip
        p = cross_val_predict(model, x, y, groups=groups, cv=GroupKFold(5),
                              method="predict_proba")[:, 1]  # fmt: skip
        out[obs] = {"positives": int(y.sum()), "auroc": round(float(roc_auc_score(y, p)), 4)}
    mean = float(np.mean([v["auroc"] for v in out.values()])) if out else None
    return {"pixels": 32, "folds": 5, "per_observation": out,
            "mean_auroc": round(mean, 4) if mean is not None else None}  # fmt: skip


def _f1(pred: np.ndarray, want: np.ndarray) -> float:
    tp = float(np.sum((pred == 1) & want))
    return round(2 * tp / (2 * tp + np.sum((pred == 1) & ~want) + np.sum((pred != 1) & want)), 4)


def _labeler_f1(seed: int, n: int) -> dict:
    texts, truth = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        specs = [] if rng.random() < 0.12 else sample_findings(rng)
        texts.append(write_cxr_report(specs, np.random.default_rng([seed, i, 1])))
        truth.append({f"{f['observation']}@{f['location']}" for f in cxr_findings(specs)}
                     | {f["observation"] for f in cxr_findings(specs)})  # fmt: skip
    places = sorted({c for t in truth for c in t if "@" in c and c.split("@")[1] not in IMPLIED})
    cols = [*CXR_OBSERVATIONS, *places]
    want = np.array([[c in t for c in cols] for t in truth])
    pred = label_matrix(label_many(texts, "chest_xr"), cols, "keep")
    k = len(CXR_OBSERVATIONS)
    per = {
        o: _f1(pred[:, j], want[:, j]) for j, o in enumerate(CXR_OBSERVATIONS) if want[:, j].any()
    }
    return {
        "seed": seed,
        "reports": n,
        "micro_f1_observation": _f1(pred[:, :k], want[:, :k]),
        "micro_f1_observation_at_location": _f1(pred[:, k:], want[:, k:]),
        "f1_per_observation": per,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--f1-seed", type=int, default=2027)
    ap.add_argument("--f1-reports", type=int, default=1000)
    args = ap.parse_args()
    speed, prevalence, probe = _cohort(args.seed, args.studies)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"(shared with other jobs)",
        "image_size": 256,
        "speed": speed,
        "prevalence": prevalence,
        "learnability_probe": probe,
        "labeler": _labeler_f1(args.f1_seed, args.f1_reports),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
