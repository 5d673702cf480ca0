"""`radlens demo --detect-nodules` / `--detect-masses` / `--detect-nodes` / `--detect-plaques`:
a two-stage detector of the finding beside the classifier.

On the demo's own split (the classifier's, by patient): `radlens.training.nodule_detection`
trains on the train studies (`DetectorConfig.for_finding`: 12 epochs at 3.5 mm
isotropic, ~10 CPU minutes on the demo cohort), then scores the test studies: FROC over every
lesion of the finding and over lesions >= 6 mm (every plaque counts), the top candidate's
pointing game, and study AUROC for the finding (the report truth, `true:<finding>`) from the
detector's highest candidate beside the classifier's probability on the same studies, with
patient-clustered DeLong CIs and the paired test. Off by default: it does not fit the demo's
10-minute budget. The runs go to `DETECTOR_DIRS` under the demo's folder, where `radlens serve
--demo` finds them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from radlens.core import PREDICTIONS, read_predictions
from radlens.demos.ct_segmentation import split_cohort_table
from radlens.evaluation import (
    clustered_delong,
    clustered_delong_paired_test,
    evaluate_detector,
    sized_froc,
)
from radlens.training import DetectorConfig, collect_candidates, read_seg_table, train_detector

__all__ = ["DETECTOR_DIR", "DETECTOR_DIRS", "detection_step", "detector_vs_classifier"]

DETECTOR_DIR = "detector"
#: the folder of each finding's detector run under the demo's folder
DETECTOR_DIRS = {
    "nodule": DETECTOR_DIR,
    "mass": "detector-mass",
    "lymphadenopathy": "detector-nodes",
    "arterial_wall_calcification": "detector-plaques",
}


def detector_vs_classifier(
    per_study: pd.DataFrame, predictions: pd.DataFrame, truth: pd.DataFrame, finding: str
) -> dict[str, Any]:
    """AUROC (clustered DeLong CI) of the detector's `top_score` and the classifier's
    `score:<finding>` for `true:<finding>` on the studies both scored, and the paired test."""
    scores = predictions[["id", f"score:{finding}"]]
    frame = per_study.merge(scores, left_on="study_id", right_on="id")
    frame = frame.merge(truth[["study_id", f"true:{finding}"]], on="study_id")
    y = frame[f"true:{finding}"].to_numpy(float)
    out: dict[str, Any] = {"studies": len(frame), "n_positive": int(y.sum())}
    if not 0 < y.sum() < len(y):
        return out | {"note": "both classes needed"}
    clusters = frame["patient_id"].to_numpy()
    for name, col in (("detector", "top_score"), ("classifier", f"score:{finding}")):
        res = clustered_delong(y, frame[col].to_numpy(float), clusters)
        low, high = res.ci()
        out[name] = {"auroc": float(res.auc[0]), "ci": [float(low[0]), float(high[0])]}
    test = clustered_delong_paired_test(
        y, frame["top_score"].to_numpy(float), frame[f"score:{finding}"].to_numpy(float), clusters
    )
    return out | {"difference": float(test.difference[0]), "p_value": float(test.p_value[0])}


def detection_step(
    out: Path, run_dir: Path, split_of: Mapping[str, str], console: Console, *, seed: int = 0,
    finding: str = "nodule",
) -> dict[str, Any]:  # fmt: skip
    """Train and score the finding's detector (module rules); print and return its figures."""
    start = time.perf_counter()
    folder = out / DETECTOR_DIRS[finding]
    folder.mkdir(parents=True, exist_ok=True)
    table = split_cohort_table(out / "cohort", split_of)
    table.to_csv(folder / "cohort.csv", index=False)
    config = DetectorConfig.for_finding(finding, seed=seed)
    seg = read_seg_table(folder / "cohort.csv", [config.finding], seed=seed)
    studies = collect_candidates(seg, ["train", "test"], config, workers=2)
    info = train_detector(folder / "cohort.csv", folder, config, studies=studies)
    result = evaluate_detector(
        folder, folder / "cohort.csv", splits=("test",), studies=studies,
        figure=folder / "froc.png",
    )  # fmt: skip
    per_study = pd.DataFrame(result.pop("per_study"))
    wins = detector_vs_classifier(
        per_study, read_predictions(run_dir / PREDICTIONS), table, config.finding
    )
    figures = {
        "measured_on": f"test split ({result['studies']} studies, {result['patients']} patients)",
        "train_studies": info["train_studies"],
        "froc_all": result["froc_all"],
        "min_diameter_mm": result["min_diameter_mm"],
        "froc_sized": sized_froc(result),
        "study_auroc": result["study_auroc"],
        "pointing": result["pointing"],
        f"{finding}_auroc_vs_classifier": wins,
        "run": str(folder),
        "seconds": round(time.perf_counter() - start, 1),
    }
    big, size = sized_froc(result), result["min_diameter_mm"]
    reach = "-" if big["ceiling"] is None else f"{big['ceiling']:.3f}"
    line = f"{finding} detector: FROC {result['froc_all']['score']:.3f}"
    if size > 0:
        line += f" (every lesion), {big['score']:.3f} >= {size:g} mm"
    line += f" ({big['n_lesions']} lesions; candidates reach {reach})"
    if "detector" in wins:
        line += (f"; {finding} AUROC detector {wins['detector']['auroc']:.3f} vs classifier "
                 f"{wins['classifier']['auroc']:.3f} (paired p {wins['p_value']:.2g})")  # fmt: skip
    point = result["pointing"]
    if point["n"]:
        line += (f"; top candidate within {point['tolerance']} of the {finding} in "
                 f"{point['hits']} of {point['n']} positive studies (random candidate "
                 f"{point['chance']:.2f})")  # fmt: skip
    console.print(line)
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in figures.items()}  # fmt: skip
