"""The lesion metric stack on phantom studies: timings, and a reference predictor's figures.

Usage: .venv/bin/python benchmarks/froc_reference.py [--studies 60] [--bootstrap 1000]

Renders `--studies` phantom chest CTs (default grid 64 x 96 x 96 at 5 x 3.5 x 3.5 mm): even ones
with a nodule, a mass and enlarged lymph nodes, odd ones with the phantom's random findings; the
lesions to find are the focal findings' masks (nodule, mass, lymphadenopathy). It scores a
*reference predictor* that is not a model: the truth masks blurred (Gaussian, sigma 1 voxel),
20 % of the lesions faded below the threshold, and on average two false blobs per scan. It
measures (median seconds per study) the segmentation scores, the lesion candidates and their
matching, then the FROC and the segmentation summary with their patient bootstraps; and the
C-index of the true synthetic log hazard (`synthesize_outcomes`, the ceiling a model could reach
on these outcomes) with its CI. Prints JSON and writes benchmarks/results/froc_reference.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from radlens.evaluation import (
    concordance_index,
    froc,
    froc_scan,
    lesion_candidates,
    score_cases,
    summarise_segmentation,
    survival_bootstrap,
)
from radlens.phantom import make_phantom, synthesize_outcomes

RESULTS = Path(__file__).resolve().parent / "results" / "froc_reference.json"
FOCAL = ("nodule", "mass", "lymphadenopathy")


def reference_prediction(truth_labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blurred truth, some lesions faded, a few false blobs (a stand-in for a network)."""
    prob = np.zeros(truth_labels.shape)
    for lab in range(1, int(truth_labels.max()) + 1):
        blob = ndimage.gaussian_filter((truth_labels == lab).astype(float), 1.0)
        peak = blob.max()
        if peak > 0:
            prob = np.maximum(prob, blob / peak * (0.3 if rng.random() < 0.2 else 0.95))
    for _ in range(rng.poisson(2.0)):
        centre = [rng.integers(2, n - 2) for n in prob.shape]
        r = rng.uniform(0.8, 2.0)
        zz, yy, xx = np.ogrid[tuple(slice(0, n) for n in prob.shape)]
        d2 = sum((g - c) ** 2 for g, c in zip((zz, yy, xx), centre, strict=True))
        prob = np.maximum(prob, np.where(d2 <= r * r, rng.uniform(0.5, 0.9), 0.0))
    return prob


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t_seg, t_cand, cases, scans, studies, findings = [], [], [], [], [], []
    for i in range(args.studies):
        study = make_phantom(1000 + i, findings=list(FOCAL) if i % 2 == 0 else None)
        sid, pid = f"S{i:03d}", f"P{i // 2:03d}"  # two studies per patient
        truth = np.zeros(study.volume.shape, dtype=np.int32)
        voxel_ml = float(np.prod(study.volume.spacing)) / 1000.0
        for k, (key, mask) in enumerate(study.masks.items(), start=1):
            abnormality = key.split("@")[0]
            findings.append((sid, abnormality, float((mask > 0).sum()) * voxel_ml))
            if abnormality in FOCAL:  # lesions to find: the focal findings only
                truth[mask > 0] = k
        studies.append((sid, study.habitus.age))
        prob = reference_prediction(truth, rng)
        t0 = time.perf_counter()
        cases.append(score_cases([(pid, "focal", prob >= 0.5, truth > 0, study.volume.spacing)]))
        t_seg.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cands = lesion_candidates(prob, study.volume.spacing, threshold=0.5)
        scans.append(froc_scan(sid, pid, cands, truth > 0, study.volume.spacing))
        t_cand.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    fr = froc(scans, n_bootstrap=args.bootstrap, seed=args.seed)
    t_froc = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = summarise_segmentation(pd.concat(cases), n_bootstrap=args.bootstrap)
    t_summary = time.perf_counter() - t0
    outcomes = synthesize_outcomes(
        pd.DataFrame(studies, columns=["study_id", "age"]),
        pd.DataFrame(findings, columns=["study_id", "abnormality", "volume_ml"]),
        seed=args.seed,
    )
    ci = survival_bootstrap(
        outcomes["time_months"], outcomes["event"], outcomes["log_hazard"],
        patient_ids=np.array([f"P{i // 2:03d}" for i in range(args.studies)]),
        n_bootstrap=args.bootstrap, seed=args.seed,
    )  # fmt: skip
    out = {
        "benchmark": "froc_reference",
        "studies": args.studies,
        "grid": "64x96x96 voxels at 5 x 3.5 x 3.5 mm (phantom DEFAULT_SHAPE)",
        "predictor": "reference perturbation of the truth (not a model)",
        "bootstrap": args.bootstrap,
        "median_seconds_per_study": {
            "segmentation_scores": float(np.median(t_seg)),
            "candidates_and_matching": float(np.median(t_cand)),
        },
        "seconds": {"froc_with_bootstrap": t_froc, "segmentation_summary": t_summary},
        "froc": {
            "sensitivities": dict(
                zip(
                    ["1/8", "1/4", "1/2", "1", "2", "4", "8"],
                    fr.sensitivities.round(4).tolist(),
                    strict=True,
                )
            ),
            "score": fr.score,
            "score_ci": [float(fr.bootstrap.low[-1]), float(fr.bootstrap.high[-1])],
            "lesions": fr.n_lesions,
        },
        "segmentation": summary.round(4).to_dict(orient="records"),
        "synthetic_outcomes_true_risk_c_index": {
            "estimate": concordance_index(
                outcomes["time_months"], outcomes["event"], outcomes["log_hazard"]
            ),
            "ci": [float(ci.low[0]), float(ci.high[0])],
            "events": int(outcomes["event"].sum()),
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    print(json.dumps(out, indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
