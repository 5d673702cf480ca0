"""Score a nodule detector (`radlens.training.nodule_detection`) on a cohort it did not see.

What is reported (every figure on the detection grid, 3.5 mm isotropic by default):

- FROC (`radlens.evaluation.froc`, LUNA16 hit rule and score) over every lesion of the finding,
  and over lesions of at least `min_diameter_mm` equivalent diameter (smaller ones are
  irrelevant findings: not counted, hits on them dropped), each with a patient-bootstrap CI;
- the candidate stage's ceiling: the share of lesions that any candidate hits (the FROC cannot
  pass it) and candidates per scan;
- study level: AUROC of the highest candidate score for "a lesion of at least
  `min_diameter_mm`" against studies without any lesion (studies with only smaller lesions are
  left out: neither clearly positive nor negative), with the patient-clustered DeLong CI;
- the pointing game of the highest-scoring candidate on every study with a lesion of the
  finding: a hit when its centre lies in a lesion (strict) or within `POINTING_TOLERANCE_MM`,
  the same rule as the Grad-CAM pointing game (`radlens.explain`), with the candidate chance
  beside it (the hit rate of a candidate drawn at random from the study's own list).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from radlens.core import atomic_write_json
from radlens.evaluation.clustered_auc import clustered_delong
from radlens.evaluation.froc import FrocScan, froc, froc_entry, froc_figure, froc_scan
from radlens.evaluation.lesions import LesionCandidate
from radlens.training import (
    NoduleDetector,
    StudyCandidates,
    collect_candidates,
    load_detector,
    mask_lesions,
    read_seg_table,
)

__all__ = [
    "DETECTION_EVALUATION",
    "POINTING_TOLERANCE_MM",
    "detector_candidates",
    "detector_pointing",
    "evaluate_detector",
    "evaluate_detector_run",
    "sized_froc",
]

DETECTION_EVALUATION, FROC_FIGURE = "detection_evaluation.json", "froc.png"
#: the smallest lesion that counts by default, per finding (else 6 mm, LUNA16's rule for
#: nodules): every calcified plaque counts, as a plaque is not a nodule that can be too small
MIN_DIAMETER_MM = {"arterial_wall_calcification": 0.0}
#: a top candidate within this distance of a lesion voxel points at it (as Grad-CAM's does)
POINTING_TOLERANCE_MM = 10.0


def detector_candidates(study: StudyCandidates, scores: np.ndarray) -> list[LesionCandidate]:
    """A study's scored candidates as `LesionCandidate`s (centre only; no extent)."""
    sp = np.asarray(study.spacing, dtype=float)
    out = []
    for i, (c, s) in enumerate(zip(study.candidates.centres, scores, strict=True)):
        out.append(LesionCandidate(
            label=i, centre_voxel=tuple(float(v) for v in c),
            centre_mm=tuple(float(v) for v in c * sp), centre_lps=None, volume_mm3=0.0,
            equivalent_diameter_mm=0.0, longest_axial_diameter_mm=0.0, axial_slice=int(c[0]),
            score=float(s), n_voxels=0,
        ))  # fmt: skip
    return out


def _froc_with_ceiling(result) -> dict[str, Any]:
    """`froc_entry` plus the candidates' ceiling: the sensitivity with every candidate taken."""
    ceiling = float(result.sensitivity[-1]) if result.n_lesions else None
    return {**froc_entry(result), "ceiling": ceiling}


def _study_auroc(studies, scores, min_diameter_mm: float) -> dict[str, Any]:
    truth, top, patients = [], [], []
    for study, s in zip(studies, scores, strict=True):
        _, _, radii = mask_lesions(study.mask, study.spacing)
        if (2 * radii >= min_diameter_mm).any():
            truth.append(1.0)
        elif len(radii) == 0:
            truth.append(0.0)
        else:
            continue
        top.append(float(s.max()) if len(s) else 0.0)
        patients.append(study.patient_id)
    y = np.asarray(truth)
    if y.min(initial=1) == y.max(initial=0):
        return {"auroc": None, "n_positive": int(y.sum()), "n_negative": int((1 - y).sum())}
    res = clustered_delong(y, np.asarray(top), np.asarray(patients, dtype=object))
    low, high = res.ci()
    return {"auroc": round(float(res.auc[0]), 4),
            "ci": [round(float(low[0]), 4), round(float(high[0]), 4)],
            "n_positive": int(y.sum()), "n_negative": int((1 - y).sum())}  # fmt: skip


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def detector_pointing(
    studies: Sequence[StudyCandidates],
    scores: Sequence[np.ndarray],
    tolerance_mm: float = POINTING_TOLERANCE_MM,
) -> dict[str, Any]:
    """Pointing game of each study's highest-scoring candidate over the studies whose mask
    holds a lesion: `pointing_game` (centre within `tolerance_mm` of a lesion voxel, Euclidean
    on the detection grid), `pointing_game_strict` (centre voxel in a lesion), and the same two
    rates for a candidate drawn at random from the study's list (`chance`, `chance_strict`). A
    study without candidates is a miss."""
    hits, strict, chance, chance_strict = [], [], [], []
    for study, s in zip(studies, scores, strict=True):
        if not study.mask.any():
            continue
        far = ndimage.distance_transform_edt(~study.mask, sampling=study.spacing)
        centres = np.asarray(study.candidates.centres, dtype=float).reshape(-1, 3)
        at = np.clip(np.rint(centres).astype(int), 0, np.asarray(study.mask.shape) - 1)
        near = far[tuple(at.T)] <= tolerance_mm
        inside = study.mask[tuple(at.T)]
        top = int(np.argmax(s)) if len(s) else None
        hits.append(top is not None and bool(near[top]))
        strict.append(top is not None and bool(inside[top]))
        chance.append(float(near.mean()) if len(near) else 0.0)
        chance_strict.append(float(inside.mean()) if len(inside) else 0.0)
    return {
        "n": len(hits), "hits": int(sum(hits)), "tolerance": f"{tolerance_mm:g} mm",
        "pointing_game": _mean(hits), "pointing_game_strict": _mean(strict),
        "chance": _mean(chance), "chance_strict": _mean(chance_strict),
        "chance_is": "a candidate drawn at random from the study's own list",
    }  # fmt: skip


def evaluate_detector(
    run_dir: str | Path | NoduleDetector,
    cohort: str | Path,
    *,
    splits: Sequence[str] = ("train", "val", "test"),
    min_diameter_mm: float | None = None,
    workers: int = 1,
    n_bootstrap: int = 1000,
    figure: str | Path | None = None,
    device: str = "cpu",
    studies: Sequence[StudyCandidates] | None = None,
) -> dict[str, Any]:
    """The module's figures for the studies of `splits` of `cohort` (default: all of them);
    `min_diameter_mm`: the smallest lesion that counts (default `MIN_DIAMETER_MM` of the
    detector's finding, else 6 mm; `sized_froc` reads its FROC); `figure`: also write the FROC
    plot (lesions >= `min_diameter_mm`) there as PNG; `studies`: their candidates, collected
    already with the detector's settings. "per_study" lists each study's highest candidate
    score; "pointing" is `detector_pointing`."""
    det = run_dir if isinstance(run_dir, NoduleDetector) else load_detector(run_dir, device)
    if min_diameter_mm is None:
        min_diameter_mm = MIN_DIAMETER_MM.get(det.config.finding, 6.0)
    t0 = time.perf_counter()
    if studies is None:
        seg = read_seg_table(cohort, [det.config.finding], seed=det.config.seed)
        studies = collect_candidates(seg, splits, det.config, workers=workers)
    studies = [s for s in studies if s.split in splits]
    t1 = time.perf_counter()
    scores = [det.score(s.cubes) for s in studies]
    t2 = time.perf_counter()
    every: list[FrocScan] = []
    large: list[FrocScan] = []
    for study, s in zip(studies, scores, strict=True):
        cands = detector_candidates(study, s)
        args = (study.study_id, study.patient_id, cands, study.mask, study.spacing)
        every.append(froc_scan(*args))
        large.append(froc_scan(*args, min_diameter_mm=min_diameter_mm))
    large_result = froc(large, n_bootstrap=n_bootstrap)
    if figure is not None:
        froc_figure(large_result, figure,
                    title=f"{det.config.finding} >= {min_diameter_mm:g} mm")  # fmt: skip
    return {
        "cohort": str(cohort),
        "splits": list(splits),
        "finding": det.config.finding,
        "studies": len(studies),
        "patients": len({s.patient_id for s in studies}),
        "candidates_per_scan": float(np.median([len(s.cubes) for s in studies])),
        "min_diameter_mm": min_diameter_mm,
        "froc_all": _froc_with_ceiling(froc(every, n_bootstrap=n_bootstrap)),
        f"froc_ge_{min_diameter_mm:g}mm": _froc_with_ceiling(large_result),
        "study_auroc": _study_auroc(studies, scores, min_diameter_mm),
        "pointing": detector_pointing(studies, scores),
        "per_study": [
            {
                "study_id": st.study_id,
                "patient_id": st.patient_id,
                "top_score": float(sc.max()) if len(sc) else 0.0,
            }
            for st, sc in zip(studies, scores, strict=True)
        ],
        "wall_s": {
            "candidates": round(t1 - t0, 1),
            "network": round(t2 - t1, 1),
            "scoring": round(time.perf_counter() - t1, 1),
        },
    }


def sized_froc(result: dict[str, Any]) -> dict[str, Any]:
    """The FROC over lesions of at least the result's `min_diameter_mm` (`evaluate_detector`)."""
    return result[f"froc_ge_{result['min_diameter_mm']:g}mm"]


def evaluate_detector_run(
    run_dir: str | Path, *, split: str = "test", min_diameter_mm: float | None = None,
    n_bootstrap: int = 1000, workers: int = 1, device: str = "cpu",
) -> dict[str, Any]:  # fmt: skip
    """`evaluate_detector` on `split` of the cohort the run was trained on (lesions from
    `min_diameter_mm`, default `MIN_DIAMETER_MM` of the run's finding, else 6 mm); writes
    detection_evaluation.json and froc.png into the run."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "detector.json").read_text())
    result = evaluate_detector(
        run_dir, info["cohort"], splits=(split,), min_diameter_mm=min_diameter_mm,
        workers=workers, n_bootstrap=n_bootstrap, figure=run_dir / FROC_FIGURE, device=device,
    )  # fmt: skip
    atomic_write_json(run_dir / DETECTION_EVALUATION, result)
    return result
