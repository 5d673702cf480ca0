"""Focal findings from lesion candidates: study-level scores, measurements and descriptions.

A segmentation run (`radlens train --task segmentation`) predicts each study of a cohort; per
focal finding (`FOCAL_FINDINGS` that the run segments):

- ``seg:<finding>``: the study's score, the maximum probability of that channel over the volume
  (equal to the top candidate's score when there is one; no ties at 0 when there is none);
- ``diameter_mm:<finding>``: the longest axial diameter of the largest candidate scoring
  >= `MASK_THRESHOLD` (0 when none), measured on the image by `lesion_candidates`;
- ``n_candidates:<finding>``: candidates >= `MASK_THRESHOLD`;
- ``true:<finding>``: the cohort's study-level truth (its ``true:`` column; else whether the
  truth mask has a voxel on the run's grid).

`candidates` lists every candidate >= `MASK_THRESHOLD` with its measurements, for nodules and
masses the lobe at its centre (the cohort's ``lobes`` label map and ``cohort.json``
``lobe_codes`` when present: the phantom's anatomy; real CT would need a lobe segmentation) and
a sentence for the draft report and triage ("5.9 cm mass in the right upper lobe"). On the
seed-0 demo's test split the largest candidate of a study with a mass names a lobe in 62% of
them, the right one in 41% (nodules 61% / 44%); taking the commonest lobe within the lesion's
radius when the centre is off the lung named more (72%) but no more right ones, so it is not
used.

`focal_auroc` scores each focal finding's study scores (and any other columns, e.g. a
classifier's ``prob:<finding>``) by AUROC; `stack_scores` fits a logistic regression on the val
rows only and scores every row, so the test AUROC of the stack is honest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from radlens.data import load_masks
from radlens.data.volumes import Volume, load_volume, preprocess_volume
from radlens.errors import EvaluationError, ModelError
from radlens.evaluation.lesions import LesionCandidate, lesion_candidates
from radlens.training import (
    SegCase,
    SegTable,
    load_case,
    load_segmentation_run,
    predict_volume,
    read_seg_table,
)

__all__ = [
    "FOCAL_FINDINGS",
    "FocalCollector",
    "FocalResult",
    "case_focal",
    "describe_candidate",
    "focal_auroc",
    "focal_scores",
    "lobe_map",
    "lobe_names",
    "stack_scores",
]

FOCAL_FINDINGS: tuple[str, ...] = (
    "nodule",
    "mass",
    "lymphadenopathy",
    "arterial_wall_calcification",
)
LUNG_FINDINGS = ("nodule", "mass")  # the focal findings a lobe names
MASK_THRESHOLD = 0.5
_NAMES = {"lymphadenopathy": "lymph node", "arterial_wall_calcification": "arterial calcification"}


@dataclass
class FocalResult:
    """`scores`: one row per study; `candidates`: one row per candidate (module's columns)."""

    scores: pd.DataFrame
    candidates: pd.DataFrame


class FocalCollector:
    """Called with each study's probabilities (e.g. as `evaluate_segmentation_run`'s
    ``on_prediction``): its `case_focal` row and candidates, the truth from the cohort table's row
    of the study and each candidate's lobe from the cohort's lobe map on the run's grid."""

    def __init__(
        self, findings: Sequence[str], seg: SegTable, spacing: Sequence[float], names: Mapping
    ) -> None:
        self.findings, self.seg, self.spacing, self.names = tuple(findings), seg, spacing, names
        self.truth = {str(r["study_id"]): r for _, r in seg.table.iterrows()}
        self.rows: list[dict] = []
        self.candidates: list[dict] = []

    def __call__(self, case: SegCase, prob: np.ndarray) -> None:
        if not np.isfinite(prob).all():
            raise ModelError(f"the segmentation model predicts NaN/inf on {case.study_id}")
        row = self.truth[case.study_id]
        lobes = lobe_map(row, str(row[self.seg.image_column]), self.spacing, self.names)
        found = case_focal(case, prob, self.findings, truth=row, lobes=lobes, lobe_names=self.names)
        self.rows.append(found[0])
        self.candidates.extend(found[1])

    def result(self) -> FocalResult:
        return FocalResult(pd.DataFrame(self.rows), pd.DataFrame(self.candidates))


def describe_candidate(finding: str, diameter_mm: float, lobe: str | None = None) -> str:
    """ "5.9 cm mass in the right upper lobe": cm from 10 mm up, else mm; lobe when known."""
    size = f"{diameter_mm / 10:.1f} cm" if diameter_mm >= 10 else f"{diameter_mm:.0f} mm"
    where = f" in the {lobe.replace('_', ' ')}" if lobe else ""
    return f"{size} {_NAMES.get(finding, finding.replace('_', ' '))}{where}"


def lobe_names(cohort: Path) -> dict[int, str]:
    """{code: lobe} from the cohort's ``cohort.json`` ``lobe_codes`` ({} when it has none)."""
    meta = (cohort if cohort.is_dir() else cohort.parent) / "cohort.json"
    if not meta.is_file():
        return {}
    codes = json.loads(meta.read_text()).get("lobe_codes") or {}
    return {int(v): str(k) for k, v in codes.items()}


def lobe_map(
    row: Mapping, image_path: str, spacing: Sequence[float], names: Mapping[int, str]
) -> np.ndarray | None:
    """The cohort's lobe label map (``lobes`` in the row's ``mask_path``) on the run's grid,
    resampled nearest-neighbour; None when the cohort has none."""
    path = row.get("mask_path")
    if not names or path is None or pd.isna(path) or not str(path):
        return None
    lobes = load_masks(path).get("lobes")
    if lobes is None:
        return None
    image = load_volume(image_path, canonical=False)
    volume = Volume(lobes.astype(np.float32), image.spacing, image.origin, image.direction)
    return np.rint(preprocess_volume(volume, target_spacing=spacing, mode="nearest")[0]).astype(
        np.int64
    )


def _candidate_rows(study, finding, cands: list[LesionCandidate], lobes, names) -> list[dict]:
    rows = []
    for rank, c in enumerate(cands, start=1):
        lobe = None
        if lobes is not None and finding in LUNG_FINDINGS:  # nodes, plaques: not in a lobe
            z, y, x = (
                min(round(v), s - 1) for v, s in zip(c.centre_voxel, lobes.shape, strict=True)
            )
            lobe = names.get(int(lobes[z, y, x]))
        rows.append(
            {
                "study_id": study,
                "finding": finding,
                "rank": rank,
                "score": c.score,
                "longest_axial_diameter_mm": c.longest_axial_diameter_mm,
                "equivalent_diameter_mm": c.equivalent_diameter_mm,
                "volume_mm3": c.volume_mm3,
                "centre_z": c.centre_voxel[0],
                "centre_y": c.centre_voxel[1],
                "centre_x": c.centre_voxel[2],
                "axial_slice": c.axial_slice,
                "lobe": lobe,
                "description": describe_candidate(finding, c.longest_axial_diameter_mm, lobe),
            }
        )
    return rows


def focal_scores(
    run_dir: str | Path,
    *,
    cohort: str | Path | None = None,
    split: str = "test",
    studies: Sequence[str] | None = None,
    device: str = "cpu",
    window: Sequence[int] | None = None,
) -> FocalResult:
    """Study scores and candidates of a segmentation run on `cohort` (default: the run's) for the
    `split` studies, or for `studies` (ids, any split) when given. `window`: the sliding window
    (default: the run's patch; the whole volume, e.g. 64,96,96, is faster on a CPU)."""
    run = load_segmentation_run(run_dir)
    cfg = run.config
    focal = [f for f in FOCAL_FINDINGS if f in run.findings]
    if not focal:
        raise EvaluationError(f"run {run_dir} segments none of the focal findings {FOCAL_FINDINGS}")
    source = Path(cohort or cfg.cohort)  # type: ignore[arg-type]
    seg = read_seg_table(source, run.findings, seed=cfg.seed)
    table = seg.table
    rows = (
        table[table["study_id"].astype(str).isin(list(studies))]
        if studies
        else (table[table["split"] == split])
    )
    if rows.empty:
        raise EvaluationError(
            f"{source}: no studies to score (split {split!r}, studies given: {len(studies or [])})"
        )
    collect = FocalCollector(run.findings, seg, cfg.spacing, lobe_names(source))
    run.model.to(device)
    for _, row in rows.iterrows():
        case = load_case(row, seg, cfg.spacing, run.windows)
        with torch.no_grad():
            prob = predict_volume(run.model, case.image, window or cfg.patch, device=device)
        collect(case, prob)
    return collect.result()


def case_focal(
    case: SegCase,
    prob: np.ndarray,
    findings: Sequence[str],
    *,
    truth: Mapping | None = None,
    lobes: np.ndarray | None = None,
    lobe_names: Mapping[int, str] | None = None,
) -> tuple[dict, list[dict]]:
    """One study's row of `focal_scores` and its candidate rows, from the run's probabilities
    `prob` (F, D, H, W; channels in `findings` order). `truth`: the cohort row (its ``true:``
    columns; else the case's masks); `lobes`/`lobe_names`: the lobe map on the run's grid and
    its codes, for the candidates' lobe (None: no lobe)."""
    out = {"study_id": case.study_id, "patient_id": case.patient_id, "split": case.split}
    rows: list[dict] = []
    for f in (f for f in FOCAL_FINDINGS if f in findings):
        i = list(findings).index(f)
        cands = lesion_candidates(prob[i], case.spacing, threshold=MASK_THRESHOLD)
        true = ({} if truth is None else truth).get(f"true:{f}", case.label[i].any())
        out |= {
            f"seg:{f}": float(prob[i].max()),
            f"n_candidates:{f}": len(cands),
            f"diameter_mm:{f}": max((c.longest_axial_diameter_mm for c in cands), default=0.0),
            f"true:{f}": int(float(true) > 0),
        }
        rows += _candidate_rows(case.study_id, f, cands, lobes, lobe_names or {})
    return out, rows


def focal_auroc(scores: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """AUROC of each `columns` {name: column pattern with {f}} per focal finding present in
    `scores` (rows with both classes only), e.g. {"segmentation": "seg:{f}"}."""
    out = []
    for f in FOCAL_FINDINGS:
        if f"true:{f}" not in scores:
            continue
        y = scores[f"true:{f}"].to_numpy()
        row: dict = {"finding": f, "n": len(y), "n_positive": int(y.sum())}
        for name, pattern in columns.items():
            col = pattern.format(f=f)
            ok = col in scores and 0 < y.sum() < len(y)
            row[name] = float(roc_auc_score(y, scores[col])) if ok else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def stack_scores(
    scores: pd.DataFrame, patterns: Sequence[str], name: str = "stack"
) -> pd.DataFrame:
    """Add ``<name>:<finding>``: a logistic regression on the `patterns` columns (e.g.
    "seg:{f}", "prob:{f}"), fitted on the rows with split "val" only, scored on every row."""
    out = scores.copy()
    fit_rows = out["split"] == "val"
    for f in FOCAL_FINDINGS:
        cols = [p.format(f=f) for p in patterns]
        if f"true:{f}" not in out or any(c not in out for c in cols):
            continue
        y = out.loc[fit_rows, f"true:{f}"].to_numpy()
        if len(set(y)) < 2:
            continue
        model = LogisticRegression(C=1.0).fit(out.loc[fit_rows, cols].to_numpy(), y)
        out[f"{name}:{f}"] = model.predict_proba(out[cols].to_numpy())[:, 1]
    return out
