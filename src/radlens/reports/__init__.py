"""Reports to labels: vocabularies, the rule-based labeler (+ compiled kernel), label tables
(NaN = uncertain), label evaluation and noise, the draft-report writer, the urgency ranking."""

from radlens.reports.kernel import split_sentences
from radlens.reports.label_eval import evaluate_paths
from radlens.reports.label_noise import LabelNoise, measure_label_noise
from radlens.reports.labeler import Finding, explain, label, label_many, label_parallel
from radlens.reports.scale import DaskLabelSummary, label_dask
from radlens.reports.sections import NON_REPORTING, find_sections
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
    urgency_of,
)
from radlens.reports.vocabulary import LOCATION_SEP, available_vocabularies, load_vocabulary
from radlens.reports.writer import write_draft

__all__ = [
    "LOCATION_SEP",
    "NON_REPORTING",
    "NO_FINDING",
    "NO_FINDING_RANK",
    "URGENCY_LEVELS",
    "URGENCY_RANK",
    "DaskLabelSummary",
    "Finding",
    "LabelNoise",
    "ScoredFinding",
    "Triage",
    "available_vocabularies",
    "cohort_labels",
    "evaluate_paths",
    "explain",
    "find_sections",
    "label",
    "label_dask",
    "label_many",
    "label_parallel",
    "label_table",
    "load_vocabulary",
    "measure_label_noise",
    "reporting",
    "sort_key",
    "split_sentences",
    "triage_findings",
    "urgency_of",
    "write_draft",
]
