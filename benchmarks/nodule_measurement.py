"""What the service lists from a nodule detector run: sensitivity and false positives per scan at
each score threshold, and how well the listed nodules' sizes, measured on the image, match the
truth masks' (`radlens.deploy.DetectorScorer`).

For each study of --cohort (--split, default every study): the scorer lists candidates down to the
lowest threshold; at a threshold t the listed set is the prefix with score >= t (the rule drops a
candidate inside a higher-scoring one's radius, so a lower threshold only adds candidates).
Truth: the components of the union of the study's nodule masks on its own grid; a candidate hits
one by the FROC rule (`radlens.evaluation.froc.match_candidates`). Nodules under --min-diameter
(equivalent diameter) are LUNA16's irrelevant findings: a candidate on one is neither a hit nor a
false positive. Dice at --threshold: per study with a relevant nodule, the union of the listed
extents against every nodule voxel (a missed nodule counts); per detected relevant nodule, its
best candidate's extent against its component. Size error: the listed candidate (highest score)
on each hit nodule, its longest axial diameter minus the truth component's (both on the study's
grid, calliper rule of `radlens.evaluation.longest_axial_diameter`).

    python benchmarks/nodule_measurement.py --run DETECTOR_RUN --cohort C --split val \
        --json benchmarks/results/nodule_measurement.json --key KEY
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import torch

from radlens.deploy import DetectorScorer
from radlens.evaluation import label_components, lesion_candidates
from radlens.evaluation.froc import match_candidates
from radlens.evaluation.lesions import LesionCandidate
from radlens.training.seg_data import load_study, read_seg_table

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


def as_candidate(les, spacing) -> LesionCandidate:
    c = np.asarray(les.centre_voxel, dtype=float)
    return LesionCandidate(
        label=les.label, centre_voxel=tuple(c), centre_mm=tuple(c * np.asarray(spacing)),
        centre_lps=None, volume_mm3=les.volume_ml * 1e3,
        equivalent_diameter_mm=les.equivalent_diameter_mm,
        longest_axial_diameter_mm=les.diameter_mm, axial_slice=les.axial_slice,
        score=les.score, n_voxels=0,
    )  # fmt: skip


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def dice_rows(result, hits, truth, labels, relevant, threshold: float) -> tuple:
    """(study Dice of the extents listed at `threshold` against every nodule voxel, or None
    without a relevant nodule; Dice of each hit relevant nodule with its best candidate)."""
    listed = [
        (les, h) for les, h in zip(result.lesions, hits, strict=True) if les.score >= threshold
    ]
    study = None
    if any(relevant):
        study = _dice(np.isin(result.labels, [les.label for les, _ in listed]), labels > 0)
    per_lesion, seen = [], set()
    for les, h in listed:  # best score first
        if h >= 0 and relevant[h] and h not in seen:
            seen.add(h)
            per_lesion.append(_dice(result.labels == les.label, labels == truth[h].label))
    return study, per_lesion


def study_rows(scorer: DetectorScorer, seg, row, min_diameter: float, threshold: float) -> dict:
    """One study: its truth nodules and listed candidates (score, nodule hit, relevant) and the
    Dice of the extents listed at `threshold`."""
    volume, masks = load_study(row, seg)
    if not np.allclose(volume.direction, np.eye(3)):
        raise SystemExit(f"{row['study_id']}: stored array is not canonical; use a NIfTI cohort")
    truth = lesion_candidates(masks[0].astype(float), volume.spacing, threshold=0.5)
    labels, _ = label_components(masks[0] > 0)
    result = scorer.lesions(volume)
    cands = [as_candidate(les, volume.spacing) for les in result.lesions]
    hits = match_candidates(cands, truth, labels)
    relevant = [t.equivalent_diameter_mm >= min_diameter for t in truth]
    study_dice, lesion_dice = dice_rows(result, hits, truth, labels, relevant, threshold)
    return {
        "study_id": str(row["study_id"]),
        "study_score": result.study_scores[scorer.finding],
        "truth": [[t.equivalent_diameter_mm, t.longest_axial_diameter_mm] for t in truth],
        "listed": [
            [c.score, int(h), c.longest_axial_diameter_mm, bool(les.measured)]
            for c, h, les in zip(cands, hits, result.lesions, strict=True)
        ],
        "relevant": relevant,
        "study_dice": study_dice,
        "lesion_dice": lesion_dice,
    }


def operating_points(studies: list[dict]) -> dict:
    """Per threshold: sensitivity over relevant nodules, false positives per scan."""
    n_relevant = sum(sum(s["relevant"]) for s in studies)
    out = {}
    for t in THRESHOLDS:
        found, fps = 0, 0
        for s in studies:
            listed = [c for c in s["listed"] if c[0] >= t]
            hit = {c[1] for c in listed if c[1] >= 0}
            found += sum(1 for i in hit if s["relevant"][i])
            fps += sum(1 for c in listed if c[1] < 0)
        out[str(t)] = {
            "sensitivity": round(found / max(n_relevant, 1), 4),
            "false_positives_per_scan": round(fps / max(len(studies), 1), 3),
        }
    return out


def size_errors(studies: list[dict], threshold: float) -> dict:
    """Measured minus true longest axial diameter (mm) of the relevant nodules listed at
    `threshold` (each by its highest-scoring candidate; one without a measured edge is counted
    apart)."""
    errors, truth_d, estimated = [], [], 0
    for s in studies:
        best: dict[int, list] = {}
        for c in s["listed"]:
            if c[0] >= threshold and c[1] >= 0 and s["relevant"][c[1]] and c[1] not in best:
                best[c[1]] = c
        for i, c in best.items():
            if not c[3]:  # no edge to measure: the service gives no size either
                estimated += 1
                continue
            errors.append(c[2] - s["truth"][i][1])
            truth_d.append(s["truth"][i][1])
    e = np.asarray(errors)
    if not len(e):
        return {"nodules": 0, "estimated_not_measured": estimated}
    return {
        "nodules": len(e),
        "estimated_not_measured": estimated,
        "median_error_mm": round(float(np.median(e)), 2),
        "median_abs_error_mm": round(float(np.median(np.abs(e))), 2),
        "p90_abs_error_mm": round(float(np.percentile(np.abs(e), 90)), 2),
        "median_true_diameter_mm": round(float(np.median(truth_d)), 1),
        "relative_abs_error_median": round(float(np.median(np.abs(e) / np.asarray(truth_d))), 3),
    }


def dice_summary(studies: list[dict]) -> dict:
    """Median / mean study Dice over studies with a relevant nodule, and over hit nodules."""
    per_study = [s["study_dice"] for s in studies if s["study_dice"] is not None]
    per_lesion = [d for s in studies for d in s["lesion_dice"]]
    out = {"studies": len(per_study), "detected_nodules": len(per_lesion)}
    for name, values in (("study", per_study), ("detected_nodule", per_lesion)):
        if values:
            out[f"{name}_dice_mean"] = round(float(np.mean(values)), 4)
            out[f"{name}_dice_median"] = round(float(np.median(values)), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a detector run")
    ap.add_argument("--cohort", type=Path, required=True)
    ap.add_argument("--split", default="", help="one split only (default: every study)")
    ap.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="splits of a table without them: the detector run's --seed",
    )
    ap.add_argument("--min-diameter", type=float, default=6.0)
    ap.add_argument(
        "--threshold", type=float, default=0.5, help="size errors and Dice at this threshold"
    )
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    scorer = DetectorScorer(args.run, threshold=min(THRESHOLDS), max_candidates=200)
    seg = read_seg_table(args.cohort, [scorer.finding], seed=args.split_seed)
    table = seg.table if not args.split else seg.table[seg.table["split"] == args.split]
    t0 = time.perf_counter()
    studies = [
        study_rows(scorer, seg, row, args.min_diameter, args.threshold)
        for _, row in table.iterrows()
    ]
    wall = time.perf_counter() - t0
    result = {
        "run": str(args.run),
        "cohort": str(args.cohort),
        "split": args.split or "all",
        "studies": len(studies),
        "relevant_nodules": sum(sum(s["relevant"]) for s in studies),
        "min_diameter_mm": args.min_diameter,
        "operating_points": operating_points(studies),
        "size_error_at": args.threshold,
        "size_error": size_errors(studies, args.threshold),
        "dice": dice_summary(studies),
        "seconds_per_study": round(wall / max(len(studies), 1), 2),
        "machine": platform.machine(),
        "threads": args.threads,
    }
    print(json.dumps(result, indent=2))
    data = json.loads(args.json.read_text()) if args.json.is_file() else {}
    data[args.key] = result
    args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
