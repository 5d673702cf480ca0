"""After `radlens explain`: re-render the run's report.html so that its heatmap gallery shows the
new heatmaps without running `radlens evaluate` again (the CLI composes explain + evaluation).

The evaluation is redone through `radlens.evaluation.evaluate_run_dir` with the choices recorded
in RUN/evaluation.json: its split, its operating point (from the description it stores), a
per-site table when it has one (``--by site``); the bootstrap at its default. A run not
evaluated yet is left alone (`radlens evaluate` will include the heatmaps).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

__all__ = ["operating_point_spec", "refresh_report"]

log = logging.getLogger(__name__)

_DESCRIBED = (  # OperatingPoint.describe() -> the spec parse_operating_point reads
    (r"fixed threshold ([0-9.eE+-]+)", "fixed:{}"),
    (r"target sensitivity ([0-9.eE+-]+)", "sensitivity:{}"),
    (r"target PPV ([0-9.eE+-]+)", "ppv:{}"),
    (r"alerts budget: at most ([0-9.eE+-]+)%", "budget:{}"),
)


def operating_point_spec(described: object) -> str:
    """The ``--operating-point`` spec of an operating point as evaluation.json describes it."""
    text = str(described or "")
    for pattern, spec in _DESCRIBED:
        match = re.match(pattern, text)
        if match:
            value = float(match.group(1))
            return spec.format(value / 100 if spec.startswith("budget") else value)
    return "youden"


def refresh_report(run_dir: Path, heatmaps_dir: Path) -> Path | None:
    """Re-render RUN/report.html with the heatmaps of `heatmaps_dir`; None when the run has no
    val/test evaluation yet. Returns the report's path."""
    from radlens.core import EVALUATION, REPORT
    from radlens.errors import EvaluationError
    from radlens.evaluation import evaluate_run_dir

    path = run_dir / EVALUATION
    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    split = saved.get("split")
    if split not in ("val", "test"):
        return None
    options = {
        "split": split,
        "operating_point": operating_point_spec(saved.get("operating_point")),
    }
    by = "site" if saved.get("sites") else None
    try:
        evaluate_run_dir(run_dir, by=by, heatmaps_dir=heatmaps_dir, **options)
    except EvaluationError as exc:
        if by is None:
            raise
        log.warning("per-site table left out of the refreshed report (%s)", exc)
        evaluate_run_dir(run_dir, heatmaps_dir=heatmaps_dir, **options)
    return run_dir / REPORT
