"""Radiograph pairs, synthetic outcomes and the README of a phantom cohort on disk.

With radiographs (`synthesize_cohort(..., radiographs=True)`, `radlens cohort synth
--radiographs`) every study folder also holds

    P0001/S1/radiograph.png        frontal (PA) DRR of the CT volume, 8-bit grey, square
    P0001/S1/radiograph_masks.npz  bool (H, W) mask per CT key "abnormality@location" and per
                                   CXR key "observation@location" (`cxr_findings`), projected
    P0001/S1/cxr_report.txt        the chest X-ray report

and the cohort table gains `RADIOGRAPH_COLUMNS` plus one `cxr_true:<observation>` column per
`CXR_OBSERVATIONS` entry (what the radiograph shows, `radlens.phantom.cxr_reports`). Every cohort
also gets `outcomes.csv` (SYNTHETIC follow-up, `radlens.phantom.outcomes`) and `README.md`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from radlens.errors import ConfigError
from radlens.phantom.cxr_erect import erect_chest
from radlens.phantom.cxr_reports import (
    CXR_OBSERVATIONS,
    VISIBLE_NODE_MM,
    VISIBLE_NODULE_MM,
    cxr_findings,
    cxr_labels,
    cxr_view,
)
from radlens.phantom.outcomes import OUTCOME_COLUMNS, synthesize_outcomes
from radlens.phantom.radiograph import RADIOGRAPH_SIZES, render_radiograph, sample_exposure
from radlens.phantom.render import PhantomStudy

CXR_TRUTH_PREFIX = "cxr_true:"
RADIOGRAPH_COLUMNS: tuple[str, ...] = (
    "radiograph_path", "radiograph_masks_path", "radiograph_pixel_mm", "cxr_report_path",
    "cxr_report_text", "cxr_findings",
)  # fmt: skip


def check_radiograph_size(size: int) -> int:
    """`size` if it is one of `RADIOGRAPH_SIZES`, else ConfigError."""
    if int(size) not in RADIOGRAPH_SIZES:
        raise ConfigError(f"radiograph size {size}; expected one of {RADIOGRAPH_SIZES}")
    return int(size)


def radiograph_table_columns() -> list[str]:
    """The columns radiographs add to the cohort table, in order."""
    return [*RADIOGRAPH_COLUMNS, *(CXR_TRUTH_PREFIX + o for o in CXR_OBSERVATIONS)]


def projected_masks(study: PhantomStudy, size: int, seed: int) -> tuple:
    """The study's radiograph (`Radiograph`) with CT-key and CXR-key masks.

    The film is a projection of the noiseless anatomy (`study.clean`: a radiograph is exposed in
    milliseconds, without the CT's slice profile, breathing blur or reconstruction noise) with
    pleural fluid and air moved as in an erect patient (`erect_chest`)."""
    exposure = sample_exposure(study.site.name, np.random.default_rng([int(seed), 1]))
    spacing = study.volume.spacing
    sizes = {spec.key: spec.size for spec in study.findings}
    hu, masks = erect_chest(study.clean, spacing, study.tissues, study.masks, sizes)
    rad = render_radiograph(hu, spacing, size=size, exposure=exposure, seed=seed, masks=masks)
    cxr: dict[str, np.ndarray] = {}
    for spec in study.findings:
        view = cxr_view(spec)
        if view is None or spec.key not in rad.masks:
            continue
        key = f"{view[0]}@{view[1]}"
        cxr[key] = cxr.get(key, np.zeros((size, size), bool)) | rad.masks[spec.key]
    rad.masks.update(cxr)
    return rad


def write_radiograph(
    study: PhantomStudy, info: dict, folder: Path, rel: Path, size: int
) -> dict[str, object]:
    """Render and write a study's radiograph, projected masks and CXR report: its table columns."""
    rad = projected_masks(study, size, int(info["cxr_seed"]))
    Image.fromarray(rad.to_uint8(), mode="L").save(folder / "radiograph.png", optimize=False)
    np.savez_compressed(folder / "radiograph_masks.npz", **rad.masks)
    (folder / "cxr_report.txt").write_text(info["cxr_report"], encoding="utf-8")
    row: dict[str, object] = {
        "radiograph_path": (rel / "radiograph.png").as_posix(),
        "radiograph_masks_path": (rel / "radiograph_masks.npz").as_posix(),
        "radiograph_pixel_mm": round(rad.pixel_mm, 4),
        "cxr_report_path": (rel / "cxr_report.txt").as_posix(),
        "cxr_report_text": info["cxr_report"],
        "cxr_findings": json.dumps(cxr_findings(study.findings)),
    }
    for obs, value in cxr_labels(study.findings).items():
        row[CXR_TRUTH_PREFIX + obs] = value
    return row


def write_outcomes(table: pd.DataFrame, findings: pd.DataFrame, out: Path, seed: int) -> Path:
    """`outcomes.csv`: SYNTHETIC follow-up per study (`synthesize_outcomes`)."""
    path = out / "outcomes.csv"
    synthesize_outcomes(table, findings, seed=int(seed)).to_csv(path, index=False)
    return path


_README = """# Synthetic chest cohort (radlens.phantom)

Everything here is SYNTHETIC: rendered by `radlens cohort synth` (seed {seed}), no real patient.

- `cohort.csv` / `cohort.parquet`: one row per study (CT image paths, `mask_path`, `report_text`,
  `true:<abnormality>` CT truth; see `radlens.phantom.COLUMNS`).
- `findings.csv`: one row per (study, abnormality, location) with its mask key, volume and, for
  focal findings, the short axis in mm measured on the mask. `cohort.json` "lesion_sizes": size
  percentiles and counts per band (equivalent diameter; lymph nodes by short axis). Nodules are
  4-30 mm (log-uniform; solid, part-solid, ground-glass), lymph nodes 10-24 mm short axis,
  calcified plaques small (aorta, coronary arteries); all drawn with partial volume at the
  slice thickness, and breathing motion varies by site, so small lesions are faint on purpose.
- `outcomes.csv`: SYNTHETIC follow-up per study ({outcomes}): drawn from documented rules
  (tumour volume, lymphadenopathy, age, noise; `radlens.phantom.OutcomeRules`). The outcomes are
  invented so the survival pipeline has something learnable; they say nothing about any disease.
"""
_README_CXR = """- Radiographs (`--radiographs`, {size}x{size}): `radiograph_path` (frontal PA
  digitally reconstructed radiograph, PNG), `radiograph_masks_path` (npz: one projected bool
  mask per CT key "abnormality@location" and per CXR key "observation@location"),
  `radiograph_pixel_mm`, `cxr_report_path` / `cxr_report_text` (chest X-ray report),
  `cxr_findings` (JSON list of the visible observations and locations) and
  `cxr_true:<observation>` (0/1 per `chest_xr` observation: what the radiograph shows; nodules
  under {nodule_mm:g} mm, pure ground-glass nodules and lymph nodes under {node_mm:g} mm short
  axis are not visible and not reported). The film projects the noiseless anatomy as an erect
  patient: pleural fluid at the bases, a pneumothorax as an apical and lateral rim. Site/scanner
  differences: exposure, contrast, gamma, noise, blur, rotation, field of view.
"""


def write_readme(out: Path, *, seed: int, radiograph_size: int | None) -> Path:
    """The cohort's README.md (what each file and column holds)."""
    from_cxr = ""
    if radiograph_size:
        from_cxr = _README_CXR.format(
            size=radiograph_size, nodule_mm=VISIBLE_NODULE_MM, node_mm=VISIBLE_NODE_MM
        )
    text = _README.format(seed=seed, outcomes=", ".join(OUTCOME_COLUMNS)) + from_cxr
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def write_extras(
    table: pd.DataFrame,
    findings: pd.DataFrame,
    out: Path,
    *,
    seed: int,
    radiograph_size: int | None,
) -> dict[str, object]:
    """Write `outcomes.csv` and `README.md`; return the manifest's radiograph entries ({} when
    the cohort has no radiographs, so a CT-only cohort.json is unchanged)."""
    write_outcomes(table, findings, out, seed)
    write_readme(out, seed=seed, radiograph_size=radiograph_size)
    if not radiograph_size:
        return {}
    return {"radiographs": {"size": radiograph_size, "columns": radiograph_table_columns()}}
