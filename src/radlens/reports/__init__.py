"""Reports to labels: vocabularies, the rule-based labeler (+ compiled kernel), label tables
(NaN = uncertain), label evaluation and noise, the draft-report writer, the urgency ranking."""

from radlens.reports.label_eval import evaluate_paths
from radlens.reports.label_noise import LabelNoise, measure_label_noise
from radlens.reports.labeler import Finding, explain, label, label_many
from radlens.reports.tables import cohort_labels, label_table, reporting
from radlens.reports.triage import (
    NO_FINDING,
    NO_FINDING_RANK,
    URGENCY_LEVELS,
    URGENCY_RANK,
    ScoredFinding,
    Triage,
    sort_key,
    triage_findings,
)
from radlens.reports.vocabulary import LOCATION_SEP, load_vocabulary
from radlens.reports.writer import write_draft

__all__ = [
    "LOCATION_SEP",
    "NO_FINDING",
    "NO_FINDING_RANK",
    "URGENCY_LEVELS",
    "URGENCY_RANK",
    "Finding",
    "LabelNoise",
    "ScoredFinding",
    "Triage",
    "cohort_labels",
    "evaluate_paths",
    "explain",
    "label",
    "label_many",
    "label_table",
    "load_vocabulary",
    "measure_label_noise",
    "reporting",
    "sort_key",
    "triage_findings",
    "write_draft",
]
