"""The self-contained report.html of a segmentation run (figures inlined as data URIs)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SEG_SECTION_END",
    "SEG_SECTION_START",
    "segmentation_html",
    "segmentation_section",
]

#: markers around the report's body, so another report can embed it (`segmentation_section`)
SEG_SECTION_START = "<!-- radlens:segmentation -->"
SEG_SECTION_END = "<!-- /radlens:segmentation -->"

_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
    "figure{display:inline-block;margin:.5em}.note{color:#555;font-size:.9em}"
)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
        f"<figcaption class=note>{html.escape(caption)}</figcaption></figure>"
    )


def _summary_table(summary: pd.DataFrame) -> str:
    head = "<tr><th>finding</th><th>metric</th><th>estimate</th><th>95% CI</th><th>cases</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(str(r.finding))}</td><td>{r.metric}</td><td>{_num(r.estimate)}</td>"
        f"<td>{_num(r.low)} – {_num(r.high)}</td><td>{r.n_cases}</td></tr>"
        for r in summary.itertuples()
    )
    return f"<table>{head}{body}</table>"


def _froc_table(froc: dict[str, Any]) -> str:
    rates = ["1/8", "1/4", "1/2", "1", "2", "4", "8"]
    head = "<tr><th>finding</th>" + "".join(f"<th>{r}</th>" for r in rates)
    head += "<th>score</th><th>95% CI</th><th>lesions</th></tr>"
    rows = []
    for finding, entry in froc.items():
        if "note" in entry:
            rows.append(f"<tr><td>{html.escape(finding)}</td><td colspan=10>"
                        f"{html.escape(entry['note'])}</td></tr>")  # fmt: skip
            continue
        ci = entry.get("score_ci", [None, None])
        cells = "".join(f"<td>{_num(v)}</td>" for v in entry["sensitivities"])
        rows.append(
            f"<tr><td>{html.escape(finding)}</td>{cells}<td>{_num(entry['score'])}</td>"
            f"<td>{_num(ci[0])} – {_num(ci[1])}</td><td>{entry['n_lesions']}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def segmentation_html(
    evaluation: dict[str, Any],
    summary: pd.DataFrame,
    froc_pngs: Sequence[tuple[str, bytes]],
    overlays: Sequence[tuple[str, bytes]],
) -> str:
    """report.html: what was measured, per-finding metrics with CIs, FROC, overlays."""
    e = evaluation
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>radlens segmentation "
        f"report</title><style>{_STYLE}</style></head><body>",
        f'{SEG_SECTION_START}<section id="segmentation">',
        f"<h1>Segmentation: {html.escape(str(e['model']))}</h1>",
        f"<p>{html.escape(e['measured_on'])}: {e['n_studies']} studies, {e['n_patients']} "
        f"patients; patch {e['patch']}; mask threshold {e['mask_threshold']}; CIs: patient "
        f"bootstrap, {e['n_bootstrap']} replicates.</p>",
        "<h2>Per-finding masks and lesions</h2>",
        "<p class=note>Dice and surface Dice (2 mm) are means over studies; HD95 the median over "
        "studies where both masks are non-empty (hd95_inf_fraction: the share where one is empty);"
        " lesion sensitivity: truth components touched by the prediction; false positives: "
        "predicted components touching no lesion, per scan.</p>",
        _summary_table(summary),
        "<h2>FROC (LUNA16 rule)</h2>",
        f"<p class=note>Candidates: components of the probability map at >= "
        f"{e['candidate_threshold']}, scored by their maximum; sensitivity at 1/8 ... 8 false "
        "positives per scan and their mean (the competition score).</p>",
        _froc_table(e["froc"]),
        "".join(_img(png, f"FROC {name}") for name, png in froc_pngs),
        "<h2>Overlays</h2>",
        "".join(_img(png, title) for title, png in overlays) or "<p>no truth lesions</p>",
        f"</section>{SEG_SECTION_END}",
        "</body></html>",
    ]
    return "\n".join(parts)


def segmentation_section(page: str) -> str:
    """The part of a `segmentation_html` page between `SEG_SECTION_START` and `SEG_SECTION_END`
    (markers included), to embed in another report ("" when the page has none)."""
    if SEG_SECTION_START not in page or SEG_SECTION_END not in page:
        return ""
    return page[page.index(SEG_SECTION_START) : page.index(SEG_SECTION_END) + len(SEG_SECTION_END)]
