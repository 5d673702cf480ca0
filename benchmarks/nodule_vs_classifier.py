"""Study-level nodule scores on one cohort: a classifier run vs nodule detectors vs their rank mean.

The classifier's scores come from `radlens predict RUN inputs.csv --out SCORES` (column
`nodule`, one row per study id); each detector (`radlens train --task detection`) scores every
study of --cohort by its highest candidate. AUROCs with patient-clustered DeLong CIs, for the
cohort's `true:nodule` (any size) and for "a nodule >= 6 mm" vs "no nodule", plus the paired
clustered DeLong test detector - classifier. The rank mean is not fitted on anything.

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
    seg = read_seg_table(cohort, ["nodule"])
    first = load_detector(detectors[0])
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
                     "nodule": int(truth.loc[s.study_id, "true:nodule"]),
                     "ge6": bool((2 * radii >= 6).any()), "any_mask": bool(len(radii)),
                     "classifier": float(classifier.loc[s.study_id, "nodule"]),
                     **{f"detector_{i}": t[k] for i, t in enumerate(tops)}})  # fmt: skip
    frame = pd.DataFrame(rows)
    for i in range(len(detectors)):
        frame[f"rankmean_{i}"] = (rankdata(frame.classifier) + rankdata(frame[f"detector_{i}"])) / 2
    return frame


def aurocs(frame: pd.DataFrame, n_detectors: int) -> dict:
    out = {}
    subsets = {"true_nodule_any_size": (frame, frame.nodule),
               "nodule_ge_6mm_vs_none": (frame[frame.ge6 | ~frame.any_mask], None)}  # fmt: skip
    for name, (sub, y) in subsets.items():
        y = (sub.ge6 if y is None else sub.nodule).astype(float).to_numpy()
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
    result = {"what": __doc__.splitlines()[0], "cohort": str(args.cohort),
              "detectors": [str(d) for d in args.detectors], "n_studies": len(frame),
              "n_patients": int(frame.patient_id.nunique()),
              **aurocs(frame, len(args.detectors))}  # fmt: skip
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
