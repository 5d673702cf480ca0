"""Loading a run the service or a report was pointed at, with errors that name the option and
the folder: a missing folder, a run the loader refuses, a checkpoint whose tensors do not fit the
network this radlens builds for the run's config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from radlens.errors import ConfigError, ModelError

__all__ = ["load_named_run"]

T = TypeVar("T")


def load_named_run(loader: Callable[[Path], T], run_dir: Path, what: str, command: str) -> T:
    """`loader(run_dir)`; its failures as ModelErrors starting ``"{what} {run_dir}: "``;
    `command` (e.g. ``radlens pretrain image-text``) is the one that makes such a run."""
    if not run_dir.is_dir():
        raise ModelError(f"{what} {run_dir}: no such directory (a run of `{command}`)")
    try:
        return loader(run_dir)
    except (ModelError, ConfigError) as exc:
        raise ModelError(f"{what} {run_dir}: {exc}") from exc
    except RuntimeError as exc:  # the checkpoint's tensors do not fit the network built
        raise ModelError(
            f"{what} {run_dir}: its checkpoint does not fit the network this radlens builds for "
            f"the run's config ({str(exc).splitlines()[0]}); run `{command}` again"
        ) from exc
