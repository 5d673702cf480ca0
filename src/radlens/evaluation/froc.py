"""FROC of lesion candidates against truth lesions, scored as LUNA16, with a patient bootstrap.

Hit rule (LUNA16): a candidate hits a truth lesion when its centre lies inside the lesion's mask
(the 26-connected component of the truth mask) or within the lesion's radius (half its
equivalent diameter) of the lesion's centre; a candidate that hits several lesions is given to
the nearest centre. Each lesion is counted once, with the highest score among the candidates
that hit it; further hits on a found lesion are ignored (neither true nor false positives).
Candidates that hit nothing are false positives.

The curve: for every distinct score threshold, sensitivity = found lesions / all lesions and
FPs per scan = false positives / scans, from (0, 0). Sensitivity at the seven rates
`FROC_FP_RATES` (1/8 ... 8 FPs per scan) interpolates linearly along that curve (LUNA16's
`np.interp`; at a rate where the curve is vertical, its top; beyond the last point, the final
sensitivity); the competition score is their mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from radlens.errors import EvaluationError
from radlens.evaluation.bootstrap import BootstrapResult, patient_bootstrap
from radlens.evaluation.lesions import LesionCandidate, lesion_candidates
from radlens.evaluation.segmentation_metrics import label_components

FROC_FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class FrocScan:
    """One scan's candidates: scores, the truth lesion each hits (-1: none), lesion count."""

    scan_id: str
    patient_id: str
    scores: np.ndarray
    hits: np.ndarray
    n_lesions: int


@dataclass(frozen=True)
class FrocResult:
    """The FROC curve, sensitivities at `FROC_FP_RATES`, the competition score and their CIs."""

    fps_per_scan: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray
    fp_rates: np.ndarray
    sensitivities: np.ndarray
    score: float
    n_scans: int
    n_lesions: int
    bootstrap: BootstrapResult | None  # [7 sensitivities, score] per replicate


def match_candidates(
    candidates: Sequence[LesionCandidate],
    lesions: Sequence[LesionCandidate],
    lesion_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Index of the lesion each candidate hits (module's rule), -1 for none.

    `lesions` come from `lesion_candidates` of the truth mask; `lesion_labels` is that mask's
    `label_components` map (None: the radius rule alone).
    """
    hits = np.full(len(candidates), -1, dtype=np.int64)
    if not lesions:
        return hits
    centres = np.array([les.centre_mm for les in lesions])
    radii = np.array([les.radius_mm for les in lesions])
    labels = np.array([les.label for les in lesions])
    for i, cand in enumerate(candidates):
        dist = np.linalg.norm(centres - np.asarray(cand.centre_mm), axis=1)
        hit = dist <= radii
        if lesion_labels is not None:
            idx = tuple(
                int(np.clip(round(v), 0, n - 1))
                for v, n in zip(cand.centre_voxel, lesion_labels.shape, strict=True)
            )
            hit |= labels == lesion_labels[idx]
        if hit.any():
            hits[i] = int(np.flatnonzero(hit)[np.argmin(dist[hit])])
    return hits


def froc_scan(
    scan_id: str,
    patient_id: str,
    candidates: Sequence[LesionCandidate],
    truth_mask: np.ndarray,
    spacing: Sequence[float],
    *,
    min_diameter_mm: float = 0.0,
) -> FrocScan:
    """Match a scan's candidates to the components of its truth mask (same grid).

    Lesions with an equivalent diameter below `min_diameter_mm` are irrelevant findings (LUNA16's
    excluded annotations): not counted, and candidates that hit them are dropped (neither true
    nor false positives)."""
    truth = np.asarray(truth_mask) > 0
    lesions = lesion_candidates(truth.astype(np.float64), spacing, threshold=0.5)
    labels, _ = label_components(truth)
    scores = np.array([c.score for c in candidates], dtype=np.float64)
    hits = match_candidates(candidates, lesions, labels)
    small = np.array([les.equivalent_diameter_mm < min_diameter_mm for les in lesions], bool)
    if small.any():
        keep = (hits < 0) | ~small[np.maximum(hits, 0)]
        renumber = np.cumsum(~small) - 1  # index among the kept lesions
        scores, hits = scores[keep], np.where(hits[keep] >= 0, renumber[hits[keep]], -1)
    return FrocScan(str(scan_id), str(patient_id), scores, hits, int((~small).sum()))


class _Curve:
    """The effective candidates of all scans, sorted once; a curve per scan weighting."""

    def __init__(self, scans: Sequence[FrocScan]) -> None:
        scores, is_tp, scan = [], [], []
        for k, s in enumerate(scans):
            if len(s.scores) != len(s.hits):
                raise EvaluationError(
                    f"scan {s.scan_id}: {len(s.scores)} scores but {len(s.hits)} hits"
                )
            if len(s.hits) and s.hits.max() >= s.n_lesions:
                raise EvaluationError(
                    f"scan {s.scan_id} hits lesion {s.hits.max()} of only {s.n_lesions}"
                )
            fp = s.hits < 0
            best = {}
            for score, lesion in zip(s.scores[~fp], s.hits[~fp], strict=True):
                best[lesion] = max(best.get(lesion, -np.inf), score)
            scores += [*s.scores[fp], *best.values()]
            is_tp += [False] * int(fp.sum()) + [True] * len(best)
            scan += [k] * (int(fp.sum()) + len(best))
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        self.scores = np.asarray(scores, dtype=np.float64)[order]
        self.is_tp = np.asarray(is_tp, dtype=bool)[order]
        self.scan = np.asarray(scan, dtype=np.int64)[order]
        self.n_lesions = np.array([s.n_lesions for s in scans], dtype=np.float64)
        last = np.ones(len(self.scores), dtype=bool)
        last[:-1] = self.scores[1:] != self.scores[:-1]
        self.ends = np.flatnonzero(last)  # last index of each group of tied scores

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(FPs per scan, sensitivity) from (0, 0), one point per distinct score."""
        w = weights[self.scan]
        tp = np.cumsum(np.where(self.is_tp, w, 0.0))[self.ends]
        fp = np.cumsum(np.where(self.is_tp, 0.0, w))[self.ends]
        n_les = float(weights @ self.n_lesions)
        sens = tp / n_les if n_les > 0 else np.full(len(tp), np.nan)
        return np.r_[0.0, fp / weights.sum()], np.r_[0.0, sens]


def interpolate_sensitivity(
    fps: np.ndarray, sens: np.ndarray, rates: Sequence[float] = FROC_FP_RATES
) -> np.ndarray:
    """Sensitivity at each FP rate, linear along the curve (vertical: top; beyond: last)."""
    out = np.empty(len(rates))
    for i, x in enumerate(rates):
        j = int(np.searchsorted(fps, x, side="right")) - 1  # last point with fps <= x
        if j >= len(fps) - 1 or fps[j] == x:
            out[i] = sens[j]
        else:
            t = (x - fps[j]) / (fps[j + 1] - fps[j])
            out[i] = sens[j] + t * (sens[j + 1] - sens[j])
    return out


def froc(
    scans: Sequence[FrocScan],
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> FrocResult:
    """FROC over `scans` (module's rules) with a patient-bootstrap CI (n_bootstrap=0: none)."""
    if not scans:
        raise EvaluationError("FROC needs at least one scan; got none")
    curve = _Curve(scans)
    n = len(scans)

    def operating(index: np.ndarray) -> np.ndarray:
        # a replicate is the drawn scans' indices; a scan drawn k times weighs k
        sens = interpolate_sensitivity(*curve(np.bincount(index, minlength=n).astype(float)))
        return np.r_[sens, sens.mean()]

    fps, sens = curve(np.ones(n))
    values = operating(np.arange(n))
    boot = None
    if n_bootstrap > 0:
        boot = patient_bootstrap(
            operating,
            np.arange(n),
            patient_ids=np.array([s.patient_id for s in scans], dtype=object),
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
        )
    return FrocResult(
        fps_per_scan=fps,
        sensitivity=sens,
        thresholds=np.r_[np.inf, curve.scores[curve.ends]],
        fp_rates=np.asarray(FROC_FP_RATES),
        sensitivities=values[:-1],
        score=float(values[-1]),
        n_scans=n,
        n_lesions=int(curve.n_lesions.sum()),
        bootstrap=boot,
    )


def froc_entry(result: FrocResult) -> dict[str, Any]:
    """JSON of a `FrocResult`: sensitivities at the seven rates, score, counts and, with a
    bootstrap, their CIs."""
    boot = result.bootstrap
    entry: dict[str, Any] = {
        "fp_rates": result.fp_rates.tolist(),
        "sensitivities": result.sensitivities.tolist(),
        "score": result.score,
        "n_scans": result.n_scans,
        "n_lesions": result.n_lesions,
    }
    if boot is not None:
        entry |= {"sensitivities_ci": [boot.low[:-1].tolist(), boot.high[:-1].tolist()],
                  "score_ci": [float(boot.low[-1]), float(boot.high[-1])]}  # fmt: skip
    return entry


def froc_figure(
    result: FrocResult, path: str | Path | None = None, *, title: str = "FROC"
) -> bytes:
    """The FROC curve (log FPs per scan) with the seven operating points, as PNG bytes (and
    written to `path` if given)."""
    from matplotlib.figure import Figure  # imported only when a figure is drawn

    fig = Figure(figsize=(5.0, 4.0))
    ax = fig.add_subplot()
    x = np.clip(result.fps_per_scan, FROC_FP_RATES[0] / 2, None)
    ax.step(x, result.sensitivity, where="post", color="0.6", lw=1, label="operating points")
    ax.plot(result.fp_rates, result.sensitivities, "o-", color="C0", label="FROC (interpolated)")
    if result.bootstrap is not None:
        ax.fill_between(
            result.fp_rates, result.bootstrap.low[:-1], result.bootstrap.high[:-1],
            color="C0", alpha=0.2, label=f"{result.bootstrap.confidence:.0%} CI",
        )  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(result.fp_rates, ["1/8", "1/4", "1/2", "1", "2", "4", "8"])
    ax.set_xlim(FROC_FP_RATES[0] / 2, FROC_FP_RATES[-1] * 1.5)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false positives per scan")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"{title}: score {result.score:.3f} ({result.n_lesions} lesions, "
                 f"{result.n_scans} scans)")  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
