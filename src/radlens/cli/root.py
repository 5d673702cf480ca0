"""The one radlens command-line app: the root command, the registration of every command group,
`main(argv)` and the console-script `entry`.

Each command only parses its options and calls a typed function of the package below; it imports
that package when it runs, so `radlens --help` stays fast. Errors of the `RadlensError` family
print as one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from radlens import __version__
from radlens.cli import (
    bench,
    cohort,
    data,
    demo,
    deploy,
    pretrain,
    reports,
    service,
    train,
    volume,
)
from radlens.cli.console import err_console
from radlens.cli.examples import apply_examples
from radlens.cli.train_options import TrainCommand
from radlens.errors import RadlensError
from radlens.training import end_process_group

__all__ = ["app", "entry", "main"]

app = typer.Typer(
    name="radlens",
    help="Radiology reports and images to explained, honestly evaluated predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # radlens --install-completion / --show-completion
)


def _print_version(value: bool) -> None:
    """`radlens --version`: print the version and exit 0 (before any command runs)."""
    if value:
        typer.echo(f"radlens {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """radlens command-line interface."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # pandas imports numexpr (when installed), which logs its thread count at INFO
    logging.getLogger("numexpr").setLevel(logging.WARNING)


# the commands, in the order of `radlens --help`
app.add_typer(data.data_app, name="data")
app.add_typer(service.user_app, name="user")
app.command("serve")(service.serve_cmd)
app.command("fetch")(service.fetch_cmd)
app.command("train", cls=TrainCommand)(train.train_cmd)
app.command("evaluate")(train.evaluate_cmd)
app.command("demo")(demo.demo_cmd)
app.add_typer(volume.volume_app, name="volume")
app.add_typer(cohort.cohort_app, name="cohort")
app.command("explain")(train.explain_cmd)
app.command("plan")(train.plan_cmd)
app.command("predict")(deploy.predict_cmd)
app.command("export")(deploy.export_cmd)
app.command("label")(reports.label_cmd)
app.command("label-eval")(reports.label_eval_cmd)
app.add_typer(bench.bench_app, name="bench")
app.add_typer(pretrain.pretrain_app, name="pretrain")
app.command("zeroshot", epilog=pretrain.ZEROSHOT_EPILOG)(pretrain.zeroshot_cmd)
app.command("explain-text", epilog=pretrain.EXPLAIN_TEXT_EPILOG)(pretrain.explain_text_cmd)
apply_examples(app)  # an example block in every command's --help (cli/examples.py)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 1 unexpected failure)."""
    status = 0
    try:
        app(args=argv, prog_name="radlens", standalone_mode=True)
    except SystemExit as exc:  # typer's own exit: help, usage errors (2), typer.Exit(code)
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RadlensError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    if status == 0:  # a torchrun rank that succeeded leaves its process group cleanly
        end_process_group()
    return status


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
