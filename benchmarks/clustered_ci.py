"""Clustered vs image-level AUROC CIs on simulated clustered data (the issue-17 case).

60 patients x 10 near-identical images (patient-level label and score, tiny per-image noise),
repeated over `--reps` simulated data sets: the image-level DeLong CI, the clustered DeLong
(Obuchowski 1997, patients as clusters) CI and the patient-bootstrap percentile CI; medians of
their widths, the ratio clustered SE / bootstrap SD, the coverage of the true AUROC (computed
on a large independent sample of patients) and the time of one clustered DeLong call.

    .venv/bin/python benchmarks/clustered_ci.py --reps 200 --bootstrap 1000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from radlens.evaluation import bootstrap_auc_ap, clustered_delong, delong


def simulate(rng, n_patients: int, per_patient: int, noise: float = 0.01):
    clusters = np.repeat(np.arange(n_patients), per_patient)
    label = (rng.random(n_patients) < 0.4).astype(float)
    score = rng.normal(size=n_patients) + 0.7 * label
    s = score[clusters] + noise * rng.normal(size=clusters.size)
    return label[clusters], s, clusters


def true_auc(rng) -> float:
    y, s, _ = simulate(rng, 200_000, 1, noise=0.0)
    return float(delong(y, s).auc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/results/clustered_ci.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    truth = true_auc(rng)
    widths = {"image": [], "clustered": [], "bootstrap": []}
    covered = {"image": 0, "clustered": 0, "bootstrap": 0}
    ratio, times = [], []
    for rep in range(args.reps):
        y, s, c = simulate(rng, 60, 10)
        t0 = time.perf_counter()
        cl = clustered_delong(y, s, c)
        times.append(time.perf_counter() - t0)
        im = delong(y, s)
        boot = bootstrap_auc_ap(
            y[:, None], s[:, None], patient_ids=c, n_bootstrap=args.bootstrap, seed=rep,
            normalise=None,
        )  # fmt: skip
        intervals = {
            "image": im.ci(),
            "clustered": cl.ci(),
            "bootstrap": (boot.low[1:2], boot.high[1:2]),
        }
        for k, (lo, hi) in intervals.items():
            widths[k].append(float(hi[0] - lo[0]))
            covered[k] += int(lo[0] <= truth <= hi[0])
        ratio.append(float(cl.se[0] / np.nanstd(boot.samples[:, 1], ddof=1)))
    out = {
        "setup": "60 patients x 10 near-identical images, prevalence 0.4, 95% CIs",
        "reps": args.reps,
        "n_bootstrap": args.bootstrap,
        "true_auroc": truth,
        "median_width": {k: float(np.median(v)) for k, v in widths.items()},
        "coverage": {k: v / args.reps for k, v in covered.items()},
        "median_se_ratio_clustered_over_bootstrap_sd": float(np.median(ratio)),
        "median_clustered_delong_seconds": float(np.median(times)),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
