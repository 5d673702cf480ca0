"""One image-text arm of benchmarks/zeroshot.py on a cohort it already made: pretrain, zero-shot
(global / local / both) and pointing game, no supervised baseline. For recipe comparisons on the
same test images (e.g. `zeroshot_recipe_paired.json`).

Usage:
  .venv/bin/python benchmarks/zeroshot_arm.py --root OUT --seed S --name ARM [zeroshot.py options]

OUT is a `benchmarks/zeroshot.py --out` folder (its cohort/pairs.csv is reused; without one, a
cohort is synthesized with seed S and zeroshot.py's --studies). Every option after these is passed
to zeroshot.py's parser (e.g. ``--no-semantic-positives --global-loss infonce``); the arm is written
to OUT/ARM and one JSON line is appended to OUT/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zeroshot as z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--no-local", action="store_true", help="the global-only arm")
    a, rest = ap.parse_known_args()
    sys.argv = ["zeroshot.py", "--seed", str(a.seed), "--out", str(a.root), "--json", "-", *rest]
    args = z.parse()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if (a.root / "cohort" / "pairs.csv").exists():
        pairs_csv, pairs, findings = z.reuse_pairs(a.root)
    else:
        pairs_csv, pairs, findings = z.build_pairs(a.root, a.seed, args.studies,
                                                   args.min_positives, args.workers)  # fmt: skip
    t0 = time.time()
    res = z.image_text_arm(a.root, a.name, pairs_csv, pairs, findings, args, local=not a.no_local)
    zs = res["zero_shot"]
    out = {"name": a.name, "args": rest, "global": zs["mean_auroc"],
           "per": {k: v["auroc"] for k, v in zs["per_finding"].items()},
           "neg_cos": zs["negation_cosine"], "pointing": res["pointing"].get("pointing_game"),
           "wall": round(time.time() - t0)}  # fmt: skip
    if "by_similarity" in zs:
        both = zs["by_similarity"]["both"]
        out.update(local=zs["by_similarity"]["local"]["mean_auroc"], both=both["mean_auroc"],
                   per_both={k: v["auroc"] for k, v in both["per_finding"].items()},
                   pointing_cos=res["pointing"]["cosine_map"].get("pointing_game"),
                   pointing_per={k: v["pointing_game"] for k, v in
                                 res["pointing"].get("per_observation", {}).items()})  # fmt: skip
    print(json.dumps(out))
    with open(a.root / "results.jsonl", "a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":  # spawned rendering workers re-import this file
    main()
