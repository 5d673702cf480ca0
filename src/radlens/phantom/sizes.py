"""How big the synthetic focal lesions are, measured on their rendered masks.

`lesion_size_summary(findings)` reads the cohort's findings table (one row per finding mask, with
`volume_ml` counted from the mask's voxels at the synthesis grid) and gives, per focal finding,
the equivalent-sphere diameter distribution in mm (percentiles) and the count per size band. The
diameter is measured on the image (the mask as rendered, partial-volume effects of the grid
included), not copied from the generator's parameters, so anyone can check on which lesion sizes
a detection figure was reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: focal findings whose size decides whether they can be seen
FOCAL = ("nodule", "mass", "lymphadenopathy", "arterial_wall_calcification")
#: size bands (mm, equivalent-sphere diameter); a band is [lo, hi)
SIZE_BANDS_MM: tuple[tuple[float, float], ...] = (
    (0, 6), (6, 10), (10, 20), (20, 30), (30, 50), (50, float("inf")),
)  # fmt: skip
PERCENTILES = (5, 25, 50, 75, 95)


def equivalent_diameter_mm(volume_ml: np.ndarray) -> np.ndarray:
    """Diameter (mm) of the sphere with the given volume (ml = 1000 mm^3)."""
    volume_mm3 = np.asarray(volume_ml, dtype=float) * 1000.0
    return np.cbrt(6.0 * np.clip(volume_mm3, 0.0, None) / np.pi)


def _band_name(lo: float, hi: float) -> str:
    return f">= {lo:g} mm" if not np.isfinite(hi) else f"{lo:g}-{hi:g} mm"


def lesion_size_summary(findings: pd.DataFrame) -> dict[str, dict]:
    """Per focal finding present in `findings`: n, diameter percentiles (mm) and counts per size
    band. Needs the columns `abnormality` and `volume_ml`."""
    missing = {"abnormality", "volume_ml"} - set(findings.columns)
    if missing:
        raise KeyError(f"findings table lacks {sorted(missing)}; expected the cohort's findings")
    out: dict[str, dict] = {}
    for abnormality in FOCAL:
        rows = findings[findings["abnormality"] == abnormality]
        if rows.empty:
            continue
        d = equivalent_diameter_mm(rows["volume_ml"].to_numpy())
        out[abnormality] = {
            "n": len(d),
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
            f"{abnormality}: n={s['n']}, diameter median {d['p50']} mm "
            f"(5-95% {d['p5']}-{d['p95']} mm); {bands}"
        )
    return lines
