"""External validation on a site never seen: pretrain and train on the other sites, test zero-shot
and fine-tuned models on the held-out site and on the in-distribution test split (issue 16
item 6); the drop per method with CIs.

Usage:
  .venv/bin/python benchmarks/external_site.py --holdout-site site_c --out DIR --json FILE
      [--seeds 1 --cohort-seed 5101 --studies 200 --size 96 --epochs 8 --pretrain-epochs 8
       --threads 2 --cohort DIR]

Steps:
1. the radiograph cohort of benchmarks/label_efficiency.py (same builder, --cohort reuses its
   folder); the phantom puts each patient at one site (site_a, site_b, site_c: exposure, noise,
   blur and rotation differ), so a site is a set of whole patients;
2. a split with the held-out site in test only: its patients are all "test"; the other sites'
   patients are split train/val/test by `radlens.data.assign_splits` (cohort seed, 70/10/20)
   (cohort/labels_holdout_<site>.csv, pairs_holdout_<site>.csv); findings: those with
   >= --min-positives positives in train, in the in-distribution test and in the held-out site;
3. per seed, pretraining on the training rows only (other sites): SSL, image-text global only,
   image-text + local (as in label_efficiency.py);
4. zero-shot (`radlens.pretrain.zero_shot`, each run's default similarity: global for the
   global-only run, global + local for the local run) of both image-text runs on the test split, and
   `radlens train` (100% of the labels, the labeler's) from scratch and from each pretraining
   checkpoint (``--init``);
5. each method's test predictions cut by site: in-distribution (test patients of the training
   sites) and external (the held-out site), scored against the radiograph truth with
   `radlens.evaluation.evaluate_predictions` (DeLong CIs); the drop = external - in-distribution
   AUROC, per finding with a 95% CI (the two sets are different patients: se = sqrt(se_in^2 +
   se_ext^2)), and for the micro AUROC (pooled over findings, its DeLong CI likewise).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from label_efficiency import (
    PRETRAINED,
    START_NAMES,
    TRUTH,
    add_run_options,
    build_cohort,
    each_seed,
    finetune,
    pretrain,
    pretrain_csv,
    score,
    setting,
    truth_table,
)

from radlens.core import PREDICTIONS, read_predictions
from radlens.data import assign_splits
from radlens.pretrain import zero_shot

Z95 = 1.959964
log = logging.getLogger("external_site")


def holdout_split(pairs: pd.DataFrame, site: str, seed: int) -> pd.Series:
    """The held-out site's rows: test; the other sites' patients: train/val/test by patient."""
    sites = sorted(pairs["site"].astype(str).unique())
    if site not in sites:
        raise SystemExit(f"--holdout-site {site}: the cohort's sites are {sites}")
    others = pairs.loc[pairs["site"] != site, "patient_id"].astype(str)
    split_of = assign_splits(others, seed=seed)
    empty = sorted({"train", "val", "test"} - set(split_of.values()))
    if empty:
        raise SystemExit(f"the sites other than {site} leave no {empty} patients: more studies")
    return pd.Series([("test" if s == site else split_of[str(p)])
                      for s, p in zip(pairs["site"], pairs["patient_id"], strict=True)],
                     index=pairs.index)  # fmt: skip


def usable_findings(pairs: pd.DataFrame, findings: list[str], site: str, min_pos: int) -> list:
    """Findings with >= min_pos positives in train, in-distribution test and the held-out site."""
    parts = {
        "train": pairs["split"] == "train",
        "in_distribution": (pairs["split"] == "test") & (pairs["site"] != site),
        "external": pairs["site"] == site,
    }
    return [f for f in findings
            if all(pairs.loc[m, TRUTH + f].sum() >= min_pos for m in parts.values())]  # fmt: skip


def site_scores(frame: pd.DataFrame, truth, site_of: dict, site: str) -> dict:
    """radlens evaluate's figures of the test split, in-distribution and external."""
    sites = frame["id"].astype(str).map(site_of)
    if sites.isna().any():
        raise SystemExit("predictions name ids the cohort does not have")
    test = frame["split"] == "test"
    out = {}
    for part, keep in (("in_distribution", sites != site), ("external", sites == site)):
        sub = frame[~test | keep].reset_index(drop=True)
        sub.attrs = frame.attrs
        ids = sub["id"].astype(str)
        out[part] = score(sub, truth(ids) if truth is not None else None)
    out["drop"] = drop(out["in_distribution"], out["external"])
    return out


def drop(inside: dict, outside: dict) -> dict:
    """External - in-distribution AUROC with a 95% CI (independent patients), per finding and
    for the micro AUROC (its se from its DeLong CI); the macro drop (mean over findings)."""
    per = {}
    for f, a in inside["per_finding"].items():
        b = outside["per_finding"].get(f)
        if b is None or a["auroc"] is None or b["auroc"] is None:
            continue
        d, se = b["auroc"] - a["auroc"], math.hypot(a["se"] or 0.0, b["se"] or 0.0)
        per[f] = {"drop": round(d, 4), "ci95": [round(d - Z95 * se, 4), round(d + Z95 * se, 4)]}
    out = {"per_finding": per}
    if inside["macro_auroc"] is not None and outside["macro_auroc"] is not None:
        out["macro_drop"] = round(outside["macro_auroc"] - inside["macro_auroc"], 4)
    ci_a, ci_b = inside["micro_auroc_ci95"], outside["micro_auroc_ci95"]
    if None not in (*ci_a, *ci_b, inside["micro_auroc"], outside["micro_auroc"]):
        se = math.hypot((ci_a[1] - ci_a[0]) / (2 * Z95), (ci_b[1] - ci_b[0]) / (2 * Z95))
        d = outside["micro_auroc"] - inside["micro_auroc"]
        out["micro_drop"] = round(d, 4)
        out["micro_drop_ci95"] = [round(d - Z95 * se, 4), round(d + Z95 * se, 4)]
    return out


def table(results: list[dict]) -> list[dict]:
    """Per method: mean over seeds of in-distribution and external macro AUROC and the drop;
    the first seed's micro-AUROC drop CI beside the per-seed drops."""
    rows = []
    for method in dict.fromkeys(r["method"] for r in results):
        g = [r for r in results if r["method"] == method]
        ins = [r["in_distribution"]["macro_auroc"] for r in g]
        ext = [r["external"]["macro_auroc"] for r in g]
        drops = [r["drop"].get("macro_drop") for r in g]
        rows.append({
            "method": method, "seeds": len(g),
            "in_distribution_macro_auroc": _mean(ins), "external_macro_auroc": _mean(ext),
            "macro_drop": _mean(drops), "macro_drop_sd": _sd(drops),
            "micro_drop": [r["drop"].get("micro_drop") for r in g],
            "micro_drop_ci95": [r["drop"].get("micro_drop_ci95") for r in g],
        })  # fmt: skip
    return rows


def _mean(values) -> float | None:
    v = [x for x in values if x is not None]
    return round(float(np.mean(v)), 4) if v else None


def _sd(values) -> float | None:
    v = [x for x in values if x is not None]
    return round(float(np.std(v, ddof=1)), 4) if len(v) > 1 else None


def markdown(rows: list[dict]) -> str:
    """Per method: macro AUROC in-distribution / external, the macro drop (+- sd over seeds) and
    each seed's micro-AUROC drop with its 95% CI."""
    lines = ["| method | in-distribution | external | macro drop | micro drop [95% CI] |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        sd = f" ± {r['macro_drop_sd']:.3f}" if r["macro_drop_sd"] is not None else ""
        micro = "; ".join(f"{d:+.3f} [{c[0]:+.3f}, {c[1]:+.3f}]"
                          for d, c in zip(r["micro_drop"], r["micro_drop_ci95"], strict=True)
                          if d is not None and c)  # fmt: skip
        head = f"| {r['method']} | {r['in_distribution_macro_auroc']} |"
        lines.append(f"{head} {r['external_macro_auroc']} | {r['macro_drop']}{sd} | {micro} |")
    return "\n".join(lines)


# ---- the runs ----------------------------------------------------------------------------------
def run_seed(seed: int, cohort: Path, pairs: pd.DataFrame, findings: list[str], args) -> tuple:
    """Pretrain on the training sites, zero-shot both image-text runs, fine-tune every start."""
    root, site = args.out / f"seed{seed}", args.holdout_site
    csv = pretrain_csv(cohort, pairs, f"pretrain_holdout_{site}.csv", pairs["split"] == "train")
    pre = {start: pretrain(start, csv, root / f"pretrain_{start}", seed, args)
           for start in PRETRAINED}  # fmt: skip
    pairs_csv = cohort / f"pairs_holdout_{site}.csv"
    site_of = {**dict(zip(pairs["image"].astype(str), pairs["site"], strict=True)),
               **dict(zip(pairs["study_id"].astype(str), pairs["site"], strict=True))}  # fmt: skip
    rows = []
    for start in ("image_text_global", "image_text_local"):
        t0 = time.perf_counter()
        out = root / f"zeroshot_{start}"
        res = zero_shot(pre[start]["checkpoint"], pairs_csv, out, split="test",
                        findings=findings, device="cpu")  # fmt: skip
        frame = read_predictions(out / PREDICTIONS)
        rows.append({"method": f"zero_shot_{start}", "seed": seed, "similarity": res.similarity,
                     **site_scores(frame, None, site_of, site),
                     "wall_s": round(time.perf_counter() - t0, 1)})  # fmt: skip
    labels = cohort / f"labels_holdout_{site}.csv"
    n_train = int((pairs["split"] == "train").sum())
    for start in START_NAMES:
        init = pre[start]["checkpoint"] if start in pre else None
        info = finetune(cohort, labels, findings, root / f"finetune_{start}", init=init,
                        fraction=1.0, seed=seed, images=n_train, args=args)  # fmt: skip
        frame = read_predictions(Path(info["run"]) / PREDICTIONS)
        figures = site_scores(frame, lambda ids: truth_table(pairs, findings, ids), site_of, site)
        rows.append({"method": f"finetune_{start}", "seed": seed, **figures,
                     "wall_s": info["wall_s"], "best_epoch": info["best_epoch"]})  # fmt: skip
        log.info(
            "seed %d %s: in %s, external %s",
            seed,
            start,
            figures["in_distribution"]["macro_auroc"],
            figures["external"]["macro_auroc"],
        )
    return pre, rows


def holdout_cohort(args) -> tuple:
    """The cohort with the held-out site's split written beside it (labels and pairs CSVs)."""
    root = args.cohort.parent if args.cohort else args.out
    cohort, pairs, findings = build_cohort(root, args.cohort_seed, args.studies,
                                           args.min_positives, args.workers)  # fmt: skip
    site = args.holdout_site
    split = holdout_split(pairs, site, args.cohort_seed)
    pairs = pairs.assign(split=split)
    labels = pd.read_csv(cohort / "labels.csv").assign(split=split)
    labels.to_csv(cohort / f"labels_holdout_{site}.csv", index=False)
    pairs.to_csv(cohort / f"pairs_holdout_{site}.csv", index=False)
    chosen = usable_findings(pairs, findings, site, args.min_positives)
    if not chosen:
        raise SystemExit(f"no finding has {args.min_positives} positives in every part")
    return cohort, pairs, chosen


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdout-site", required=True, help="e.g. site_c")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (pretraining, training)")
    add_run_options(ap, min_positives=3)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cohort, pairs, findings = holdout_cohort(args)
    wall = {"cohort_s": round(time.perf_counter() - t0, 1)}
    pretraining, results = {}, []
    for seed, (pre, rows) in enumerate(each_seed(run_seed, cohort, pairs, findings, args)):
        pretraining[seed] = pre
        results += rows
        rows_table = table(results)
        result = {
            "benchmark": "external_site", "holdout_site": args.holdout_site,
            "cohort_seed": args.cohort_seed, "seeds_done": seed + 1,
            **setting(args, pairs, findings),
            "split_by_site": pd.crosstab(pairs["site"], pairs["split"]).to_dict(),
            "evaluation": "test predictions cut by site, vs the radiograph truth (cxr_true:),"
                          " radlens.evaluation.evaluate_predictions (DeLong CIs)",
            "table": rows_table, "markdown": markdown(rows_table),
            "pretraining": pretraining, "results": results,
            "wall": {**wall, "total_s": round(time.perf_counter() - t0, 1)},
        }  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(result["markdown"])


if __name__ == "__main__":
    main()
