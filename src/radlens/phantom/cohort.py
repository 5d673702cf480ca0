"""A synthetic chest-CT cohort on disk: volumes (DICOM / NIfTI / NPZ), masks, reports, a table.

Layout of `out_dir` (table paths are relative to it; `radlens.data.cohort_table.read_cohort`):

    cohort.csv, cohort.parquet   one row per study (see `COLUMNS` + one `true:<id>` per abnormality)
    findings.csv                 one row per (study, abnormality, location) with its mask
    P0001/S1/dicom/*.dcm         CT series (CT Image Storage)
    P0001/S1/image.nii.gz        the same volume as NIfTI          (format "nifti")
    P0001/S1/image.npz           int16 HU + spacing + origin         (format "npz")
    P0001/S1/masks.npz           bool mask per "abnormality@location" + "lobes" label map
    P0001/S1/masks.nii.gz        label volume, values in findings.csv (format "nifti")
    P0001/S1/report.txt          the free-text report
    outcomes.csv, README.md      SYNTHETIC follow-up; files and columns (radiographs: cxr_cohort)

Every patient is drawn from its own seed (seed, patient index), so patient k is identical whatever
the cohort size, and the same seed gives identical arrays and tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from pydicom.uid import generate_uid
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from radlens.core import parse_shape
from radlens.data import IMAGE_COLUMNS, TRUTH_PREFIX
from radlens.data.volumes import write_dicom_series, write_nifti
from radlens.errors import ConfigError, DataError
from radlens.phantom.cxr_cohort import (
    check_radiograph_size,
    radiograph_table_columns,
    write_extras,
    write_radiograph,
)
from radlens.phantom.cxr_reports import cxr_labels, write_cxr_report
from radlens.phantom.geometry import Grid
from radlens.phantom.habitus import LOBE_CODES, Habitus
from radlens.phantom.lesions import (
    ABNORMALITIES,
    evolve_findings,
    sample_findings,
    unique_findings,
)
from radlens.phantom.render import DEFAULT_SHAPE, SITES, PhantomStudy, render_study
from radlens.phantom.reports import HISTORY, ReportContext, write_report
from radlens.phantom.sizes import focal_short_axis, lesion_size_summary

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("dicom", "nifti", "npz")
COLUMNS: tuple[str, ...] = (
    "patient_id", "study_id", "study_index", "site", "study_date", "age", "sex",
    "manufacturer", "kernel", "slice_thickness", "n_slices", "study_uid", "series_uid",
    "dicom_dir", "nifti_path", "npz_path", "mask_path", "report_path", "report_text",
    "true_findings",
)  # fmt: skip
FINDING_COLUMNS: tuple[str, ...] = (
    "study_id", "abnormality", "location", "mask_path", "mask_key", "label_value", "n_voxels",
    "volume_ml", "short_axis_mm",
)  # fmt: skip
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """'dicom,nifti' -> ('dicom', 'nifti'); a subset of FORMATS."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ConfigError(f"formats {text!r}: expected a comma-separated subset of {FORMATS}")
    return tuple(dict.fromkeys(items))


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["radlens-phantom", *map(str, parts)])


def simulate_patient(
    seed: int,
    index: int,
    *,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    sites: int = 3,
    render: bool = True,
) -> list[tuple[PhantomStudy | None, dict]]:
    """All studies of patient `index` (0-based) under `seed`: [(study, info)], oldest first.

    `info` holds ids, date, report text and `true_findings`; with `render=False` the volumes are
    skipped (study is None) and the reports and truth are the same as with rendering.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), 5]))
    habitus = Habitus.sample(rng)
    site = SITES[int(rng.integers(sites))]
    n_studies = int(rng.choice([1, 2, 3], p=[0.6, 0.28, 0.12]))
    healthy = rng.random() < 0.12
    history = str(rng.choice(sorted(HISTORY))) if rng.random() < 0.35 else ""
    date = dt.date(2022, 1, 3) + dt.timedelta(days=int(rng.integers(0, 900)))
    pid = f"P{index + 1:04d}"
    slice_mm = Grid.covering(shape).spacing[0] * site.slice_factor
    out: list[tuple[PhantomStudy | None, dict]] = []
    prior, prior_date = None, ""
    specs = [] if healthy else sample_findings(rng)
    for j in range(n_studies):
        if j:
            specs = evolve_findings(prior or [], rng)
            date = date + dt.timedelta(days=int(rng.integers(60, 400)))
        noise_seed = int(rng.integers(2**31))
        report_seed = int(rng.integers(2**31))
        cxr_rng = np.random.default_rng([report_seed, 2])  # the patient stream is left untouched
        study = None
        if render:
            study = render_study(habitus, specs, site, shape=shape, noise_seed=noise_seed)
            specs = study.findings
        age = habitus.age + (date.year - 2022)
        ctx = ReportContext(
            specs, age, habitus.sex, slice_mm, site.kernel, prior, prior_date, history
        )
        info = {
            "patient_id": pid,
            "study_id": f"{pid}-S{j + 1}",
            "study_index": j + 1,
            "site": site.name,
            "date": date,
            "report": write_report(ctx, np.random.default_rng(report_seed)),
            "true_findings": unique_findings(specs),
            "cxr_report": write_cxr_report(specs, cxr_rng, comparison=prior_date),
            "cxr_seed": int(cxr_rng.integers(2**31)),
            "cxr_truth": cxr_labels(specs),
            "age": age,
            "study_uid": _uid(seed, index, j, "study"),
            "series_uid": _uid(seed, index, j, "series"),
        }
        out.append((study, info))
        prior, prior_date = specs, date.isoformat()
    return out


def _write_labels_nifti(study: PhantomStudy, keys: list[str], path: Path) -> None:
    labels = np.zeros(study.volume.shape, dtype=np.uint8)
    for value, key in enumerate(keys, 1):
        labels[study.masks[key]] = value
    affine = _LPS_TO_RAS @ study.volume.affine
    img = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, path)


def _write_dicom(study: PhantomStudy, info: dict, folder: Path) -> None:
    vol, site, pid = study.volume, study.site, info["patient_id"]
    thick = f"{vol.spacing[0]:.2f}".rstrip("0").rstrip(".")
    write_dicom_series(
        vol,
        folder,
        patient_id=pid,
        patient_name=f"SYNTHETIC^{pid}",
        study_uid=info["study_uid"],
        series_uid=info["series_uid"],
        study_date=info["date"].strftime("%Y%m%d"),
        study_description="CT CHEST WO CONTRAST",
        series_description=f"AXIAL {thick}MM {site.kernel}",
        accession=info["study_id"].replace("-", ""),
        institution=site.institution,
        extra={
            "ManufacturerModelName": site.model,
            "PatientAge": f"{info['age']:03d}Y",
            "StationName": site.name,
        },
    )


def _write_images(
    study: PhantomStudy, info: dict, folder: Path, rel: Path, formats: Sequence[str]
) -> dict[str, str]:
    """The volume in each requested format; returns the table's image paths ('' if absent)."""
    vol = study.volume
    row = {IMAGE_COLUMNS[f]: "" for f in FORMATS}
    if "dicom" in formats:
        _write_dicom(study, info, folder / "dicom")
        row[IMAGE_COLUMNS["dicom"]] = (rel / "dicom").as_posix()
    if "nifti" in formats:
        write_nifti(vol, folder / "image.nii.gz")
        row[IMAGE_COLUMNS["nifti"]] = (rel / "image.nii.gz").as_posix()
    if "npz" in formats:
        np.savez_compressed(
            folder / "image.npz",
            hu=vol.array.astype(np.int16),
            spacing=np.array(vol.spacing),
            origin=np.array(vol.origin),
        )
        row[IMAGE_COLUMNS["npz"]] = (rel / "image.npz").as_posix()
    return row


def _finding_rows(study: PhantomStudy, sid: str, keys: list[str], mask_path: str) -> list[dict]:
    """A findings.csv row per true (abnormality, location): label value, volume, short axis."""
    vol = study.volume
    voxel_ml = float(np.prod(vol.spacing)) / 1000.0
    return [
        {
            "study_id": sid,
            "abnormality": f["abnormality"],
            "location": f["location"],
            "mask_path": mask_path,
            "mask_key": key,
            "label_value": i,
            "n_voxels": int(study.masks[key].sum()),
            "volume_ml": round(int(study.masks[key].sum()) * voxel_ml, 3),
            "short_axis_mm": focal_short_axis(key.split("@")[0], study.masks[key], vol.spacing),
        }
        for i, (f, key) in enumerate(zip(study.true_findings, keys, strict=True), 1)
    ]


def _study_row(study: PhantomStudy, info: dict, rel: Path) -> dict:
    """The cohort-table columns of a study other than its image paths."""
    vol, site = study.volume, study.site
    row = {
        "patient_id": info["patient_id"],
        "study_id": info["study_id"],
        "study_index": info["study_index"],
        "site": site.name,
        "study_date": info["date"].isoformat(),
        "age": info["age"],
        "sex": "F" if study.habitus.sex == "female" else "M",
        "manufacturer": site.manufacturer,
        "kernel": site.kernel,
        "slice_thickness": float(vol.spacing[0]),
        "n_slices": vol.shape[0],
        "study_uid": info["study_uid"],
        "series_uid": info["series_uid"],
        "mask_path": (rel / "masks.npz").as_posix(),
        "report_path": (rel / "report.txt").as_posix(),
        "report_text": info["report"],
        "true_findings": json.dumps(study.true_findings),
    }
    present = {f["abnormality"] for f in study.true_findings}
    for abn in ABNORMALITIES:
        row[TRUTH_PREFIX + abn] = int(abn in present)
    return row


def _write_study(
    study: PhantomStudy,
    info: dict,
    out_dir: Path,
    formats: Sequence[str],
    radiograph_size: int | None = None,
) -> tuple[dict, list[dict]]:
    """Write a study's images, masks and report under `out_dir`: (table row, finding rows)."""
    rel = Path(info["patient_id"]) / f"S{info['study_index']}"
    folder = out_dir / rel
    folder.mkdir(parents=True, exist_ok=True)
    study.volume.metadata.update(
        patient_id=info["patient_id"],
        study_uid=info["study_uid"],
        series_uid=info["series_uid"],
        study_date=info["date"].strftime("%Y%m%d"),
    )
    row: dict = _write_images(study, info, folder, rel, formats)
    keys = [f"{f['abnormality']}@{f['location']}" for f in study.true_findings]
    np.savez_compressed(
        folder / "masks.npz", lobes=study.lobes, **{k: study.masks[k] for k in keys}
    )
    if "nifti" in formats:
        _write_labels_nifti(study, keys, folder / "masks.nii.gz")
    (folder / "report.txt").write_text(info["report"], encoding="utf-8")
    findings = _finding_rows(study, info["study_id"], keys, (rel / "masks.npz").as_posix())
    row.update(_study_row(study, info, rel))
    if radiograph_size:
        row.update(write_radiograph(study, info, folder, rel, radiograph_size))
    return row, findings


def _render_patients(
    job: Callable[[int], tuple[list[dict], list[dict]]],
    n_patients: int,
    *,
    workers: int,
    progress: bool,
) -> tuple[list[dict], list[dict]]:
    """Run `job` for every patient index (in `workers` processes when > 1) with a progress bar;
    returns all table rows and finding rows, in patient order."""
    rows, finding_rows = [], []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task("synthesizing chest CT cohort", total=n_patients)
        with contextlib.ExitStack() as stack:
            if workers > 1 and n_patients > 1:
                ctx = multiprocessing.get_context("spawn")  # no forked torch/BLAS thread state
                pool = stack.enter_context(
                    ProcessPoolExecutor(min(workers, n_patients), mp_context=ctx)
                )
                results = pool.map(job, range(n_patients), chunksize=4)
            else:
                results = map(job, range(n_patients))
            for patient_rows, patient_findings in results:  # in patient order
                rows.extend(patient_rows)
                finding_rows.extend(patient_findings)
                bar.advance(task)
    return rows, finding_rows


def synthesize_cohort(
    out_dir: str | Path,
    *,
    n_patients: int,
    seed: int = 0,
    shape: tuple[int, int, int] | None = None,
    sites: int = 3,
    formats: Sequence[str] = ("dicom", "nifti"),
    progress: bool = True,
    workers: int = 1,
    radiographs: bool = False,
    radiograph_size: int = 256,
) -> pd.DataFrame:
    """Write a synthetic chest-CT cohort to `out_dir`; return the study table (cohort.parquet).

    `workers` > 1 renders patients in that many processes; every patient has its own seed, so
    the files and the table are identical to a one-process run. `radiographs` adds a frontal
    radiograph (`radiograph_size` pixels square), its masks and a CXR report per study.
    """
    if int(n_patients) < 1:
        raise ConfigError(f"n_patients must be >= 1; got {n_patients}")
    if not 1 <= int(sites) <= len(SITES):
        raise ConfigError(f"sites must be in 1..{len(SITES)}; got {sites}")
    shape = parse_shape(shape, default=DEFAULT_SHAPE, what="shape")
    formats = parse_formats(formats)
    size = check_radiograph_size(radiograph_size) if radiographs else None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; expected an output folder")
    out.mkdir(parents=True, exist_ok=True)
    job = partial(
        _write_patient, seed=seed, shape=shape, sites=int(sites), out=out, formats=formats,
        radiograph_size=size,
    )  # fmt: skip
    rows, finding_rows = _render_patients(
        job, int(n_patients), workers=int(workers), progress=progress
    )
    cols = list(COLUMNS) + [TRUTH_PREFIX + a for a in ABNORMALITIES]
    cols += radiograph_table_columns() if size else []
    table = pd.DataFrame(rows)[cols]
    table.to_csv(out / "cohort.csv", index=False)
    table.to_parquet(out / "cohort.parquet", index=False)
    findings = pd.DataFrame(finding_rows, columns=list(FINDING_COLUMNS))
    findings.to_csv(out / "findings.csv", index=False)
    manifest = {
        "generator": "radlens.phantom.render",
        "seed": int(seed),
        "n_patients": int(n_patients),
        "shape": list(shape),
        "sites": [s.name for s in SITES[: int(sites)]],
        "formats": list(formats),
        "abnormalities": list(ABNORMALITIES),
        "lobe_codes": LOBE_CODES,
    }
    manifest["lesion_sizes"] = lesion_size_summary(findings)  # measured on the masks
    manifest.update(write_extras(table, findings, out, seed=int(seed), radiograph_size=size))
    (out / "cohort.json").write_text(json.dumps(manifest, indent=2))
    logger.info("wrote %d studies of %d patients to %s", len(table), n_patients, out)
    return table


def _write_patient(
    k: int,
    *,
    seed: int,
    shape: tuple[int, int, int],
    sites: int,
    out: Path,
    formats: Sequence[str],
    radiograph_size: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """Render and write every study of patient `k`: (table rows, finding rows)."""
    rows, found = [], []
    for study, info in simulate_patient(seed, k, shape=shape, sites=sites):
        row, f = _write_study(study, info, out, formats, radiograph_size)
        rows.append(row)
        found.extend(f)
    return rows, found
