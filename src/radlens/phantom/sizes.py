"""How big the synthetic focal lesions are, measured on their rendered masks.

`lesion_size_summary(findings)` reads the cohort's findings table (one row per finding mask, with
`volume_ml` counted from the mask's voxels at the synthesis grid and `short_axis_mm` measured by
`short_axis_mm`) and gives, per focal finding, the size distribution in mm (percentiles) and the
count per size band: the equivalent-sphere diameter, and for lymph nodes the short axis (the CT
size criterion). Sizes are measured on the image (the mask as rendered, partial-volume effects of
the grid included), not copied from the generator's parameters, so anyone can check on which
lesion sizes a detection figure was reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

#: focal findings whose size decides whether they can be seen
FOCAL = ("nodule", "mass", "lymphadenopathy", "arterial_wall_calcification")
#: size bands (mm, equivalent-sphere diameter); a band is [lo, hi)
SIZE_BANDS_MM: tuple[tuple[float, float], ...] = (
    (0, 4), (4, 6), (6, 8), (8, 10), (10, 15), (15, 20), (20, 30), (30, 50), (50, float("inf")),
)  # fmt: skip
#: findings measured by their short axis (column `short_axis_mm`) rather than by volume
SHORT_AXIS = ("lymphadenopathy",)
PERCENTILES = (5, 25, 50, 75, 95)


def equivalent_diameter_mm(volume_ml: np.ndarray) -> np.ndarray:
    """Diameter (mm) of the sphere with the given volume (ml = 1000 mm^3)."""
    volume_mm3 = np.asarray(volume_ml, dtype=float) * 1000.0
    return np.cbrt(6.0 * np.clip(volume_mm3, 0.0, None) / np.pi)


def short_axis_mm(mask: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Short axis (mm) of the largest connected object of a (z, y, x) mask, on its axial slice
    of largest area: the minor axis of the ellipse with the slice's second moments (4 sqrt of
    the smaller eigenvalue; each voxel counted as a uniform square). 0.0 for an empty mask."""
    labels, n = ndi.label(mask)
    if n == 0:
        return 0.0
    largest = 1 + int(np.argmax(ndi.sum(mask, labels, range(1, n + 1))))
    obj = labels == largest
    k = int(np.argmax(obj.sum(axis=(1, 2))))
    yx = np.argwhere(obj[k]) * np.asarray(spacing[1:], dtype=float)
    cov = np.atleast_2d(np.cov(yx, rowvar=False, bias=True)) if len(yx) > 1 else np.zeros((2, 2))
    cov = cov + np.diag(np.asarray(spacing[1:], dtype=float) ** 2 / 12.0)
    return float(4.0 * np.sqrt(np.linalg.eigvalsh(cov)[0]))


def focal_short_axis(abnormality: str, mask: np.ndarray, spacing) -> float:
    """`short_axis_mm` (rounded to 0.1 mm) for a focal finding's mask, NaN for the others."""
    return round(short_axis_mm(mask, spacing), 1) if abnormality in FOCAL else float("nan")


def _band_name(lo: float, hi: float) -> str:
    return f">= {lo:g} mm" if not np.isfinite(hi) else f"{lo:g}-{hi:g} mm"


def lesion_size_summary(findings: pd.DataFrame) -> dict[str, dict]:
    """Per focal finding present in `findings`: n, what was measured, size percentiles (mm) and
    counts per size band. Needs the columns `abnormality` and `volume_ml`; lymph nodes are
    measured by `short_axis_mm` where the table has it."""
    missing = {"abnormality", "volume_ml"} - set(findings.columns)
    if missing:
        raise KeyError(f"findings table lacks {sorted(missing)}; expected the cohort's findings")
    out: dict[str, dict] = {}
    for abnormality in FOCAL:
        rows = findings[findings["abnormality"] == abnormality]
        if rows.empty:
            continue
        short = abnormality in SHORT_AXIS and "short_axis_mm" in rows
        d = (
            rows["short_axis_mm"].to_numpy(dtype=float)
            if short
            else equivalent_diameter_mm(rows["volume_ml"].to_numpy())
        )
        out[abnormality] = {
            "n": len(d),
            "measure": "short axis" if short else "equivalent diameter",
            "diameter_mm": {f"p{q}": round(float(np.percentile(d, q)), 1) for q in PERCENTILES},
            "bands": {
                _band_name(lo, hi): int(((d >= lo) & (d < hi)).sum()) for lo, hi in SIZE_BANDS_MM
            },
        }
    return out


def size_summary_lines(summary: dict[str, dict]) -> list[str]:
    """One printable line per finding: n, median and 5-95th percentile, counts per band."""
    lines = []
    for abnormality, s in summary.items():
        d = s["diameter_mm"]
        bands = ", ".join(f"{band} {n}" for band, n in s["bands"].items() if n)
        lines.append(
            f"{abnormality}: n={s['n']}, {s.get('measure', 'diameter')} median {d['p50']} mm "
            f"(5-95% {d['p5']}-{d['p95']} mm); {bands}"
        )
    return lines
