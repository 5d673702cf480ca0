"""What the CT demo's segmentation step prints and adds to report.html: the segmentation figures
and which of the classifier, the lesion candidates and their stack wins per focal finding."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.table import Table

__all__ = ["WINS", "demo_html", "seg_table", "wins_table"]

#: the study scores compared per focal finding (`radlens.evaluation.focal_auroc` columns)
WINS = ("classifier", "segmentation", "stack")


def _float(value: Any) -> float:
    """A figure as float; None (JSON's NaN) as NaN."""
    return float("nan") if value is None else float(value)


def _ci(entry: Mapping[str, Any] | None, key: str = "estimate") -> str:
    if not entry or entry.get(key) is None:
        return "n/a"
    low, high = entry.get("low"), entry.get("high")
    band = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return f"{entry[key]:.2f}{band}"


def seg_table(figures: Mapping[str, Any]) -> Table:
    """Per finding: Dice over lesion-present test studies, lesion sensitivity, FPs per scan,
    FROC competition score (95% patient-bootstrap CIs)."""
    table = Table(title="segmentation on the test split (95% patient-bootstrap CI)")
    for col in ("finding", "Dice", "studies", "lesion sens.", "FPs/scan", "FROC score", "lesions"):
        table.add_column(col, justify="left" if col == "finding" else "right")
    dice, froc = figures["dice_lesion_present"], figures["froc"]
    for f in figures["lesion_sensitivity"]:
        d, fr = dice.get(f), froc.get(f, {})
        score = fr.get("score")
        ci = fr.get("score_ci") or [None, None]
        band = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci[0] is not None else ""
        table.add_row(
            f,
            f"{d['mean']:.2f}" if d else "n/a",
            str(d["n_studies"]) if d else "0",
            _ci(figures["lesion_sensitivity"].get(f)),
            _ci(figures["false_positives_per_scan"].get(f)),
            f"{score:.2f}{band}" if score is not None else "–",
            str(fr.get("n_lesions", "–")),
        )
    return table


def wins_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Test AUROC per focal finding vs the true findings: classifier, candidates, stack."""
    table = Table(title="focal findings: test AUROC vs true findings (which wins)")
    names = WINS
    for col in ("finding", "pos/n", "classifier", "seg candidates", "stack (val-fit)", "best"):
        table.add_column(col, justify="left" if col in ("finding", "best") else "right")
    for r in rows:
        values = [_float(r.get(n)) for n in names]
        best = "–"
        if not np.isnan(values).all():
            top = [n for n, v in zip(names, values, strict=True) if v == np.nanmax(values)]
            best = top[0] if len(top) == 1 else "tie"
        cells = [f"{v:.3f}" if np.isfinite(v) else "n/a" for v in values]
        table.add_row(r["finding"], f"{r['n_positive']}/{r['n']}", *cells, best)
    return table


def demo_html(figures: Mapping[str, Any]) -> str:
    """The demo's lines above the segmentation report: budget, lesion-present Dice, which wins."""
    b = figures["budget"]
    head = (
        f"<h2>Segmentation and detection (demo budget)</h2><p>{html.escape(b['model'])} trained "
        f"on {b['training_studies']} training studies for {b['epochs']} epochs "
        f"({b['train_seconds']:.0f} s on the CPU): a small budget, not the full setting. "
        f"Measured on the {html.escape(figures['measured_on'])}.</p>"
    )
    dice = "".join(
        f"<tr><td>{html.escape(f)}</td><td>{d['mean']:.3f}</td><td>{d['median']:.3f}</td>"
        f"<td>{d['n_studies']}</td></tr>"
        for f, d in figures["dice_lesion_present"].items()
    )
    dice_table = (
        "<table><tr><th>finding</th><th>Dice (mean)</th><th>Dice (median)</th>"
        f"<th>test studies with the finding</th></tr>{dice}</table>"
    )
    cells = "".join(
        f"<tr><td>{html.escape(str(r['finding']))}</td><td>{r['n_positive']}/{r['n']}</td>"
        + "".join(f"<td>{_float(r.get(k)):.3f}</td>" for k in WINS)
        + "</tr>"
        for r in figures["focal_auroc"]
    )
    wins = (
        "<h3>Focal findings: which wins (test AUROC vs the true findings)</h3><table><tr>"
        "<th>finding</th><th>pos/n</th><th>classifier</th><th>lesion candidates</th>"
        f"<th>stack (fitted on val)</th></tr>{cells}</table>"
    )
    return head + dice_table + wins
