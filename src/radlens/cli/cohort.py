"""`radlens cohort`: synthetic chest-CT cohorts (radlens.phantom) and imports of your own."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["cohort_app"]

cohort_app = typer.Typer(
    help="Chest-CT cohorts: synthesize one, or import your own (DICOM/NIfTI + reports).",
    no_args_is_help=True,
)


@cohort_app.command("synth")
def cohort_synth_cmd(
    patients: int = typer.Option(..., "--patients", help="Number of patients (1-3 studies each)."),
    out: Path = typer.Option(..., "--out", help="Output folder (cohort.csv/.parquet inside)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same cohort."),
    shape: str = typer.Option("64,96,96", "--shape", help="Base grid Z,Y,X (sites resample z)."),
    sites: int = typer.Option(3, "--sites", help="Number of scanner sites (1-5)."),
    formats: str = typer.Option("dicom,nifti", "--formats", help="Any of dicom,nifti,npz."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    radiographs: bool = typer.Option(
        False, "--radiographs", help="Also a frontal chest radiograph (DRR) + CXR report per study."
    ),
    radiograph_size: int = typer.Option(256, "--radiograph-size", help="256 or 320 pixels."),
) -> None:
    """Synthesize chest CTs with abnormalities, ground-truth masks and free-text reports.

    With --radiographs each study also gets radiograph.png, its projected masks and a chest X-ray
    report (cohort columns radiograph_path, cxr_report_text, cxr_true:<observation>).
    """
    from radlens.core import parse_shape
    from radlens.data import TRUTH_PREFIX
    from radlens.phantom import CXR_TRUTH_PREFIX, DEFAULT_SHAPE, parse_formats, synthesize_cohort

    table = synthesize_cohort(
        out,
        n_patients=patients,
        seed=seed,
        shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape"),
        sites=sites,
        formats=parse_formats(formats),
        progress=not quiet,
        radiographs=radiographs,
        radiograph_size=radiograph_size,
    )
    typer.echo(
        f"{table['patient_id'].nunique()} patients, {len(table)} studies, "
        f"{table['site'].nunique()} sites -> {out / 'cohort.parquet'}"
    )
    for col in (c for c in table.columns if c.startswith(TRUTH_PREFIX)):
        name = col[len(TRUTH_PREFIX) :]
        typer.echo(f"  {name:<30} {int(table[col].sum()):>4} studies")
    for col in (c for c in table.columns if c.startswith(CXR_TRUTH_PREFIX)):
        name = "cxr " + col[len(CXR_TRUTH_PREFIX) :]
        typer.echo(f"  {name:<30} {int(table[col].sum()):>4} studies")


@cohort_app.command("import")
def cohort_import_cmd(
    studies: Path = typer.Argument(..., help="CSV, one row per study (paths relative to it)."),
    out: Path = typer.Option(..., "--out", help="Cohort folder to write (cohort.parquet inside)."),
    patient_column: str = typer.Option(..., "--patient-column", help="Patient id column."),
    report_column: str = typer.Option(..., "--report-column", help="Report text column."),
    dicom_column: str | None = typer.Option(
        None, "--dicom-column", help="Column of DICOM study folders (or files, or NIfTI)."
    ),
    nifti_column: str | None = typer.Option(
        None, "--nifti-column", help="Column of NIfTI files (used where filled)."
    ),
    study_column: str | None = typer.Option(None, "--study-column", help="Study id column."),
    site_column: str | None = typer.Option(None, "--site-column", help="Site / scanner column."),
    split_column: str | None = typer.Option(
        None, "--split-column", help="train/val/test per row (default: by patient, --seed)."
    ),
    series_column: str | None = typer.Option(
        None, "--series-column", help="SeriesInstanceUID to use (overrides the choice rules)."
    ),
    vocab: str = typer.Option("chest_ct", "--vocab", help="Labeler vocabulary (label space)."),
    fitness: Path | None = typer.Option(
        None, "--fitness", help="YAML of fitness thresholds (docs/cohort_schema.md)."
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Leave bad rows out (listed in excluded.csv) instead of failing."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the patient-level split."),
    cache_shape: str | None = typer.Option(
        None, "--cache-shape", help="Pre-fill the volume cache for train --cohort-shape D,H,W."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not pre-fill the volume cache."),
) -> None:
    """Import your own CT cohort: DICOM folders / NIfTI + report text -> a radlens cohort.

    Example:
      radlens cohort import studies.csv --dicom-column folder --report-column report
        --patient-column mrn --out mycohort && radlens train --cohort mycohort
    """
    from radlens.core import parse_shape
    from radlens.data import DEFAULT_FITNESS, ImportColumns, import_cohort, load_fitness_rules
    from radlens.training import TrainConfig

    columns = ImportColumns(
        patient=patient_column, report=report_column, dicom=dicom_column, nifti=nifti_column,
        study=study_column, site=site_column, split=split_column, series=series_column,
    )  # fmt: skip
    default_shape = tuple(TrainConfig.model_fields["cohort_shape"].default)
    shape = None if no_cache else parse_shape(cache_shape, default=default_shape, low=8,
                                              what="--cache-shape")  # fmt: skip
    result = import_cohort(
        studies,
        out,
        columns,
        vocab=vocab,
        rules=load_fitness_rules(fitness) if fitness is not None else DEFAULT_FITNESS,
        skip_bad=skip_bad,
        seed=seed,
        cache_shape=shape,
    )
    for line in result.summary():
        typer.echo(line)
