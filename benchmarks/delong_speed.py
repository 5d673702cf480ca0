"""DeLong AUROC + variance for 100,000 cases x 83 labels on one core (target: < 5 s).

Usage: .venv/bin/python benchmarks/delong_speed.py [--cases 100000] [--labels 83] [--repeats 3]
Prints JSON (median wall-clock and process-CPU seconds over repeats, with the machine's load
average, since CI machines are shared) and writes benchmarks/results/delong_speed.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from radlens.evaluation import delong  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "delong_speed.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=83)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    prevalence = rng.uniform(0.01, 0.5, args.labels)
    y = (rng.random((args.cases, args.labels)) < prevalence).astype(np.float32)
    y[rng.random((args.cases, args.labels)) < 0.02] = np.nan  # some unknown labels
    scores = (rng.normal(size=(args.cases, args.labels)) + np.nan_to_num(y)).astype(np.float32)
    scores = np.round(scores, 3)  # realistic ties
    load_before = round(os.getloadavg()[0], 2)  # this machine is shared: say how busy it was
    times = []
    cpu_times = []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = delong(y, scores)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    j = 0
    known = ~np.isnan(y[:, j])
    err = abs(res.auc[j] - roc_auc_score(y[known, j], scores[known, j]))
    out = {
        "benchmark": "delong_speed",
        "cases": args.cases,
        "labels": args.labels,
        "threads": 1,
        "repeats": args.repeats,
        "median_seconds": float(np.median(times)),
        "min_seconds": float(np.min(times)),
        "median_cpu_seconds": float(np.median(cpu_times)),
        "target_seconds": 5.0,
        "meets_target_wall": bool(np.median(times) < 5.0),
        "meets_target_cpu": bool(np.median(cpu_times) < 5.0),
        "max_abs_auc_diff_vs_sklearn_label0": float(err),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_before,
    }
    print(json.dumps(out, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
