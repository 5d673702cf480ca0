"""The `radlens` command line: each command parses its flags and calls the typed API."""

from radlens.cli.root import app, entry, main

__all__ = ["app", "entry", "main"]
