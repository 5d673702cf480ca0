"""`radlens serve`, `radlens fetch` and `radlens user add/list/revoke/disable/enable`
(radlens.service)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["fetch_cmd", "serve_cmd", "user_app"]

user_app = typer.Typer(help="Manage service users and their bearer tokens.", no_args_is_help=True)


def serve_cmd(
    host: str | None = typer.Option(None, help="HTTP host [RADLENS_HTTP_HOST, 127.0.0.1]."),
    port: int | None = typer.Option(None, help="HTTP port [RADLENS_HTTP_PORT, 8000]."),
    dicom_host: str | None = typer.Option(
        None, help="DICOM host [RADLENS_DICOM_HOST, 127.0.0.1]; 0.0.0.0 opens it to the network."
    ),
    dicom_port: int | None = typer.Option(None, help="DICOM port [RADLENS_DICOM_PORT, 11112]."),
    ae_title: str | None = typer.Option(None, help="DICOM AE title [RADLENS_AE_TITLE]."),
    model_run: Path | None = typer.Option(None, help="Run directory to score with."),
    seg_run: Path | None = typer.Option(
        None,
        "--seg-run",
        help="Segmentation run (radlens train --task segmentation): lesion candidates, contours "
        "and measured sizes in the draft [RADLENS_SEG_RUN].",
    ),
    detector_runs: list[Path] | None = typer.Option(
        None,
        "--detector-run",
        metavar="DIR",
        help="Detector run (radlens train --task detection; repeat for nodule and mass): its "
        "candidates, sizes measured on the image, and the study's score of its finding "
        "[RADLENS_DETECTOR_RUNS, comma-separated].",
    ),
    text_run: Path | None = typer.Option(
        None,
        "--text-run",
        help="3D image-text run (radlens pretrain image-text): the viewer's 'show where: "
        "<sentence>' maps [RADLENS_TEXT_RUN].",
    ),
    service_dir: Path | None = typer.Option(None, help="Data dir [RADLENS_SERVICE_DIR]."),
    demo: int | None = typer.Option(None, help="Seed N synthetic patients into an empty store."),
    send_results: str | None = typer.Option(
        None,
        help="AE@HOST:PORT: after scoring, C-STORE the DICOM SR + heatmap maps there "
        "[RADLENS_SEND_RESULTS].",
    ),
) -> None:
    """Start the web API, the DICOM node and the scoring worker (settings from RADLENS_* env)."""
    from radlens.demos import (
        demo_fitness_rules,
        demo_seeder,
        find_demo_lesion_runs,
        find_demo_run,
    )
    from radlens.service import Settings, serve

    settings = Settings.from_env(
        http_host=host,
        http_port=port,
        dicom_host=dicom_host,
        dicom_port=dicom_port,
        ae_title=ae_title,
        model_run=model_run,
        seg_run=seg_run,
        detector_runs=tuple(detector_runs) if detector_runs else None,
        text_run=text_run,
        service_dir=service_dir,
        demo_patients=demo,
        send_results=send_results,
    )
    if not settings.demo_patients:
        serve(settings)
        return
    # the demo: synthetic patients in an empty store, scored by `radlens demo`'s run if present;
    # the phantom's coarse pixels pass the fitness check under the demo's rules (printed)
    if settings.check_fitness and settings.fitness_rules is None:
        rules = demo_fitness_rules(settings.service_dir)
        settings = settings.model_copy(update={"fitness_rules": rules})
        typer.echo(f"demo: fitness rules for the phantom's 3.5 mm pixels in {rules}")
    # the demo's segmentation / detector runs, unless others are given
    found = {k: v for k, v in find_demo_lesion_runs().items() if not getattr(settings, k)}
    if found:
        settings = settings.model_copy(update=found)
        runs = [str(p) for v in found.values() for p in (v if isinstance(v, tuple) else (v,))]
        typer.echo("demo: lesion candidates from " + ", ".join(runs))
    seed = demo_seeder(settings.service_dir, settings.demo_patients)
    configured = settings.scorer or settings.model_run is not None
    serve(settings, seed=seed, fallback_run=None if configured else find_demo_run())


def fetch_cmd(
    study: str = typer.Option(..., "--study", help="StudyInstanceUID to pull."),
    out: Path = typer.Option(..., "--out", help="Folder for the fetched .dcm files."),
    source: str | None = typer.Option(
        None, "--from", help="The PACS as AE@HOST:PORT (C-FIND, then C-GET or C-MOVE)."
    ),
    dicomweb: str | None = typer.Option(
        None, "--dicomweb", help="DICOMweb root URL instead (QIDO-RS search + WADO-RS)."
    ),
    method: str = typer.Option("get", help="get (C-GET, no inbound port) or move (C-MOVE)."),
    move_port: int = typer.Option(11113, help="Our Storage SCP port for C-MOVE."),
    ae_title: str | None = typer.Option(None, help="Our AE title [RADLENS_AE_TITLE]."),
    ingest: bool = typer.Option(False, help="Also ingest the files into the radlens store."),
) -> None:
    """Pull one study from a PACS by DIMSE (--from) or DICOMweb (--dicomweb) into --out."""
    from radlens.core import look_up_option
    from radlens.errors import ConfigError
    from radlens.service import (
        Database,
        FileStore,
        Settings,
        fetch_dicomweb,
        fetch_dimse,
        ingest_fetched,
        parse_dicom_address,
    )

    if (source is None) == (dicomweb is None):
        raise ConfigError(
            "radlens fetch: give exactly one of --from AE@HOST:PORT or --dicomweb URL"
        )
    settings = Settings.from_env(ae_title=ae_title)
    if dicomweb is not None:
        result = fetch_dicomweb(dicomweb, study, out)
    else:
        result = fetch_dimse(
            parse_dicom_address(source, option="--from"),
            study,
            out,
            method=look_up_option(method, ("get", "move"), what="--method", error=ConfigError),
            calling_ae=settings.ae_title,
            move_port=move_port,
        )
    typer.echo(f"fetched {len(result.files)} instance(s) of {study} by {result.method} to {out}")
    if ingest:
        db = Database(settings.resolved_database_url)
        ingested, skipped = ingest_fetched(
            db, FileStore(settings.resolved_storage_dir), result.files
        )
        typer.echo(f"ingested: study id(s) {ingested.study_ids}, {ingested.new_instances} new")
        for line in skipped:
            typer.echo(f"skipped (not a CT image) {line}")


@user_app.command("add")
def user_add_cmd(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option("viewer", "--role", help="viewer, radiologist or admin."),
) -> None:
    """Create a user (or another token for one) and print the new token once."""
    from radlens.service import Database, Settings, add_user

    token = add_user(Database(Settings.from_env().resolved_database_url), name, role)
    typer.echo(token)


@user_app.command("list")
def user_list_cmd() -> None:
    """List users, roles and how many active tokens each has."""
    from radlens.service import Database, Settings, list_users

    for row in list_users(Database(Settings.from_env().resolved_database_url)):
        state = "" if row["active"] else "\tdisabled"
        typer.echo(f"{row['id']}\t{row['name']}\t{row['role']}\ttokens={row['tokens']}{state}")


@user_app.command("revoke")
def user_revoke_cmd(name: str = typer.Argument(..., help="User name.")) -> None:
    """Revoke every token of a user; their open page sessions end too."""
    from radlens.service import Database, Settings, revoke_tokens

    n = revoke_tokens(Database(Settings.from_env().resolved_database_url), name)
    typer.echo(f"revoked {n} token(s) of {name!r}")


@user_app.command("disable")
def user_disable_cmd(name: str = typer.Argument(..., help="User name.")) -> None:
    """Disable a user: none of their tokens or sessions authenticates until `enable`."""
    from radlens.service import Database, Settings, set_user_active

    set_user_active(Database(Settings.from_env().resolved_database_url), name, False)
    typer.echo(f"disabled {name!r}")


@user_app.command("enable")
def user_enable_cmd(name: str = typer.Argument(..., help="User name.")) -> None:
    """Enable a disabled user again (their unrevoked tokens work again)."""
    from radlens.service import Database, Settings, set_user_active

    set_user_active(Database(Settings.from_env().resolved_database_url), name, True)
    typer.echo(f"enabled {name!r}")
