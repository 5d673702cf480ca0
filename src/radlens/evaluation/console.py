"""Terminal rendering of an `EvaluationResult`: the per-label table with cluster-aware AUROC CIs,
the fraction of cases flagged beside the prevalence, and the threshold caveats."""

from __future__ import annotations

import math

from rich.table import Table

from radlens.evaluation.evaluate import EvaluationResult


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.{digits}f}"


def result_table(result: EvaluationResult) -> Table:
    """One row per label: n+/n-, prevalence beside the fraction flagged at the threshold, AUROC
    [95% CI] with its method (c: clustered DeLong over patients, i: image-level DeLong), AUPRC,
    sensitivity [Wilson CI], specificity, note (threshold caveats included)."""
    s = result.summary
    title = (
        f"{result.split}: {s['n_patients']} patients, {s['n_images']} images, site {s['site']}; "
        f"macro AUROC {_fmt(s.get('macro_auroc'))}, operating point {result.operating_point} "
        f"(thresholds from {result.threshold_from})"
    )
    table = Table(title=title, title_justify="left")
    columns = ("label", "n+/n-", "prev.", "flagged", "AUROC [95% CI]", "AUPRC", "sens [95% CI]")
    for name in (*columns, "spec", "note"):
        table.add_column(name, justify="left" if name in ("label", "note") else "right")
    for row in result.table.to_dict(orient="records"):
        auroc = _fmt(row["auroc"])
        if not math.isnan(row["auroc_low"]):
            mark = "c" if str(row.get("auroc_ci_method", "")).startswith("clustered") else "i"
            auroc += f" [{_fmt(row['auroc_low'])}, {_fmt(row['auroc_high'])}]{mark}"
        sens = _fmt(row["sensitivity"], 2)
        if not math.isnan(row.get("sensitivity_low", math.nan)):
            sens += f" [{_fmt(row['sensitivity_low'], 2)}, {_fmt(row['sensitivity_high'], 2)}]"
        table.add_row(
            str(row["label"]),
            f"{int(row['n_positive'])}/{int(row['n_negative'])}",
            _fmt(row["prevalence"], 2),
            _fmt(row.get("flagged"), 2),
            auroc,
            _fmt(row["auprc"]),
            sens,
            _fmt(row["specificity"], 2),
            str(row["note"]),
        )
    table.caption = (
        "AUROC CI: c = clustered DeLong (patients as clusters), i = image-level DeLong; flagged ="
        " fraction of cases at or above the threshold (compare with prev.)"
    )
    return table
