"""Lesion candidates in the service: stored after scoring (rows + a label-volume blob) and listed
in the study detail (`radlens.service.imaging.LesionImages` draws their contours).

The candidates come from `radlens.deploy.SegmentationScorer` (`radlens serve --seg-run DIR`)
and `radlens.deploy.DetectorScorer` (`--detector-run DIR`), merged by `LesionFinders`.
A candidate's `location` is the classifier's location for that finding on the candidate's side
(its best located output there at >= threshold / 2), else the side's lung where the vocabulary
allows it for the finding, else none: the service names a lobe only where a model located it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select

from radlens.deploy import LesionResult, StudyLesion
from radlens.errors import ServiceError
from radlens.reports import load_vocabulary
from radlens.service.files import FileStore
from radlens.service.scoring import Prediction
from radlens.service.store import Database, Lesion

__all__ = [
    "NotConfiguredError",
    "candidate_location",
    "lesion_blob",
    "lesion_rows",
    "study_lesions",
    "with_lesion_scores",
]


class NotConfiguredError(ServiceError):
    """A feature the service was started without (e.g. no --seg-run / --text-run)."""

    status_code = 404


def candidate_location(
    lesion: StudyLesion, predictions: Iterable[Prediction], threshold: float
) -> str | None:
    """The candidate's location id (module's rule)."""
    located = [
        p for p in predictions
        if p.abnormality == lesion.finding and p.location
        and p.location.startswith(lesion.side + "_") and p.score >= threshold / 2
    ]  # fmt: skip
    if located:
        return max(located, key=lambda p: p.score).location
    lung = f"{lesion.side}_lung"
    entry = load_vocabulary("chest_ct").abnormalities.get(lesion.finding)
    allowed = getattr(entry, "locations", ()) or ()
    return lung if lung in allowed else None


def with_lesion_scores(
    predictions: Sequence[Prediction], result: LesionResult | None
) -> list[Prediction]:
    """The classifier's predictions with each finding a lesion finder scores at study level
    (a detector: `LesionResult.study_scores`) replaced by one prediction: that score, located in
    the side's lung of its best listed candidate where the vocabulary allows it."""
    if result is None or not result.study_scores:
        return list(predictions)
    out = [p for p in predictions if p.abnormality not in result.study_scores]
    for finding, score in result.study_scores.items():
        listed = [les for les in result.lesions if les.finding == finding]
        best = max(listed, key=lambda les: les.score) if listed else None
        where = candidate_location(best, (), 1.0) if best is not None else None
        out.append(Prediction(finding, where, float(score)))
    return out


def lesion_blob(files: FileStore, result: LesionResult) -> str | None:
    """Store the label volume cropped to its box (npz: labels, offset, shape); its sha256, or
    None when there is no candidate voxel."""
    labels = result.labels
    if not labels.any():
        return None
    nz = np.argwhere(labels > 0)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    crop = labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=crop, offset=lo, shape=np.asarray(labels.shape))
    return files.put_bytes(buf.getvalue())


def lesion_rows(
    study_id: int,
    result: LesionResult,
    predictions: Sequence[Prediction],
    threshold: float,
    model_version: str,
) -> list[Lesion]:
    """The study's `Lesion` rows (uncommitted) for `result`."""
    return [
        Lesion(
            study_id=study_id,
            label=les.label,
            finding=les.finding,
            location=candidate_location(les, predictions, threshold),
            side=les.side,
            score=float(les.score),
            diameter_mm=float(les.diameter_mm),
            equivalent_diameter_mm=float(les.equivalent_diameter_mm),
            volume_ml=float(les.volume_ml),
            axial_slice=int(les.axial_slice),
            centre=[round(float(c), 2) for c in les.centre_voxel],
            model_version=model_version,
            measured=bool(les.measured),
        )
        for les in result.lesions
    ]


def study_lesions(db: Database, study_id: int) -> list[dict]:
    """The study's candidates, largest score first, as the viewer lists them."""
    with db.session() as session:
        rows = session.scalars(
            select(Lesion).where(Lesion.study_id == study_id).order_by(Lesion.label)
        ).all()
        return [
            {
                "label": r.label,
                "finding": r.finding,
                "location": r.location,
                "side": r.side,
                "score": r.score,
                "diameter_mm": r.diameter_mm,
                "equivalent_diameter_mm": r.equivalent_diameter_mm,
                "volume_ml": r.volume_ml,
                "axial_slice": r.axial_slice,
                "centre": list(r.centre or []),
                "model_version": r.model_version,
                "measured": r.measured,
            }
            for r in rows
        ]
