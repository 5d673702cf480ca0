"""Set-up helpers of the CT demo: a fresh output folder, quiet data loggers."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from radlens.errors import ConfigError

__all__ = ["prepare_out", "quiet_loggers"]


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Per-file INFO lines of the data modules would drown the progress bars during the demo."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def prepare_out(out: Path) -> None:
    """The demo starts fresh but only ever deletes an earlier demo folder."""
    if out.exists():
        if (
            not (out / "demo.json").is_file()
            and not (out / "run" / "config.yaml").is_file()
            and (any(out.iterdir()))
        ):
            raise ConfigError(f"--out {out} exists and is not a radlens demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
