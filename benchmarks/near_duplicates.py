"""Planted near-duplicates: detection and false-alarm rates of radlens.data.duplicates.

2D: real PneumoniaMNIST images (../shared/data/medmnist, the unofficial train-subset file). The
reference set is the 3882 train images; the queries are planted copies of `N_PLANTED_2D` random
train images plus distinct real images: the val split on the tuning seed 0, the test split on
the check seeds (1, 2, 3: the same test images, other planted sources and transformations).
3D: phantom CT volumes (radlens.phantom, `SHAPE_3D`, one per patient); `N_VOLUMES` reference
volumes, `COPIES_3D` planted copies of each, and `N_VOLUMES` volumes of other patients as
distinct queries; the reference volumes are compared among themselves as well. Seed s uses
phantom patient seeds s * 100000 + k, so no volume of a check seed was seen when tuning.

Each planted copy is one of the issue's transformations (shift 1-4 px/voxels, left-right flip,
re-windowing + gamma, Gaussian noise, re-sampling to 0.9-1.1x the matrix size) or a combination
of two or three. Negatives are distinct images: different patients, and, where the source does
not say (PneumoniaMNIST has no patient ids), possibly another study of the same patient, which
counts as distinct too (not a duplicate).

Detection = planted copies flagged against their source / planted. A false alarm is a query image
flagged against a reference image that is neither its source nor a *source duplicate*: a pair
of images that are near-identical in the source data itself (raw pixel/voxel Pearson correlation
>= `SOURCE_IDENTICAL`, as is or mirrored, a planted copy taken as its source image; found by
brute force on the raw arrays, independent of the detector). Source duplicates are duplicates,
so they are listed separately (count, ids, how many were flagged) rather than counted as false
alarms. False-alarm rate per query = false-alarm queries / all queries (planted copies included:
a copy flagged against another image counts).

The 2D rule was tuned on seed 0, the 3D rule (soft-rank descriptor) on seeds 0-3; seeds 4-6 were
never used while tuning.

Run: .venv/bin/python benchmarks/near_duplicates.py [--seeds 1 2 3 4 5 6] [--only 2d|3d] [--sweep]
[--cache DIR] (with --only, the figures go to results/near_duplicates_2d.json / _3d.json;
--combine merges those two into results/near_duplicates.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from radlens.data.duplicates import (
    RULE_2D,
    RULE_3D,
    Rule,
    describe_images,
    flag_candidates,
    scored_candidates,
)
from radlens.phantom import make_phantom

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "data" / "medmnist"
NPZ = SHARED / "pneumoniamnist_UNOFFICIAL_trainsubset.npz"
N_PLANTED_2D = 300
N_VOLUMES = 64
COPIES_3D = 3
SHAPE_3D = (32, 48, 48)
SOURCE_IDENTICAL = 0.995
KINDS = ("shift", "flip", "window", "noise", "resample")


def _transform(img: np.ndarray, kinds: tuple[str, ...], rng, lo: float, hi: float) -> np.ndarray:
    out = img.astype(np.float64)
    for kind in kinds:
        if kind == "shift":
            d = rng.integers(1, 5) * rng.choice([-1, 1])
            axis = rng.integers(out.ndim - 1, out.ndim) if rng.random() < 0.5 else out.ndim - 2
            shift = np.zeros(out.ndim)
            shift[axis] = d
            if rng.random() < 0.5:  # diagonal shift now and then
                shift[out.ndim - 1 - (axis == out.ndim - 1)] = rng.integers(1, 5) * rng.choice(
                    [-1, 1]
                )
            out = ndimage.shift(out, shift, order=0, mode="nearest")
        elif kind == "flip":
            out = out[..., ::-1]
        elif kind == "window":
            span = hi - lo
            a, b = lo + rng.uniform(0, 0.08) * span, hi - rng.uniform(0, 0.08) * span
            out = np.clip((out - a) / (b - a), 0, 1) ** rng.uniform(0.7, 1.4)
            out = lo + out * span
        elif kind == "noise":
            out = out + rng.normal(0, rng.uniform(0.01, 0.03) * (hi - lo), out.shape)
        elif kind == "resample":
            out = ndimage.zoom(out, rng.uniform(0.9, 1.1), order=1)
    return out


def _kinds(rng) -> tuple[str, ...]:
    r = rng.random()
    if r < 0.6:
        return (str(KINDS[rng.integers(len(KINDS))]),)
    n = 2 if r < 0.85 else 3
    return tuple(str(k) for k in rng.permutation(KINDS)[:n])


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def source_identical(ref: np.ndarray, originals: np.ndarray) -> np.ndarray:
    """(len(ref), len(originals)) mask: raw Pearson correlation >= SOURCE_IDENTICAL, as is or
    mirrored (last axis)."""
    r = _unit_rows(ref)
    corr = np.maximum(r @ _unit_rows(originals).T, r @ _unit_rows(originals[..., ::-1]).T)
    return corr >= SOURCE_IDENTICAL


def _run(ref_imgs, query_imgs, query_originals, src: list[int], kinds, within: bool) -> dict:
    """Score every shortlisted pair; mark planted-source pairs and source-duplicate pairs."""
    t0 = time.perf_counter()
    ref = describe_images(ref_imgs)
    queries = describe_images(query_imgs)
    pairs, sim, contrast = scored_candidates(ref, queries)
    n_q = len(query_imgs)
    if within:  # reference images compared among themselves: queries n_q ..
        w_pairs, w_sim, w_con = scored_candidates(ref, None)
        pairs = np.concatenate([pairs, w_pairs + np.array([0, n_q])])
        sim, contrast = np.concatenate([sim, w_sim]), np.concatenate([contrast, w_con])
    seconds = time.perf_counter() - t0
    originals = np.concatenate([query_originals, ref_imgs]) if within else query_originals
    same = source_identical(np.asarray(ref_imgs), np.asarray(originals))
    if within:
        same[np.arange(len(ref_imgs)), n_q + np.arange(len(ref_imgs))] = False
    src_arr = np.array(src + [-1] * (len(originals) - len(src)))
    is_src = src_arr[pairs[:, 1]] == pairs[:, 0]
    # a copy is also a duplicate of any image near-identical to its source
    is_same = same[pairs[:, 0], pairs[:, 1]] & ~is_src
    ii, jj = np.nonzero(same)
    return {
        "pairs": pairs, "sim": sim, "contrast": contrast, "is_src": is_src, "is_same": is_same,
        "src": src_arr, "kinds": kinds, "n_queries": len(originals), "n_planted": len(src),
        "source_pairs": [(int(i), int(j)) for i, j in zip(ii, jj, strict=True)],
        "seconds": seconds,
    }  # fmt: skip


def bench_2d(seed: int) -> dict:
    data = np.load(NPZ)
    ref_imgs = data["train_images"].astype(np.float64)
    distinct = data["val_images" if seed == 0 else "test_images"].astype(np.float64)
    rng = np.random.default_rng(seed + 100)
    src = rng.choice(len(ref_imgs), N_PLANTED_2D, replace=False)
    kinds = [_kinds(rng) for _ in src]
    copies = [_transform(ref_imgs[s], k, rng, 0.0, 255.0) for s, k in zip(src, kinds, strict=True)]
    originals = np.concatenate([ref_imgs[src], distinct])
    res = _run(ref_imgs, [*copies, *distinct], originals, [int(s) for s in src], kinds, False)
    return res | {"distinct": f"{'val' if seed == 0 else 'test'} split ({len(distinct)})"}


def _volumes(seed: int, cache: Path | None) -> np.ndarray:
    path = cache / f"near_dup_vols_{seed}_{N_VOLUMES}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path)
    base = seed * 100_000
    vols = np.stack(
        [make_phantom(base + k, shape=SHAPE_3D).volume.array for k in range(2 * N_VOLUMES)]
    ).astype(np.float32)
    if path is not None:
        np.save(path, vols)
    return vols


def bench_3d(seed: int, cache: Path | None = None) -> dict:
    vols = _volumes(seed, cache).astype(np.float64)
    ref_vols, others = vols[:N_VOLUMES], vols[N_VOLUMES:]
    rng = np.random.default_rng(seed + 200)
    copies, src, kinds = [], [], []
    for i, v in enumerate(ref_vols):
        for _ in range(COPIES_3D):
            k = _kinds(rng)
            copies.append(_transform(v, k, rng, -1024.0, 1500.0))
            src.append(i)
            kinds.append(k)
    originals = np.concatenate([ref_vols[src], others])
    res = _run(list(ref_vols), [*copies, *others], originals, src, kinds, True)
    return res | {"distinct": f"{N_VOLUMES} other patients + the references among themselves"}


def summarise(res: dict, rule: Rule) -> dict:
    flagged = flag_candidates(res["pairs"], res["sim"], res["contrast"], rule)
    pairs, n_pl = res["pairs"], res["n_planted"]
    hit = np.zeros(n_pl, dtype=bool)
    found = flagged & (res["is_src"] | res["is_same"]) & (pairs[:, 1] < n_pl)
    hit[pairs[found, 1]] = True
    false = flagged & ~res["is_src"] & ~res["is_same"]
    fa_queries = np.unique(pairs[false, 1])
    by_kind: dict[str, list[bool]] = {k: [] for k in KINDS}
    by_combo: dict[str, list[bool]] = {}
    for k, h in zip(res["kinds"], hit, strict=True):
        by_combo.setdefault("+".join(k), []).append(bool(h))
        for one in k:
            by_kind[one].append(bool(h))
    same_flagged = {tuple(p) for p in pairs[flagged & res["is_same"]].tolist()}
    planted_src = {(int(res["src"][j]), j) for j in range(n_pl)}
    source = [p for p in res["source_pairs"] if p not in planted_src]
    return {
        "detection_rate": round(float(hit.mean()), 4),
        "false_alarm_rate_per_query": round(len(fa_queries) / res["n_queries"], 5),
        "n_planted": n_pl,
        "n_detected": int(hit.sum()),
        "n_queries": res["n_queries"],
        "n_false_alarm_queries": len(fa_queries),
        "n_false_alarm_pairs": int(false.sum()),
        "detection_by_transformation": {
            k: {"n": len(v), "rate": round(float(np.mean(v)), 4)} for k, v in by_kind.items() if v
        },
        "missed_by_combination": {
            k: v.count(False) for k, v in sorted(by_combo.items()) if False in v
        },
        "source_duplicates": {
            "n_pairs": len(source),
            "n_flagged": sum(p in same_flagged for p in source),
            "pairs_ref_query": source[:40],
        },
        "false_alarm_pairs": [
            {
                "ref": int(i),
                "query": int(j),
                "similarity": round(float(s), 4),
                "query_is_planted_copy_of": int(res["src"][j]) if j < n_pl else None,
            }
            for (i, j), s in zip(pairs[false].tolist(), res["sim"][false], strict=True)
        ][:20],
        "distinct_queries": res["distinct"],
        "seconds_describe_match": round(res["seconds"], 1),
    }


def _sweep(res: dict, dims: int) -> None:
    certain = (1.01,) if dims == 2 else (0.98, 0.983, 0.984, 0.985, 1.01)
    for top in certain:
        for c in (2.5, 3.0, 3.5, 4.0):
            for t in (0.95, 0.96, 0.97, 0.98):
                s = summarise(res, Rule(t, c, top))
                print(f"  certain={top} t={t:.3f} c={c:.1f} det={s['detection_rate']:.4f}"
                      f" fa/query={s['false_alarm_rate_per_query']:.4f}")  # fmt: skip


def _spread(per_seed: dict, dims: str) -> dict:
    out = {}
    for key in ("detection_rate", "false_alarm_rate_per_query"):
        vals = [per_seed[s][dims][key] for s in per_seed]
        out[key] = {"median": float(np.median(vals)), "min": min(vals), "max": max(vals)}
    return out


def _combine() -> None:
    """results/near_duplicates.json from near_duplicates_2d.json and near_duplicates_3d.json."""
    parts = {d: json.loads((ROOT / "results" / f"near_duplicates_{d}.json").read_text())
             for d in ("2d", "3d")}  # fmt: skip
    out: dict = {"commands": [parts[d]["command"] for d in parts]}
    for key in ("tuned_on_seeds", "definitions"):
        out[key] = parts["3d"][key]
    for key in ("rules", "spread_over_seeds", "spread_over_unseen_seeds"):
        out[key] = {d: parts[d][key][d] for d in parts}
    out["per_seed"] = {
        s: {d: parts[d]["per_seed"][s][d] for d in parts} for s in parts["3d"]["per_seed"]
    }
    (ROOT / "results" / "near_duplicates.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["spread_over_seeds"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--sweep", action="store_true", help="print a rule sweep (seed 0 only)")
    parser.add_argument("--only", choices=("2d", "3d"), default=None)
    parser.add_argument("--cache", type=Path, default=None, help="folder for rendered phantoms")
    parser.add_argument(
        "--combine", action="store_true", help="merge the --only 2d / 3d results into one file"
    )
    args = parser.parse_args()
    if args.combine:
        _combine()
        return
    rules = {"2d": RULE_2D, "3d": RULE_3D}
    per_seed: dict = {}
    for seed in args.seeds:
        per_seed[seed] = {}
        for dims in ("2d", "3d"):
            if args.only not in (None, dims):
                continue
            res = bench_2d(seed) if dims == "2d" else bench_3d(seed, args.cache)
            if args.sweep:
                print(seed, dims)
                _sweep(res, int(dims[0]))
            per_seed[seed][dims] = summarise(res, rules[dims])
            s = per_seed[seed][dims]
            print(f"seed {seed} {dims}: detection {s['detection_rate']:.4f}, false alarms per"
                  f" query {s['false_alarm_rate_per_query']:.4f} ({s['n_false_alarm_queries']}"
                  f"/{s['n_queries']}), source duplicates {s['source_duplicates']['n_pairs']}",
                  flush=True)  # fmt: skip
    if args.sweep or 0 in args.seeds:
        return
    dims = ("2d", "3d") if args.only is None else (args.only,)
    out = {
        "command": "python " + " ".join(["benchmarks/near_duplicates.py", *sys.argv[1:]]),
        "tuned_on_seeds": {"2d": [0], "3d": [0, 1, 2, 3]},
        "seeds": args.seeds,
        "rules": {k: vars(v) for k, v in rules.items() if k in dims},
        "definitions": __doc__.split("Run:")[0].strip(),
        "spread_over_seeds": {d: _spread(per_seed, d) for d in dims},
        "spread_over_unseen_seeds": {
            d: _spread({s: v for s, v in per_seed.items() if s >= 4}, d)
            for d in dims
            if any(s >= 4 for s in per_seed)
        },
        "per_seed": per_seed,
    }
    name = "near_duplicates" if args.only is None else f"near_duplicates_{args.only}"
    path = ROOT / "results" / f"{name}.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print(json.dumps(out["spread_over_seeds"], indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
