"""The CT demo's outcome step (issue 15): a survival model on the demo's synthetic follow-up.

A Cox head over the demo classifier's frozen outputs plus age, sex and site
(`radlens.evaluation.DEMO_SURVIVAL`), scored on the test split beside the covariates-only model
and the true risk (the ceiling a model can reach on these synthetic outcomes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from radlens.demos.ct_setup import quiet_loggers
from radlens.errors import RadlensError
from radlens.evaluation import survival_demo

__all__ = ["outcome_text", "survival_step"]

_QUIET = (
    "radlens.training.survival",
    "radlens.training.init",
    "radlens.data.ct_volumes",
    "radlens.data.ct_cohort",
    "lightning_fabric",
)


def _ci(entry: dict[str, float] | None) -> str:
    if not entry:
        return "n/a"
    low, high = entry.get("low"), entry.get("high")
    band = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{entry['estimate']:.3f}{band}"


def outcome_text(figures: dict[str, Any]) -> str:
    """One console line: the model's C-index with CI beside covariates only and the true risk."""
    return (
        f"survival (synthetic outcomes, {figures['n_studies']} test studies, "
        f"{figures['n_events']} events): C-index {_ci(figures['c_index'])}; covariates only "
        f"{_ci(figures['covariates_only'])}; true risk (ceiling) {_ci(figures['true_risk'])}"
    )


def survival_step(run_dir: Path, out: Path, console: Console, n_bootstrap: int = 200) -> dict:
    """Train and evaluate the demo's survival model into OUT/survival; print and return it (a
    cohort too small for a C-index, e.g. no test events, is skipped with the reason)."""
    try:
        with quiet_loggers(*_QUIET):  # per-epoch and --init lines: the result line says it all
            figures = survival_demo(run_dir, out / "survival", n_bootstrap=n_bootstrap)
    except RadlensError as exc:
        console.print(f"survival skipped: {exc}", markup=False, highlight=False)
        return {"skipped": str(exc)}
    console.print(outcome_text(figures))
    return figures
