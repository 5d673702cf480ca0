"""Localization of a chest-CT run's Grad-CAM maps against the synthetic cohort's lesion masks.

Prints JSON: per abnormality (and pooled as "all") over every truly positive test study the
number of cases, pointing-game hit rate and hits, chance (hit rate of a random point inside the
body at the same tolerance), one-sided binomial p-value, mean IoU / Dice of the map thresholded
at half its maximum, and the hit rates of two controls scored the same way (map inverted, map
mirrored left-right), plus the CPU time spent.

    .venv/bin/radlens demo --out X          # or any run trained on a `radlens cohort synth` folder
    .venv/bin/python benchmarks/explain_localization.py --run X/run [--tolerance 1]
        [--method gradcam] [--layer NAME] [--max-cases 40] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import torch

from radlens.errors import RadlensError
from radlens.explain.cohort import localize_run


def _clean(value: object) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 5)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return _clean(value.item())  # numpy scalars
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (e.g. the demo's X/run)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="gradcam", choices=("gradcam", "gradcampp"))
    parser.add_argument("--layer", default=None, help="target layer (default: automatic)")
    parser.add_argument("--tolerance", type=int, default=1, help="pointing-game tolerance, voxels")
    parser.add_argument("--max-cases", type=int, default=None, help="per abnormality")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    try:
        result = localize_run(
            args.run,
            split=args.split,
            method=args.method,
            layer=args.layer,
            tolerance=args.tolerance,
            max_cases=args.max_cases,
            progress=False,
        )
    except RadlensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {
        "run": str(Path(args.run).resolve()),
        **result.to_dict(),
        "cases": len(result.cases),
        "cpu_s": round(time.process_time() - start_cpu, 2),
        "wall_s": round(time.perf_counter() - start_wall, 2),
        "threads": args.threads,
    }
    text = json.dumps(_clean(report), indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
