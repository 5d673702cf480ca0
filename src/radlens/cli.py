"""The one radlens command-line app.

Each command only parses its options and calls a typed function in a module below; no logic lives
here. Errors of the `RadlensError` family print as one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path  # noqa: F401  (used by command signatures added below)
from typing import Optional  # noqa: F401

import typer
from rich.console import Console
from rich.markup import escape

from radlens.errors import RadlensError

app = typer.Typer(
    name="radlens",
    help="Radiology reports and images to explained, honestly evaluated predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    """radlens command-line interface."""
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


# Command groups register below, one block per area (data, train/evaluate, reports, cohort,
# explain, service, bench). Keep each block thin: parse, call, print.


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 user error, 1 unexpected failure)."""
    try:
        app(args=argv, prog_name="radlens", standalone_mode=True)
    except SystemExit as exc:  # typer's own exit: help, usage errors (2), typer.Exit(code)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except RadlensError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    return 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
