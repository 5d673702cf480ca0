"""Two-stage lesion detector: train on one cohort, FROC and study AUROC on another.

Trains `radlens.training.nodule_detection` on the train split of --train-cohort, then scores
(`radlens.evaluation.nodule_detection`) the test split of that cohort and every study of each
--test-cohort (cohorts it never saw), and merges the figures under --key into --json.

    python benchmarks/nodule_detection.py --train-cohort A --test-cohort B --out RUN \
        --json benchmarks/results/nodule_detection.json --key KEY
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import torch

from radlens.evaluation.nodule_detection import evaluate_detector, sized_froc
from radlens.training.nodule_detection import DetectorConfig, train_detector


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run."""
    parts = ["python benchmarks/nodule_detection.py"]
    for key, value in vars(args).items():
        if value in (False, None, []):
            continue
        flag = "--" + key.replace("_", "-")
        parts.append(flag if value is True else f"{flag} {value}" if not isinstance(value, list)
                     else f"{flag} {' '.join(map(str, value))}")  # fmt: skip
    return " ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-cohort", type=Path, required=True)
    ap.add_argument("--test-cohort", type=Path, nargs="*", default=[])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--finding", default="nodule", help="nodule, mass, arterial_wall_calcification")
    ap.add_argument("--min-hu", type=float, help="plaque candidates' lowest peak (HU)")
    ap.add_argument("--epochs", type=int, default=DetectorConfig.epochs)
    ap.add_argument("--negatives", type=int, default=DetectorConfig.negatives)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spacing", type=float, help="mm, isotropic detection grid (default 3.5)")
    ap.add_argument(
        "--min-diameter", type=float, default=None,
        help="mm, FROC's second table (default: the finding's: 6 mm, plaques 0)",
    )  # fmt: skip
    ap.add_argument("--workers", type=int, default=2, help="candidate processes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-training", action="store_true", help="score an existing --out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    extra = {} if args.min_hu is None else {"min_hu": args.min_hu}
    if args.spacing:  # the cube keeps its ~56 mm side (DetectorConfig.for_finding)
        extra["spacing"] = (args.spacing,) * 3
    config = DetectorConfig.for_finding(
        args.finding, epochs=args.epochs, negatives=args.negatives, seed=args.seed, **extra
    )
    t0 = time.perf_counter()
    if args.skip_training:
        info = json.loads((args.out / "detector.json").read_text())
    else:
        info = train_detector(args.train_cohort, args.out, config, workers=args.workers)
    t1 = time.perf_counter()
    scored = {"own_test_split": evaluate_detector(
        args.out, args.train_cohort, splits=("test",), min_diameter_mm=args.min_diameter,
        workers=args.workers)}  # fmt: skip
    for cohort in args.test_cohort:
        scored[cohort.name] = evaluate_detector(
            args.out, cohort, min_diameter_mm=args.min_diameter, workers=args.workers
        )
    entry = {
        "command": command(args),
        "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "training": info,
        "scored": scored,
        "wall_s": {"train": round(t1 - t0, 1), "score": round(time.perf_counter() - t1, 1)},
    }
    data = json.loads(args.json.read_text()) if args.json.exists() else {}
    data.setdefault("what", __doc__.splitlines()[0])
    data.setdefault("runs", {})[args.key] = entry
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    for name, res in scored.items():
        big = sized_froc(res)
        print(f"{name}: FROC all {res['froc_all']['score']:.3f}, >= {res['min_diameter_mm']:g} mm "
              f"{big['score']:.3f} {big.get('score_ci')} ({big['n_lesions']} lesions, ceiling "
              f"{big['ceiling']}), study AUROC {res['study_auroc']}")  # fmt: skip


if __name__ == "__main__":
    main()
