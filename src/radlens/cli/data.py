"""`radlens data`: the MedMNIST catalogue and downloads (radlens.data.medmnist)."""

from __future__ import annotations

from pathlib import Path

import typer

from radlens.cli.console import table_console

__all__ = ["data_app"]

data_app = typer.Typer(help="MedMNIST datasets: list the catalogue, show one, download files.")


@data_app.command("list")
def data_list(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data folder (default: $RADLENS_DATA_DIR or ~/.radlens/data)."
    ),
) -> None:
    """List the 18 MedMNIST v2 datasets (task, labels, channels, split sizes, sizes)."""
    from radlens.data.medmnist import catalogue_table

    table_console().print(catalogue_table(data_dir))


@data_app.command("info")
def data_info(
    name: str = typer.Argument(..., help="Dataset name, e.g. pneumoniamnist."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data folder."),
) -> None:
    """Show one dataset's label names and its files (URL, MD5, present locally)."""
    from radlens.data.medmnist import info_table

    table_console().print(info_table(name, data_dir))


@data_app.command("fetch")
def data_fetch(
    name: str = typer.Argument(..., help="Dataset name, e.g. pneumoniamnist."),
    size: int = typer.Option(28, "--size", help="Image size: 28, 64, 128, 224 (3D: 28, 64)."),
    dest: Path | None = typer.Option(
        None, "--dest", help="Destination folder (default: $RADLENS_DATA_DIR or ~/.radlens/data)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="Mirror URL instead of the official one (MD5 still checked)."
    ),
) -> None:
    """Download one official MedMNIST file (progress bar, MD5 verified, atomic write)."""
    from radlens.data.medmnist import fetch_medmnist

    path = fetch_medmnist(name, size, dest, url=url)
    typer.echo(f"{path} (MD5 verified)")
