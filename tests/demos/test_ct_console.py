"""What `radlens demo` prints: the triage list stays readable in a narrow console or a log."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from radlens.demos.ct_console import triage_text

LONG = (
    "pneumothorax (left pleura) 1.00; pericardial_effusion (pericardium) 0.94; lymphadenopathy "
    "(right hilum) 0.48; atelectasis (right lower lobe) 1.00; cardiomegaly (heart) 0.99; nodule "
    "(right lower lobe) 0.43"
)


def _top() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "urgency": ["critical", "urgent", "none"],
            "findings": [LONG, "mass (right upper lobe) 0.81", "no finding above threshold"],
            "top_score": [0.99621, 0.8, 0.1],
        }
    )


def _render(width: int) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False)
    console.print(triage_text(_top(), console.width), highlight=False, markup=False)
    return out.getvalue().splitlines()


def test_triage_list_at_100_columns_has_no_wrapped_or_mostly_blank_line():
    lines = _render(100)
    assert lines[0].split() == ["rank", "urgency", "score", "findings", "above", "threshold"]
    for line in lines:
        visible = line.rstrip()
        assert len(visible) <= 100
        assert visible.count(" ") <= len(visible) / 2, f"mostly blank: {line!r}"
    # left-aligned, fixed columns: rank, urgency, score, then the findings folded between
    # findings onto indented lines; nothing is lost
    assert lines[1].startswith("   1  critical  0.9962  pneumothorax (left pleura) 1.00;")
    indent = lines[1].index("pneumothorax")
    folded = [ln for ln in lines[2:] if ln.startswith(" " * indent) and ln.strip()]
    assert len(folded) >= 1
    body = " ".join(ln.strip() for ln in lines[1 : 2 + len(folded)])
    assert body.endswith(LONG)
    for finding in LONG.split("; "):
        assert any(finding in ln for ln in lines)  # no finding is split across lines
    assert lines[-1].startswith("   3  none      0.1000  no finding above threshold")


def test_triage_list_in_a_wide_log_folds_only_what_exceeds_it():
    lines = _render(200)  # the width `radlens demo` prints at into a pipe or log file
    assert max(len(ln.rstrip()) for ln in lines) <= 200
    assert len(lines) == 5  # header, the 214-character study on two lines, two short ones
    assert lines[3].startswith("   2  urgent    0.8000  mass (right upper lobe) 0.81")
