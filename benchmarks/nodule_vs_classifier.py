"""Study-level scores of a focal finding on a cohort: a classifier vs detectors vs their rank mean.

The finding is the detectors' (`radlens train --task detection --findings F`; default nodule).
The classifier's scores come from `radlens predict RUN inputs.csv --out SCORES` (column F, one
row per study id); each detector scores every study of --cohort by its highest candidate.
AUROCs with patient-clustered DeLong CIs, for the cohort's `true:F` (any size) and for "an F
lesion >= 6 mm" vs "none", plus the paired clustered DeLong test detector - classifier. The rank
mean is not fitted on anything.

    python benchmarks/nodule_vs_classifier.py --cohort C --classifier-scores SCORES \
        --detectors RUN1 RUN2 --json OUT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import rankdata

from radlens.evaluation.clustered_auc import clustered_delong, clustered_delong_paired_test
from radlens.training import collect_candidates, load_detector, mask_lesions, read_seg_table


def study_table(cohort: Path, scores: Path, detectors: list[Path], workers: int) -> pd.DataFrame:
    """One row per study: truth, the classifier's score and each detector's top candidate."""
    classifier = pd.read_csv(scores).set_index("id")
    first = load_detector(detectors[0])
    finding = first.config.finding
    seg = read_seg_table(cohort, [finding])
    studies = collect_candidates(seg, ["train", "val", "test"], first.config, workers=workers)
    truth = seg.table.set_index("study_id")
    tops = []
    for run in detectors:
        det = load_detector(run)
        tops.append([float(det.score(s.cubes).max()) if len(s.cubes) else 0.0 for s in studies])
    rows = []
    for k, s in enumerate(studies):
        _, _, radii = mask_lesions(s.mask, s.spacing)
        rows.append({"study_id": s.study_id, "patient_id": s.patient_id,
                     "truth": int(truth.loc[s.study_id, f"true:{finding}"]),
                     "ge6": bool((2 * radii >= 6).any()), "any_mask": bool(len(radii)),
                     "classifier": float(classifier.loc[s.study_id, finding]),
                     **{f"detector_{i}": t[k] for i, t in enumerate(tops)}})  # fmt: skip
    frame = pd.DataFrame(rows)
    for i in range(len(detectors)):
        frame[f"rankmean_{i}"] = (rankdata(frame.classifier) + rankdata(frame[f"detector_{i}"])) / 2
    return frame


def aurocs(frame: pd.DataFrame, n_detectors: int, finding: str) -> dict:
    out = {}
    subsets = {f"true_{finding}_any_size": (frame, frame.truth),
               f"{finding}_ge_6mm_vs_none": (frame[frame.ge6 | ~frame.any_mask], None)}  # fmt: skip
    for name, (sub, y) in subsets.items():
        y = (sub.ge6 if y is None else sub.truth).astype(float).to_numpy()
        clusters = sub.patient_id.to_numpy()
        entry: dict = {"n_positive": int(y.sum()), "n_negative": int((1 - y).sum())}
        columns = ["classifier"] + [c for c in sub if c.startswith(("detector_", "rankmean_"))]
        for col in columns:
            res = clustered_delong(y, sub[col].to_numpy(), clusters)
            low, high = res.ci()
            entry[col] = {"auroc": round(float(res.auc[0]), 4),
                          "ci": [round(float(low[0]), 4), round(float(high[0]), 4)]}  # fmt: skip
        for i in range(n_detectors):
            test = clustered_delong_paired_test(
                y, sub[f"detector_{i}"].to_numpy(), sub.classifier.to_numpy(), clusters
            )
            entry[f"detector_{i}_minus_classifier"] = {
                "difference": round(float(test.difference[0]), 4),
                "p": float(test.p_value[0]),
            }
        out[name] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--classifier-scores", type=Path, required=True)
    ap.add_argument("--detectors", type=Path, nargs="+", required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frame = study_table(args.cohort, args.classifier_scores, args.detectors, args.workers)
    finding = load_detector(args.detectors[0]).config.finding
    result = {"what": __doc__.splitlines()[0], "finding": finding, "cohort": str(args.cohort),
              "detectors": [str(d) for d in args.detectors], "n_studies": len(frame),
              "n_patients": int(frame.patient_id.nunique()),
              **aurocs(frame, len(args.detectors), finding)}  # fmt: skip
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
