"""Labeler F1 against the phantom cohort's true findings (abnormality and abnormality@location).

Usage: .venv/bin/python benchmarks/phantom_labeler_f1.py [COHORT_DIR | --patients N --seed S]
(without COHORT_DIR the reports of N patients are generated without rendering volumes)
Prints JSON: micro / macro F1 per level and per-abnormality precision / recall / F1. A finding
counts as predicted when the labeler says "present" ("uncertain" counts as not predicted).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cohort", nargs="?")
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import pandas as pd

    from radlens.data.cohort_table import read_cohort
    from radlens.phantom import ABNORMALITIES, simulate_patient
    from radlens.reports.labeler import label_many

    if args.cohort:
        table = read_cohort(args.cohort)
    else:
        rows = [
            {"report_text": info["report"], "true_findings": json.dumps(info["true_findings"])}
            for k in range(args.patients)
            for _, info in simulate_patient(args.seed, k, render=False)
        ]
        table = pd.DataFrame(rows)
    t0 = time.perf_counter()
    labelled = label_many(list(table["report_text"]))
    secs = time.perf_counter() - t0
    out: dict = {"n_reports": len(table), "labeler_seconds": round(secs, 3)}
    for level in ("abnormality", "abnormality@location"):
        counts = {a: [0, 0, 0] for a in ABNORMALITIES}
        for truth_json, found in zip(table["true_findings"], labelled, strict=True):
            truth = json.loads(truth_json)
            if level == "abnormality":
                t = {(f["abnormality"],) for f in truth}
                p = {(f.abnormality,) for f in found if f.status == "present"}
            else:
                t = {(f["abnormality"], f["location"]) for f in truth}
                p = {(f.abnormality, f.location) for f in found if f.status == "present"}
            p = {k for k in p if k[0] in counts}
            for k in t & p:
                counts[k[0]][0] += 1
            for k in p - t:
                counts[k[0]][1] += 1
            for k in t - p:
                counts[k[0]][2] += 1
        per = {a: _prf(*c) for a, c in counts.items()}
        tot = [sum(c[i] for c in counts.values()) for i in range(3)]
        out[level] = {
            "micro_f1": _prf(*tot)["f1"],
            "macro_f1": round(sum(v["f1"] for v in per.values()) / len(per), 4),
            "per_abnormality": per,
        }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
