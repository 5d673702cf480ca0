"""The chest as an erect PA radiograph sees it: pleural fluid and air move with gravity.

The CT phantom is scanned supine: pleural fluid lies in a posterior crescent and a pneumothorax
in an anterior rim (`radlens.phantom.anatomy`). Projected antero-posteriorly, both spread thinly
over the whole hemithorax, so a DRR of the supine volume shows them as a faint veil, not as a
radiologist sees them on an erect PA film. `erect_chest` moves them before the projection:

- pleural fluid (same volume) settles at the base of its pleural space, in the lowest voxels by
  height minus a meniscus term (fluid climbs the lateral chest wall), so small effusions blunt
  the costophrenic angle and larger ones make a basal opacity with a meniscus;
- a pneumothorax rises: the lung collapses towards the hilum (a uniform shrink about a medial,
  mid-lower centre, lung texture carried along) until the apical rim of air is as deep as the
  supine rim was, leaving an apical and lateral rim without lung markings and a thin visceral
  pleural line at the lung edge (its mask: the air no lung lies behind on the film's rays).

Only the radiograph uses this; the CT volume and its masks are unchanged. The returned masks
are the moved fluid / air, so projected masks show where the film shows the finding.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi

#: Rise of the fluid surface per mm of distance from the midline (meniscus).
MENISCUS_SLOPE: float = 0.3
#: HU of the visceral pleural line drawn at the edge of a collapsed lung.
PLEURAL_LINE_HU: float = -150.0
#: Collapse centre of a pneumothorax: fraction of the pleural space's height (from its base)
#: and of its width (from the midline side).
COLLAPSE_CENTRE: tuple[float, float] = (0.35, 0.15)
_FLUID_HU, _AIR_HU, _LUNG_HU = 10.0, -1000.0, -850.0
_DEFAULT_RIM_MM = 25.0


def _side_keys(masks: Mapping[str, np.ndarray], abnormality: str) -> list[tuple[str, str]]:
    """[(mask key, side)] of `abnormality` in `masks` (keys 'abnormality@<side>_pleura')."""
    out = []
    for key in sorted(masks):
        abn, _, loc = key.partition("@")
        if abn == abnormality and loc.split("_")[0] in ("right", "left"):
            out.append((key, loc.split("_")[0]))
    return out


def _lung_fill(hu: np.ndarray, lung: np.ndarray | None) -> float:
    """Typical aerated-lung HU of a side (its median), for the space a moved finding leaves."""
    if lung is None or not lung.any():
        return _LUNG_HU
    return float(np.median(hu[lung]))


def settle_fluid(
    hu: np.ndarray, space: np.ndarray, fluid: np.ndarray, spacing: tuple[float, ...], fill: float
) -> np.ndarray:
    """Move `fluid` (bool, same shape as `hu`) to the base of `space` in place: the old fluid
    becomes `fill`, the `fluid.sum()` lowest voxels of `space` (height minus the meniscus term)
    become fluid. Returns the new fluid mask."""
    n = int(fluid.sum())
    new = np.zeros_like(fluid)
    if n == 0:
        return new
    hu[fluid] = fill
    idx = np.flatnonzero(space)
    z, _, x = np.unravel_index(idx, space.shape)
    x_mm = (x - (space.shape[2] - 1) / 2.0) * spacing[2]
    height = z * spacing[0] - MENISCUS_SLOPE * np.abs(x_mm)
    take = idx[np.argsort(height, kind="stable")[: min(n, idx.size)]]
    new.flat[take] = True
    hu[new] = _FLUID_HU
    return new


def _collapse_centre(space: np.ndarray) -> np.ndarray:
    zs, ys, xs = np.nonzero(space)
    fz, fx = COLLAPSE_CENTRE
    x_mid = (space.shape[2] - 1) / 2.0
    medial = xs.max() if xs.mean() < x_mid else xs.min()  # the side's edge nearest the midline
    lateral = xs.min() if xs.mean() < x_mid else xs.max()
    return np.array(
        [zs.min() + fz * (zs.max() - zs.min()), ys.mean(), medial + fx * (lateral - medial)]
    )


def _shrunk(space: np.ndarray, centre: np.ndarray, factor: float) -> tuple[np.ndarray, tuple]:
    """Voxels of `space` whose pre-image under a shrink by `factor` about `centre` lies in
    `space`: (bool mask over space's voxels, source indices)."""
    idx = np.nonzero(space)
    src = tuple(
        np.clip(np.rint(centre[a] + (idx[a] - centre[a]) / factor).astype(int), 0, n - 1)
        for a, n in enumerate(space.shape)
    )
    return space[src], src


def collapse_lung(
    hu: np.ndarray, space: np.ndarray, air: np.ndarray, rim_mm: float, spacing: tuple, fill: float
) -> np.ndarray:
    """Move a pneumothorax's `air` (bool) in place: the lung of `space` shrinks about its
    collapse centre until the apical rim of air is `rim_mm` deep (the supine rim's depth, so a
    "large" pneumothorax keeps its size words), lung texture carried along, a visceral pleural
    line drawn at its edge. Returns the 3D mask of the air that no lung lies behind on the film's
    rays (the lucent rim without lung markings)."""
    new = np.zeros_like(air)
    if not air.any() or not space.any():
        return new
    orig = hu.copy()
    orig[air] = fill
    centre = _collapse_centre(space)
    apex_mm = (np.nonzero(space)[0].max() - centre[0]) * spacing[0]
    factor = float(np.clip(1.0 - rim_mm / max(apex_mm, 1e-3), 0.3, 0.98))
    inside, src = _shrunk(space, centre, factor)
    idx = np.nonzero(space)
    hu[idx] = np.where(inside, orig[src], _AIR_HU)
    new[tuple(i[~inside] for i in idx)] = True
    lung = space & ~new
    hu[lung & ndi.binary_dilation(new)] = PLEURAL_LINE_HU
    return new & ~lung.any(axis=1, keepdims=True)


def erect_chest(
    hu: np.ndarray,
    spacing: tuple[float, ...],
    tissues: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    sizes: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(HU, masks) of a supine phantom chest rearranged as an erect film sees it (module
    docstring). `tissues` needs `pleural_space_<side>` (and `lung_<side>` for the fill value);
    `masks` are the study's finding masks ('pleural_effusion@right_pleura', ...), `sizes` their
    `FindingSpec.size` by key (a pneumothorax's rim depth in mm). The inputs are not changed;
    masks of other findings are returned as they are."""
    sizes = sizes or {}
    out = np.array(hu, dtype=np.float32, copy=True)
    moved = dict(masks)
    for abnormality in ("pleural_effusion", "pneumothorax"):
        for key, side in _side_keys(masks, abnormality):
            space = tissues.get(f"pleural_space_{side}")
            if space is None or not np.any(masks[key]):
                continue
            fill = _lung_fill(out, tissues.get(f"lung_{side}"))
            mask = np.asarray(masks[key], bool)
            if abnormality == "pleural_effusion":
                moved[key] = settle_fluid(out, np.asarray(space, bool), mask, spacing, fill)
            else:
                rim = float(sizes.get(key, _DEFAULT_RIM_MM))
                moved[key] = collapse_lung(out, np.asarray(space, bool), mask, rim, spacing, fill)
    return out, moved
