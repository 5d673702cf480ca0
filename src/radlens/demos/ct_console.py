"""What `radlens demo` prints: the labeler's agreement with the truth, the splits, test AUROCs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from radlens.data import CtCohort
from radlens.phantom import size_summary_lines

__all__ = ["auroc_table", "noise_table", "print_cohort", "triage_text"]


def noise_table(cohort: CtCohort) -> Table:
    """Precision / recall / F1 of the report labels against the true findings."""
    table = Table(title="report labeler vs true findings (label noise)")
    for col in ("abnormality", "precision", "recall", "F1", "uncertain"):
        table.add_column(col, justify="left" if col == "abnormality" else "right")
    for r in cohort.noise.table.itertuples() if cohort.noise else []:
        table.add_row(
            r.abnormality,
            f"{r.precision:.3f}",
            f"{r.recall:.3f}",
            f"{r.f1:.3f}",
            str(r.n_uncertain),
        )
    return table


def auroc_table(rows: pd.DataFrame, truth_auc: dict[str, float]) -> Table:
    """Test AUROC per abnormality with its DeLong CI, and against the true findings."""
    table = Table(title="test AUROC per abnormality (95% DeLong CI; labels from reports)")
    for col in ("abnormality", "AUROC", "95% CI", "vs truth", "pos", "neg"):
        table.add_column(col, justify="left" if col == "abnormality" else "right")
    for r in rows.itertuples():
        table.add_row(
            r.label,
            f"{r.auroc:.3f}",
            f"{r.auroc_low:.3f}-{r.auroc_high:.3f}",
            f"{truth_auc.get(r.label, float('nan')):.3f}",
            str(int(r.n_positive)),
            str(int(r.n_negative)),
        )
    return table


def print_cohort(console: Console, cohort: CtCohort) -> None:
    """The labeler's agreement with the true findings and the patient-level splits."""
    ds = cohort.dataset
    console.print(noise_table(cohort))
    if cohort.noise:
        console.print(
            f"labeler micro F1 {cohort.noise.micro_f1:.3f}, macro F1 "
            f"{cohort.noise.macro_f1:.3f} (abnormality@location micro F1 "
            f"{cohort.noise.location_micro_f1:.3f})"
        )
    console.print(
        "splits by patient: "
        + ", ".join(
            f"{s} {ds.size(s)} studies / {len(set(ds.patient_ids[s]))} patients" for s in ds.splits
        )
        + f"; {len(ds.label_names)} outputs (12 abnormalities + located ones)"
    )


def lesion_sizes(cohort_dir: Path) -> dict:
    """The cohort's focal-lesion size distribution (cohort.json "lesion_sizes"; {} if none)."""
    manifest = json.loads((Path(cohort_dir) / "cohort.json").read_text(encoding="utf-8"))
    return manifest.get("lesion_sizes") or {}


def print_lesion_sizes(console: Console, sizes: dict) -> None:
    """One line per focal finding: diameter percentiles and counts per size band (mm)."""
    for line in size_summary_lines(sizes):
        console.print(f"lesion sizes (measured on the masks), {line}", highlight=False)


def triage_text(top: pd.DataFrame, width: int) -> str:
    """The triage list's head as fixed-width left-aligned text within `width` columns (at least
    60): rank, urgency, top score, then the findings folded onto indented lines at "; ", so it
    reads the same in a narrow terminal and in a log file (the full list is RUN/triage.csv)."""
    head = f"{'rank':>4}  {'urgency':<8}  {'score':>6}  "
    room = max(60, int(width)) - len(head)
    lines = [head + "findings above threshold"]
    for r in top.itertuples():
        # fold between findings: the spaces inside one finding do not break
        text = "; ".join(f.replace(" ", "\u00a0") for f in str(r.findings).split("; "))
        parts = textwrap.wrap(text, room, break_on_hyphens=False) or [""]
        parts = [p.replace("\u00a0", " ") for p in parts]
        lines.append(f"{r.rank:>4}  {r.urgency:<8}  {float(r.top_score):>6.4f}  {parts[0]}")
        lines += [" " * len(head) + p for p in parts[1:]]
    return "\n".join(lines)
