"""Where the CLI prints: tables on stdout, one-line errors on stderr."""

from __future__ import annotations

from rich.console import Console

__all__ = ["err_console", "table_console"]

err_console = Console(stderr=True, soft_wrap=True)


def table_console() -> Console:
    """Terminal width on a terminal; wide (no cut cells) when piped or captured."""
    console = Console()
    return console if console.is_terminal else Console(width=200)
