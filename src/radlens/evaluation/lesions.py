"""Lesion candidates: the connected components of a probability map, measured in millimetres.

Why components of a segmentation rather than a detection head: the segmentation network is
trained anyway (Dice is asked for), its components give the lesion's extent (volume, diameters,
contours for the viewer) and not only a box, and the LUNA16 hit rule needs only a centre; a
detection head would be a second network to train and calibrate for the same candidates.

Rules (all in one place):

- a voxel belongs to a candidate when its probability is >= `threshold`; candidates are the
  26-connected components of those voxels;
- centre: the centroid of the component's voxels, as an array index (z, y, x) and in grid
  millimetres (index * spacing, same axis order); `centre_lps` adds the patient position when an
  affine (`Volume.affine`, index (x, y, z, 1) -> LPS mm) is given;
- volume: voxel count * voxel volume (mm^3); equivalent diameter: the diameter of the sphere of
  that volume, (6 V / pi)^(1/3);
- longest axial diameter: over the axial slices (array axis 0), the largest in-plane distance
  between two corners of the component's pixels (the outer extent of the painted voxels, as a
  calliper laid on the image), in mm; `axial_slice` is the slice where it is reached;
- score: the maximum (default) or mean probability inside the component;
- candidates smaller than `min_volume_mm3` are dropped; the rest are sorted by score, highest
  first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

from radlens.errors import EvaluationError
from radlens.evaluation.segmentation_metrics import label_components

SCORE_RULES: tuple[str, ...] = ("max", "mean")
_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


@dataclass(frozen=True)
class LesionCandidate:
    """One connected component of a probability map (see the module's rules)."""

    label: int  # component label in `label_components` of the thresholded map
    centre_voxel: tuple[float, float, float]  # (z, y, x) array index
    centre_mm: tuple[float, float, float]  # (z, y, x) index * spacing
    centre_lps: tuple[float, float, float] | None  # patient LPS (x, y, z) mm, with an affine
    volume_mm3: float
    equivalent_diameter_mm: float
    longest_axial_diameter_mm: float
    axial_slice: int
    score: float
    n_voxels: int

    @property
    def radius_mm(self) -> float:
        """Half the equivalent diameter (the LUNA16 hit radius of a truth lesion)."""
        return self.equivalent_diameter_mm / 2.0


def longest_axial_diameter(component: np.ndarray, spacing_yx: Sequence[float]) -> tuple[float, int]:
    """(largest in-plane corner-to-corner distance in mm, its slice) of a (Z, Y, X) boolean mask.

    Per slice only the outer corners of each row's first and last pixel can be farthest apart
    (any other corner lies between them on the same line), so the distances are taken over those
    (their convex hull when there are many)."""
    sy, sx = float(spacing_yx[0]), float(spacing_yx[1])
    best, best_slice = 0.0, -1
    for z in np.flatnonzero(component.any(axis=(1, 2))):
        plane = component[z]
        rows = np.flatnonzero(plane.any(axis=1))
        hit = plane[rows]
        first = hit.argmax(axis=1)
        last = hit.shape[1] - 1 - hit[:, ::-1].argmax(axis=1)
        ys = np.concatenate([rows - 0.5, rows + 0.5, rows - 0.5, rows + 0.5]) * sy
        xs = np.concatenate([first - 0.5, first - 0.5, last + 0.5, last + 0.5]) * sx
        pts = np.column_stack([ys, xs])
        if len(pts) > 64:
            pts = pts[ConvexHull(pts).vertices]
        d = float(pdist(pts).max())
        if d > best:
            best, best_slice = d, int(z)
    return best, best_slice


def _check(prob: np.ndarray, spacing: Sequence[float], score: str) -> tuple[float, float, float]:
    if prob.ndim != 3:
        raise EvaluationError(f"probability map must be 3-D (Z, Y, X); got shape {prob.shape}")
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3 or min(sp) <= 0:
        raise EvaluationError(f"spacing must be three positive numbers (z, y, x) mm; got {spacing}")
    if score not in SCORE_RULES:
        raise EvaluationError(f"score rule must be one of {SCORE_RULES}; got {score!r}")
    return sp  # type: ignore[return-value]


def lesion_candidates(
    prob: np.ndarray,
    spacing: Sequence[float],
    *,
    threshold: float = 0.5,
    min_volume_mm3: float = 0.0,
    score: str = "max",
    affine: np.ndarray | None = None,
) -> list[LesionCandidate]:
    """Scored lesion candidates of a (Z, Y, X) probability map (or binary mask), highest first."""
    p = np.asarray(prob, dtype=np.float64)
    sp = _check(p, spacing, score)
    labels, _ = label_components(p >= threshold)
    voxel_mm3 = float(np.prod(sp))
    out = []
    for lab, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        comp = labels[box] == lab
        n_vox = int(comp.sum())
        volume = n_vox * voxel_mm3
        if volume < min_volume_mm3:
            continue
        idx = np.argwhere(comp).mean(axis=0) + np.array([s.start for s in box])
        values = p[box][comp]
        diameter, z = longest_axial_diameter(comp, sp[1:])
        lps = None
        if affine is not None:
            lps = tuple(float(v) for v in (np.asarray(affine) @ [idx[2], idx[1], idx[0], 1.0])[:3])
        out.append(
            LesionCandidate(
                label=lab,
                centre_voxel=tuple(float(v) for v in idx),
                centre_mm=tuple(float(v) for v in idx * np.array(sp)),
                centre_lps=lps,
                volume_mm3=volume,
                equivalent_diameter_mm=float((6.0 * volume / np.pi) ** (1.0 / 3.0)),
                longest_axial_diameter_mm=diameter,
                axial_slice=z + box[0].start,
                score=float(values.max() if score == "max" else values.mean()),
                n_voxels=n_vox,
            )
        )
    out.sort(key=lambda c: -c.score)
    return out
