"""`radlens label` and `radlens label-eval`: the rule-based report labeler (radlens.reports)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["label_cmd", "label_eval_cmd"]


def label_cmd(
    reports: Path | None = typer.Argument(None, help="CSV of reports (UTF-8, header row)."),
    id_column: str = typer.Option("id", "--id-column", help="Column holding the report id."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
    vocab: str = typer.Option("chest_ct", "--vocab", help="chest_ct, chest_xr or a YAML path."),
    out: Path = typer.Option(
        Path("labels.parquet"), "--out", help="Long table (.parquet/.csv); wide matrix beside it."
    ),
    uncertain: str = typer.Option(
        "keep", "--uncertain", help="Wide matrix: keep (NaN), positive (1) or negative (0)."
    ),
    explain_text: str | None = typer.Option(
        None, "--explain", help="Label this text and print each decision with its cue."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes (the same output as 1; with --dask: local workers)."
    ),
    dask: bool = typer.Option(
        False,
        "--dask",
        help="Label Dask partitions (extra 'scale') on a local cluster of --workers processes; "
        "--out becomes a folder of Parquet parts (one per CSV file / Parquet partition).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--dask-scheduler",
        metavar="ADDRESS",
        help="With --dask (implied): a dask.distributed scheduler, e.g. tcp://host:8786.",
    ),
) -> None:
    """Label free-text reports: findings (abnormality x location x status) with evidence."""
    from radlens.errors import ConfigError

    if explain_text is not None:
        from radlens.reports import explain

        lines = explain(explain_text, vocab=vocab)
        typer.echo("\n".join(lines) if lines else "no findings")
        return
    if reports is None:
        raise ConfigError("radlens label: give a reports CSV or --explain TEXT")
    if dask or scheduler is not None:
        from radlens.reports import label_dask

        done = label_dask(
            reports, id_column=id_column, text_column=text_column, vocab=vocab, out=out,
            uncertain=uncertain, scheduler=scheduler, workers=workers,
        )  # fmt: skip
        typer.echo(
            f"{done.n_reports} reports, {done.n_findings} findings ({done.n_present} present) in "
            f"{done.n_partitions} partitions on {done.scheduler} -> {done.long_path}/ + "
            f"{done.wide_path}/ (partitioned Parquet)"
        )
        return
    from radlens.reports import label_table

    summary = label_table(
        reports, id_column=id_column, text_column=text_column, vocab=vocab, out=out,
        uncertain=uncertain, workers=workers,
    )  # fmt: skip
    typer.echo(
        f"{summary.n_reports} reports, {summary.n_findings} findings "
        f"({summary.n_present} present) -> {summary.long_path} + {summary.wide_path}"
    )


def label_eval_cmd(
    pred: Path = typer.Argument(..., help="Output of `radlens label` (long or .wide table)."),
    gold: Path = typer.Argument(..., help="Gold CSV: wide 0/1 columns, or id,text,findings."),
    id_column: str = typer.Option("report_id", "--id-column", help="Id column of PRED."),
    gold_id_column: str | None = typer.Option(None, "--gold-id-column", help="Id of GOLD."),
    mapping: str | None = typer.Option(
        None,
        "--mapping",
        help="Gold column -> vocabulary ids: ct_rate, openi_negbio (chest_ct), openi_negbio_xr "
        "(chest_xr) or a YAML.",
    ),
    uncertain: str = typer.Option("positive", "--uncertain", help="positive or negative."),
    show: int = typer.Option(20, "--show", help="Disagreements to list."),
) -> None:
    """Per-label precision / recall / F1, micro / macro F1 and the disagreements."""
    from radlens.reports import evaluate_paths

    results = evaluate_paths(
        pred, gold, id_column=id_column, gold_id_column=gold_id_column, mapping=mapping,
        uncertain=uncertain,
    )  # fmt: skip
    for name, res in results.items():
        typer.echo(f"== {name}: micro-F1 {res.micro_f1:.3f}  macro-F1 {res.macro_f1:.3f}")
        typer.echo(res.table().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        typer.echo(f"disagreements: {len(res.disagreements)} (id, label, gold, predicted)")
        for row in res.disagreements[:show]:
            typer.echo("  " + "\t".join(row))
