"""`radlens cohort`: synthetic chest-CT cohorts (radlens.phantom)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["cohort_app"]

cohort_app = typer.Typer(
    help="Synthetic chest-CT cohorts: volumes, masks, reports, a table.", no_args_is_help=True
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
) -> None:
    """Synthesize chest CTs with abnormalities, ground-truth masks and free-text reports."""
    from radlens.core import parse_shape
    from radlens.data import TRUTH_PREFIX
    from radlens.phantom import DEFAULT_SHAPE, parse_formats, synthesize_cohort

    table = synthesize_cohort(
        out,
        n_patients=patients,
        seed=seed,
        shape=parse_shape(shape, default=DEFAULT_SHAPE, what="--shape"),
        sites=sites,
        formats=parse_formats(formats),
        progress=not quiet,
    )
    typer.echo(
        f"{table['patient_id'].nunique()} patients, {len(table)} studies, "
        f"{table['site'].nunique()} sites -> {out / 'cohort.parquet'}"
    )
    for col in (c for c in table.columns if c.startswith(TRUTH_PREFIX)):
        name = col[len(TRUTH_PREFIX) :]
        typer.echo(f"  {name:<30} {int(table[col].sum()):>4} studies")
