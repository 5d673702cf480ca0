"""Survival on a phantom cohort the survival code was not tuned on: model vs ceiling vs covariates.

Usage:
  radlens cohort synth --patients 450 --seed 7919 --formats nifti --out COHORT
  .venv/bin/python benchmarks/survival.py --cohort COHORT --init CLASSIFIER_RUN --out DIR \
      [--heads cox,discrete] [--bootstrap 1000] [--json FILE]

For each head it runs the demo's survival setting (`radlens.evaluation.DEMO_SURVIVAL`: the
classifier run's encoder frozen, its label logits as image features, plus age, sex and site, on
the classifier's grid and HU windows) through `survival_demo` on COHORT (splits by patient, seed of
the classifier run), and evaluates the test split: Harrell's C-index with a patient-bootstrap CI
for the model, for the covariates-only linear Cox model, and for the true synthetic log hazard
(the ceiling no model can pass on average). Prints JSON and writes it to --json (default
benchmarks/results/survival.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from radlens.evaluation import DEMO_SURVIVAL, survival_demo

RESULTS = Path(__file__).resolve().parent / "results" / "survival.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cohort", required=True, help="Phantom cohort folder (unseen seed).")
    parser.add_argument("--init", required=True, help="Classification run whose encoder to use.")
    parser.add_argument("--out", required=True, help="Folder for the survival runs and cache.")
    parser.add_argument("--heads", default="cox,discrete")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=str(RESULTS))
    args = parser.parse_args()
    out = Path(args.out)
    runs = {}
    for head in [h.strip() for h in args.heads.split(",") if h.strip()]:
        runs[head] = survival_demo(
            args.init, out / head, n_bootstrap=args.bootstrap, head=head, cohort=args.cohort,
            cohort_cache=str(out / "cache"), threads=args.threads,
        )  # fmt: skip
    result = {
        "benchmark": "survival",
        "command": "python benchmarks/survival.py " + shlex.join(sys.argv[1:]),
        "cohort": str(args.cohort),
        "init": str(args.init),
        "setting": DEMO_SURVIVAL,
        "split": "test",
        "ci": f"patient bootstrap, {args.bootstrap} replicates, 95% percentile",
        "runs": runs,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(result, indent=2))
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
