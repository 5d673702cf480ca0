"""Pointing game of a `radlens demo --detect-*` folder over every test positive.

Scores what `radlens demo` prints as "pointing game over every test positive" again from the
folder's saved runs (so it also works on a demo written before that step existed): each
detector run under the folder (`DETECTOR_DIRS`) scores its test studies (`evaluate_detector`,
the top candidate within 10 mm of the finding's mask), the classifier's heatmaps (the demo's
method and layers) score every other finding's test positives, pooled over cases. Writes the
figures under --key into --json.

    python benchmarks/demo_pointing.py --demo DIR --json benchmarks/results/demo_pointing.json \
        --key seed3853
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rich.console import Console

from radlens.demos.ct_detection import DETECTOR_DIRS
from radlens.demos.ct_localization import (
    cam_settings,
    localization_with_detectors,
    print_localization,
)
from radlens.evaluation import evaluate_detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, required=True, help="a `radlens demo` output folder")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    summary = json.loads((args.demo / "demo.json").read_text())
    t0 = time.perf_counter()
    detections = {}
    for finding, folder in DETECTOR_DIRS.items():
        run = args.demo / folder
        if (run / "detector.json").is_file():
            scored = evaluate_detector(run, run / "cohort.csv", splits=("test",), n_bootstrap=0)
            detections[finding] = {"pointing": scored["pointing"]}
    figures = localization_with_detectors(
        args.demo / "run", None, detections, **cam_settings(summary["model"])
    )
    print_localization(figures, Console())
    entry = {
        "command": f"python benchmarks/demo_pointing.py --demo {args.demo} --key {args.key}",
        "demo_seed": summary["seed"],
        "detectors": sorted(detections),
        **figures,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    data = json.loads(args.json.read_text()) if args.json.exists() else {}
    data.setdefault("what", __doc__.splitlines()[0])
    data.setdefault("runs", {})[args.key] = entry
    args.json.write_text(json.dumps(data, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
