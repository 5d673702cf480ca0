"""The self-contained report.html of a survival run, and its Kaplan-Meier plot by risk group."""

from __future__ import annotations

import base64
import html
from io import BytesIO
from typing import Any

__all__ = ["km_figure", "survival_html"]

_STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}.note{color:#555}"
)
_COLOURS = ("#2b8cbe", "#fdae61", "#d7191c", "#7b3294", "#008837")


def km_figure(groups: dict[str, Any]) -> bytes:
    """PNG: one Kaplan-Meier step curve per risk group (post-step, from S(0) = 1)."""
    from matplotlib.figure import Figure  # imported only when a figure is drawn

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot()
    for i, g in enumerate(groups["groups"]):
        if "km_time" in g:
            ax.step(
                g["km_time"],
                g["km_survival"],
                where="post",
                color=_COLOURS[i % len(_COLOURS)],
                label=f"{g['group']} risk (n={g['n']}, events {g['events']})",
            )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (units of the follow-up)")
    ax.set_ylabel("survival (Kaplan-Meier)")
    ax.set_title(f"Kaplan-Meier by predicted risk group ({groups['cut_on']})", fontsize=9)
    ax.legend(fontsize=8)
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _num(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("estimate") is None:
        return "<td>–</td><td>–</td>"
    lo, hi = entry.get("low"), entry.get("high")
    ci = "–" if lo is None or hi is None else f"{lo:.3f} – {hi:.3f}"
    return f"<td>{entry['estimate']:.3f}</td><td>{ci}</td>"


def _metric_rows(name: str, figures: dict[str, Any]) -> str:
    rows = [f"<tr><td>{html.escape(name)}</td><td>C-index</td>{_num(figures['c_index'])}</tr>"]
    for a in figures.get("time_auc", []):
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>AUC at t = {a['horizon']:g}</td>{_num(a)}</tr>"
        )
    if "mean_auc" in figures:
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>mean AUC</td>{_num(figures['mean_auc'])}</tr>"
        )
    return "".join(rows)


def _median(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def survival_html(evaluation: dict[str, Any], km_png: bytes) -> str:
    """report.html: what was measured, C-index / time-dependent AUC with CIs (model and
    baselines), the risk groups and their Kaplan-Meier plot."""
    e = evaluation
    body = _metric_rows("model", e)
    for name, figures in e.get("baselines", {}).items():
        body += _metric_rows(f"{name}: {figures['what']}", figures)
    diff = e.get("difference_vs_covariates")
    diff_text = (
        f"<p>C-index, model minus covariates only: {diff['estimate']:+.3f} "
        f"({diff['low']:+.3f} – {diff['high']:+.3f}, paired patient bootstrap).</p>"
        if diff
        else ""
    )
    groups = "".join(
        f"<tr><td>{g['group']}</td><td>{g['n']}</td><td>{g['events']}</td>"
        f"<td>{_median(g.get('median_survival'))}</td></tr>"
        for g in e["risk_groups"]["groups"]
    )
    data = base64.b64encode(km_png).decode("ascii")
    return "\n".join(
        [
            "<!doctype html><html><head><meta charset=utf-8><title>radlens survival report</title>"
            f"<style>{_STYLE}</style></head><body><h1>Survival: {e['split']} split</h1>",
            f"<p>{e['n_studies']} studies, {e['n_patients']} patients, {e['n_events']} events; "
            f"head {html.escape(str(e.get('head')))}; CIs: {html.escape(e['ci'])} "
            f"({e['n_bootstrap']} replicates).</p>",
            "<table><tr><th>risk score</th><th>metric</th><th>estimate</th><th>95% CI</th></tr>"
            f"{body}</table>{diff_text}",
            "<p class=note>C-index: Harrell's; AUC at t: cumulative/dynamic with inverse "
            "probability of censoring weights (scikit-survival's definition).</p>",
            f"<h2>Risk groups</h2><p class=note>Cut at {html.escape(e['risk_groups']['cut_on'])}."
            "</p><table><tr><th>group</th><th>studies</th><th>events</th><th>median survival"
            f"</th></tr>{groups}</table>",
            f'<img src="data:image/png;base64,{data}" alt="Kaplan-Meier by risk group">',
            "</body></html>",
        ]
    )
