"""Terminal rendering of an `EvaluationResult`: the per-label table with DeLong CIs."""

from __future__ import annotations

import math

from rich.table import Table

from radlens.evaluation.evaluate import EvaluationResult


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.{digits}f}"


def result_table(result: EvaluationResult) -> Table:
    """One row per label: where measured, prevalence, AUROC [95% DeLong CI], AUPRC, sens/spec."""
    s = result.summary
    title = (
        f"{result.split}: {s['n_patients']} patients, {s['n_images']} images, site {s['site']}; "
        f"macro AUROC {_fmt(s.get('macro_auroc'))}, operating point {result.operating_point} "
        f"(thresholds from {result.threshold_from})"
    )
    table = Table(title=title, title_justify="left")
    for name in ("label", "n+/n-", "prev.", "AUROC [95% CI]", "AUPRC", "sens", "spec", "note"):
        table.add_column(name, justify="left" if name in ("label", "note") else "right")
    for row in result.table.to_dict(orient="records"):
        auroc = _fmt(row["auroc"])
        if not math.isnan(row["auroc_low"]):
            auroc += f" [{_fmt(row['auroc_low'])}, {_fmt(row['auroc_high'])}]"
        table.add_row(
            str(row["label"]),
            f"{int(row['n_positive'])}/{int(row['n_negative'])}",
            _fmt(row["prevalence"], 2),
            auroc,
            _fmt(row["auprc"]),
            _fmt(row["sensitivity"], 2),
            _fmt(row["specificity"], 2),
            str(row["note"]),
        )
    return table
