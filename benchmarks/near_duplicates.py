"""Planted near-duplicates: detection and false-alarm rates of radlens.data.duplicates.

2D: real PneumoniaMNIST images (../shared/data/medmnist, the unofficial train-subset file). The
reference set is the 3882 train images; the queries are planted copies of `N_PLANTED_2D` random
train images (each transformed by shift 1-4 px, left-right flip, re-windowing + gamma, Gaussian
noise, re-sampling to 0.9-1.1x the matrix size, or a combination of two or three of these) plus
distinct real images: the val split on the tuning seed 0, the test split on the check seed 1.
3D: phantom CT volumes (radlens.phantom, 32x64x64, one per patient seed); queries are planted
copies of each reference volume plus volumes of other patients, the reference volumes compared
among themselves as well. Tuning seed 0 uses patient seeds 0.., check seed 1 patient seeds 1000...

Detection = planted pairs found / planted. False alarms are reported two ways: per query image
(fraction of distinct query images flagged against any reference image; planted copies flagged
against a reference image other than their source count too) and per pair (flagged distinct pairs
/ all distinct pairs). Flagged distinct 2D pairs are listed for inspection: PneumoniaMNIST may
hold genuine duplicates (same patient / same radiograph) across splits.

Run: .venv/bin/python benchmarks/near_duplicates.py [--seed 0|1] [--sweep]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from radlens.data.duplicates import (
    MIN_CONTRAST,
    THRESHOLD_2D,
    THRESHOLD_3D,
    describe_images,
    scored_candidates,
)
from radlens.phantom import make_phantom

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "data" / "medmnist"
NPZ = SHARED / "pneumoniamnist_UNOFFICIAL_trainsubset.npz"
N_PLANTED_2D = 300
N_VOLUMES = 24
COPIES_3D = 4
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
        return (KINDS[rng.integers(len(KINDS))],)
    n = 2 if r < 0.85 else 3
    return tuple(rng.permutation(KINDS)[:n])


def _score(ref, queries, planted_src: dict[int, int]) -> dict:
    """Shortlisted pairs (ref i, query j) with similarity and contrast, split into planted
    (query j's source) and distinct; a planted copy whose source was not shortlisted scores 0."""
    pairs, sim, contrast = scored_candidates(ref, queries)
    is_src = np.array([planted_src.get(int(j), -1) == int(i) for i, j in pairs], dtype=bool)
    order = {q: k for k, q in enumerate(planted_src)}
    planted = np.zeros((len(planted_src), 2))
    for (_, j), s, c in zip(pairs[is_src], sim[is_src], contrast[is_src], strict=True):
        planted[order[int(j)]] = (s, c)
    return {
        "pairs": pairs[~is_src],
        "sim": sim[~is_src],
        "contrast": contrast[~is_src],
        "planted": planted,
    }


def bench_2d(seed: int) -> dict:
    data = np.load(NPZ)
    ref_imgs = data["train_images"]
    distinct = data["val_images" if seed == 0 else "test_images"]
    rng = np.random.default_rng(seed + 100)
    src = rng.choice(len(ref_imgs), N_PLANTED_2D, replace=False)
    kinds = [_kinds(rng) for _ in src]
    copies = [_transform(ref_imgs[s], k, rng, 0.0, 255.0) for s, k in zip(src, kinds, strict=True)]
    t0 = time.perf_counter()
    ref = describe_images(ref_imgs)
    queries = describe_images([*copies, *distinct])
    planted_src = {j: int(s) for j, s in enumerate(src)}
    res = _score(ref, queries, planted_src)
    seconds = time.perf_counter() - t0
    return res | {
        "kinds": kinds,
        "n_distinct_queries": len(distinct) + len(copies),
        "n_distinct_pairs": len(ref_imgs) * (len(distinct) + len(copies)) - len(copies),
        "n_ref": len(ref_imgs),
        "seconds": seconds,
        "distinct_split": "val" if seed == 0 else "test",
        "sources": src,
    }


def bench_3d(seed: int) -> dict:
    base = 0 if seed == 0 else 1000
    rng = np.random.default_rng(seed + 200)
    vols = [make_phantom(base + k, shape=(32, 64, 64)).volume.array for k in range(2 * N_VOLUMES)]
    ref_vols, others = vols[:N_VOLUMES], vols[N_VOLUMES:]
    copies, src, kinds = [], [], []
    for i, v in enumerate(ref_vols):
        for _ in range(COPIES_3D):
            k = _kinds(rng)
            copies.append(_transform(v, k, rng, -1024.0, 1500.0))
            src.append(i)
            kinds.append(k)
    t0 = time.perf_counter()
    ref = describe_images(ref_vols)
    queries = describe_images([*copies, *others])
    planted_src = {j: s for j, s in enumerate(src)}
    res = _score(ref, queries, planted_src)
    within, within_sim, within_contrast = scored_candidates(ref, None)
    seconds = time.perf_counter() - t0
    n_q = len(copies) + len(others)
    return {
        # reference volumes compared among themselves count as N_VOLUMES extra distinct queries
        "pairs": np.concatenate([res["pairs"], within + np.array([0, n_q])]),
        "sim": np.concatenate([res["sim"], within_sim]),
        "contrast": np.concatenate([res["contrast"], within_contrast]),
        "planted": res["planted"],
        "kinds": kinds,
        "n_distinct_queries": n_q + N_VOLUMES,
        "n_distinct_pairs": N_VOLUMES * n_q - len(copies) + N_VOLUMES * (N_VOLUMES - 1) // 2,
        "n_ref": N_VOLUMES,
        "seconds": seconds,
    }


def summarise(res: dict, threshold: float, min_contrast: float = MIN_CONTRAST) -> dict:
    planted = (res["planted"][:, 0] >= threshold) & (res["planted"][:, 1] >= min_contrast)
    flagged = (res["sim"] >= threshold) & (res["contrast"] >= min_contrast)
    queries = np.unique(res["pairs"][flagged, 1]) if len(res["pairs"]) else []
    by_kind: dict[str, list[bool]] = {}
    for k, hit in zip(res["kinds"], planted, strict=True):
        by_kind.setdefault("+".join(k), []).append(bool(hit))
    return {
        "threshold": threshold,
        "min_contrast": min_contrast,
        "n_planted": len(planted),
        "detection_rate": round(float(planted.mean()), 4),
        "false_alarm_rate_per_query_image": round(len(queries) / res["n_distinct_queries"], 5),
        "false_alarm_rate_per_distinct_pair": int(flagged.sum()) / res["n_distinct_pairs"],
        "n_false_alarm_pairs": int(flagged.sum()),
        "n_distinct_queries": res["n_distinct_queries"],
        "n_distinct_pairs": res["n_distinct_pairs"],
        "missed_by_kind": {k: v.count(False) for k, v in sorted(by_kind.items()) if False in v},
        "seconds_describe_shortlist_verify": round(res["seconds"], 2),
    }


def _sweep(res: dict) -> None:
    for c in (1.0, 2.0, 2.5, 3.0, 3.5, 4.0):
        for t in (0.95, 0.96, 0.97, 0.975, 0.98, 0.985):
            s = summarise(res, t, c)
            print(
                f"  t={t:.3f} c={c:.1f} det={s['detection_rate']:.4f}"
                f" fa/query={s['false_alarm_rate_per_query_image']:.4f}"
                f" pairs={s['n_false_alarm_pairs']}"
            )


def _raw_corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two raw 28x28 images, best of as-is and mirrored."""
    x = x.astype(float).ravel()
    return max(float(np.corrcoef(x, z.astype(float).ravel())[0, 1]) for z in (y, y[:, ::-1]))


def _inspect_2d(res: dict, threshold: float) -> dict:
    """Flagged distinct pairs, each checked on the raw pixels: a pair whose original images
    correlate >= 0.98 (as is or mirrored) is the same radiograph stored twice in PneumoniaMNIST
    (a planted copy counts as its source image), not a detector false alarm."""
    data = np.load(NPZ)
    ref_imgs, distinct = data["train_images"], data[f"{res['distinct_split']}_images"]
    n_copies = len(res["kinds"])
    flagged = (res["sim"] >= threshold) & (res["contrast"] >= MIN_CONTRAST)
    rows, genuine_queries, all_queries = [], set(), set()
    for (i, j), s in zip(res["pairs"][flagged], res["sim"][flagged], strict=True):
        query = ref_imgs[res["sources"][j]] if j < n_copies else distinct[j - n_copies]
        raw = _raw_corr(ref_imgs[i], query)
        all_queries.add(int(j))
        if raw >= 0.98:
            genuine_queries.add(int(j))
        what = f"{res['distinct_split']} #{j - n_copies}"
        if j < n_copies:
            what = f"copy of train #{res['sources'][j]}"
        rows.append({"train": int(i), "query": what, "similarity": round(float(s), 4),
                     "raw_pixel_corr": round(raw, 4), "same_radiograph": raw >= 0.98})  # fmt: skip
    n = res["n_distinct_queries"]
    return {
        "distinct_queries_from": res["distinct_split"],
        "n_flagged_queries_same_radiograph": len(genuine_queries),
        "false_alarm_rate_per_query_image_excluding_same_radiograph": round(
            len(all_queries - genuine_queries) / n, 5
        ),
        "flagged_distinct_pairs": rows[:40],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--only", choices=("2d", "3d"), default=None)
    args = parser.parse_args()
    out: dict = {"seed": args.seed, "tuned_on_seed": 0}
    for dims, fn, thr in (("2d", bench_2d, THRESHOLD_2D), ("3d", bench_3d, THRESHOLD_3D)):
        if args.only not in (None, dims):
            continue
        res = fn(args.seed)
        if args.sweep:
            print(dims)
            _sweep(res)
        out[dims] = summarise(res, thr)
        if dims == "2d":
            out[dims] |= _inspect_2d(res, thr)
        print(dims, json.dumps(out[dims], indent=1))
    if not args.sweep and args.only is None:
        path = ROOT / "results" / "near_duplicates.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        print("wrote", path)


if __name__ == "__main__":
    main()
