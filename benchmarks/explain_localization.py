"""Localization of a chest-CT run's Grad-CAM maps against the synthetic cohort's lesion masks.

Prints JSON: per abnormality (and pooled as "all") over every truly positive test study the
number of cases, strict and tolerant pointing-game hit rates and hits, chance (hit rate of a
random point inside the body, strict and at the same tolerance), p-values (exact Poisson-binomial
against each case's chance; permutation of the peaks across the abnormality's cases), mean
IoU / Dice of the map thresholded at half its maximum, and the hit rates of two controls scored
the same way (map inverted, map mirrored left-right), plus the CPU time spent. With --compare,
one such block per method[@layer] and a per-finding summary (strict / tolerant pointing game).

    .venv/bin/radlens demo --out X          # or any run trained on a `radlens cohort synth` folder
    .venv/bin/python benchmarks/explain_localization.py --run X/run [--tolerance 10mm]
        [--method gradcam] [--layer NAME] [--max-cases 40] [--threads 1] [--out FILE]
        [--compare input-x-gradient hirescam@features.9 hirescam@features.5+features.13
                   guided-gradcam@features.9] [--sanity]

Methods: gradcam, gradcampp, hirescam, guided-gradcam, guided-hirescam (x guided backprop),
input-x-gradient (gradient x input at the input grid, Gaussian sigma 1 voxel); layers joined by
'+' are fused by the mean of the per-layer maps (each over its own maximum), by '*' with their
geometric mean (`radlens.explain.fusion`). With --sanity each config's table row says whether it
passes the randomisation check (re-initialised weights: hits not above chance, p >= 0.05).
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
from radlens.explain import CAM_METHODS, randomised_models
from radlens.explain.cohort import localize_run
from radlens.training import load_run

RANDOM = "random (full)"
#: the randomisation check passes when the re-initialised model's hits are not significantly
#: above chance (exact Poisson-binomial p-value at least this)
SANITY_ALPHA = 0.05
SUMMARY = ("n", "pointing_game_strict", "pointing_game", "chance_strict", "chance", "p_value")


def _clean(value: object) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 5)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return _clean(value.item())  # numpy scalars
    return value


def _one(
    args: argparse.Namespace, method: str, layer: str | None, model: object = None
) -> dict[str, object]:
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    result = localize_run(
        args.run,
        split=args.split,
        method=method,  # type: ignore[arg-type]
        layer=layer,
        tolerance=args.tolerance,
        max_cases=args.max_cases,
        progress=False,
        model=model,  # type: ignore[arg-type]
    )
    return {
        **result.to_dict(),
        "cases": len(result.cases),
        "cpu_s": round(time.process_time() - start_cpu, 2),
        "wall_s": round(time.perf_counter() - start_wall, 2),
    }


def _summary(blocks: dict[str, dict]) -> dict[str, dict[str, dict[str, object]]]:
    """finding -> config -> (n, strict / tolerant pointing game, chance, p-value)."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    for name, block in blocks.items():
        for finding, row in block["per_abnormality"].items():
            out.setdefault(finding, {})[name] = {k: row.get(k) for k in SUMMARY}
    return out


def _table(blocks: dict[str, dict]) -> dict[str, dict[str, object]]:
    """config -> pooled ("all") figures, with its re-initialised twin's beside them."""
    keys = ("n", "pointing_game_strict", "pointing_game", "chance_strict", "chance")
    keys += ("p_value_strict", "p_value", "perm_p_value")
    out: dict[str, dict[str, object]] = {}
    for name, block in blocks.items():
        if name.endswith(RANDOM):
            continue
        row = {k: block["per_abnormality"]["all"].get(k) for k in keys}
        row |= {"layer": block["layer"], "s_per_case": block["wall_s"] / max(block["cases"], 1)}
        twin = blocks.get(f"{name} {RANDOM}")
        if twin is not None:
            pooled = twin["per_abnormality"]["all"]
            row |= {f"random_{k}": pooled.get(k) for k in ("pointing_game", "chance", "p_value")}
            passes = float(pooled.get("p_value", 0.0)) >= SANITY_ALPHA
            row["sanity"] = f"{'passes' if passes else 'fails'} (random p >= {SANITY_ALPHA}?)"
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory (e.g. the demo's X/run)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--method", default="gradcam", choices=CAM_METHODS)
    parser.add_argument("--layer", default=None, help="target layer (default: automatic)")
    parser.add_argument(
        "--tolerance", default="10mm", help="pointing-game tolerance: '10mm' or '1vox' (voxels)"
    )
    parser.add_argument("--max-cases", type=int, default=None, help="per abnormality")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--compare", nargs="+", default=None, metavar="METHOD[@LAYER]",
        help="several methods / layers in one go, e.g. input-x-gradient hirescam@features.9",
    )  # fmt: skip
    parser.add_argument(
        "--sanity", action="store_true", help="also score each config with re-initialised weights"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    configs = args.compare or [f"{args.method}@{args.layer}" if args.layer else args.method]
    blocks: dict[str, dict] = {}
    try:
        for config in configs:
            method, _, layer = config.partition("@")
            blocks[config] = _one(args, method, layer or None)
            if args.sanity:  # same method and layer, weights re-initialised (all layers)
                (_, random), *_ = randomised_models(load_run(args.run).model, seed=0)
                used = str(blocks[config]["layer"])
                blocks[f"{config} {RANDOM}"] = _one(args, method, used, random)
    except RadlensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/explain_localization.py " + " ".join(argv or sys.argv[1:])
    report: dict[str, object] = {"command": command, "run": str(Path(args.run).resolve())}
    report["threads"] = args.threads
    if len(blocks) == 1:
        report |= next(iter(blocks.values()))
    else:
        report |= {"table": _table(blocks), "per_finding": _summary(blocks), "configs": blocks}
    text = json.dumps(_clean(report), indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
