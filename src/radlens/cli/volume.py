"""`radlens volume`: DICOM series and NIfTI volumes (radlens.data.volumes)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["volume_app"]

volume_app = typer.Typer(help="CT volumes: list DICOM series, summarise, convert to NIfTI.")


@volume_app.command("series")
def volume_series_cmd(
    folder: Path = typer.Argument(..., help="Folder of DICOM files (searched recursively)."),
) -> None:
    """List the series in a folder: UID, modality, description, files, slices. Files that are
    not DICOM (a README, notes) are skipped and counted."""
    from radlens.cli.console import err_console
    from radlens.data.volumes import list_series

    skipped: list[Path] = []
    series = list_series(folder, skipped=skipped)
    for s in series:
        typer.echo(
            f"{s.series_uid}\t{s.modality}\t{s.description or '-'}\t"
            f"files={s.n_files}\tslices={s.n_slices}"
        )
    if skipped:
        names = ", ".join(str(p.relative_to(folder)) for p in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        err_console.print(
            f"skipped {len(skipped)} non-DICOM file(s): {names}{more}",
            highlight=False,
            markup=False,
        )
    if not series:
        err_console.print(f"no DICOM series in {folder}", highlight=False, markup=False)


@volume_app.command("info")
def volume_info_cmd(
    path: Path = typer.Argument(..., help="DICOM series folder, DICOM file or .nii/.nii.gz."),
    series_uid: str | None = typer.Option(None, help="Series to load when several exist."),
    allow_non_ct: bool = typer.Option(False, "--allow-non-ct", help="Accept MR, PT, ..."),
) -> None:
    """Load a volume and print its geometry and HU range as JSON (no patient identifiers)."""
    import json

    from radlens.data.volumes import describe_volume, load_volume

    volume = load_volume(path, series_uid=series_uid, allow_non_ct=allow_non_ct)
    typer.echo(json.dumps(describe_volume(volume), indent=2))


@volume_app.command("convert")
def volume_convert_cmd(
    path: Path = typer.Argument(..., help="DICOM series folder or DICOM file."),
    out: Path = typer.Argument(..., help="Output .nii or .nii.gz."),
    series_uid: str | None = typer.Option(None, help="Series to load when several exist."),
    allow_non_ct: bool = typer.Option(False, "--allow-non-ct", help="Accept MR, PT, ..."),
) -> None:
    """Convert a DICOM series to NIfTI (HU, RAS+ affine)."""
    from radlens.data.volumes import convert_to_nifti

    typer.echo(str(convert_to_nifti(path, out, series_uid=series_uid, allow_non_ct=allow_non_ct)))
