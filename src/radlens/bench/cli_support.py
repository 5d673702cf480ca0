"""Turn `radlens bench medmnist` options into a BenchSpec and run it."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from radlens.bench.medmnist_bench import BenchResult, run_bench
from radlens.bench.spec import make_spec
from radlens.data.medmnist import get_info
from radlens.errors import ConfigError


def parse_data_files(items: list[str] | None) -> dict[str, str]:
    """["pneumoniamnist=/x.npz", ...] -> {"pneumoniamnist": "/x.npz"} (names checked)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(
                f"--data-file {item!r}: expected NAME=PATH, e.g. pneumoniamnist=x.npz"
            )
        out[get_info(name.strip()).name] = path.strip()
    return out


def bench_medmnist(options: dict[str, Any], *, quiet: bool = False) -> BenchResult:
    values = dict(options)
    values["data_files"] = parse_data_files(values.pop("data_file", None))
    spec = make_spec(values)
    command = "radlens " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return run_bench(spec, progress=not quiet, command=command)
