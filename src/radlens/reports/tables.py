"""Report tables in, label tables out: long findings table, wide label matrix, CSV reading.

Long table: one row per finding (report_id, abnormality, location, status, section, sentence,
span_start, span_end, cues). Wide matrix: one row per report, one int8 column per abnormality and
per ``abnormality@location`` allowed by the vocabulary: 1 present, 0 absent or not mentioned,
-1 uncertain (``uncertain="keep"``; "positive" turns it into 1, "negative" into 0). Findings in
indication / history / technique / comparison sections do not enter the wide matrix.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radlens.errors import ReportError
from radlens.reports.labeler import Finding, label_many
from radlens.reports.sections import NON_REPORTING
from radlens.reports.vocabulary import Vocabulary, load_vocabulary

log = logging.getLogger(__name__)
UNCERTAIN_POLICIES = ("keep", "positive", "negative")
LONG_COLUMNS = [
    "report_id", "abnormality", "location", "status", "section", "sentence",
    "span_start", "span_end", "cues",
]  # fmt: skip


def read_reports(path: str | Path, id_column: str, text_column: str) -> tuple[list[str], list[str]]:
    """Read report ids and texts from a UTF-8 CSV (RFC 4180 quoting).

    Errors (ReportError): file missing, bytes that are not UTF-8 (offset given), a missing column
    (with a did-you-mean), duplicate report ids (count and first duplicate row). Empty / missing
    texts are kept as "" and give no findings. NUL characters are read as spaces by the labeler.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"report table {path}: cannot read ({exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1]
        raise ReportError(
            f"report table {path}: byte {exc.start} is not UTF-8 ({bad!r})"
            " [expected a UTF-8 CSV; re-encode it, e.g. iconv -f latin1 -t utf-8]"
        ) from exc
    csv.field_size_limit(1 << 30)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, engine="python")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise ReportError(f"report table {path}: not a readable CSV ({exc})") from exc
    for col, what in ((id_column, "--id-column"), (text_column, "--text-column")):
        if col not in df.columns:
            import difflib

            by_lower = {str(c).lower(): str(c) for c in df.columns}
            close = difflib.get_close_matches(col.lower(), list(by_lower), n=1)
            hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
            raise ReportError(
                f"report table {path}: no column {col!r} ({what}) [columns: "
                f"{list(df.columns)[:20]}]{hint}"
            )
    ids = df[id_column].astype(str)
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise ReportError(
            f"report table {path}: {int(ids.duplicated().sum())} duplicate value(s) in id column "
            f"{id_column!r} (first at line {first}) [expected one row per report]"
        )
    return ids.tolist(), df[text_column].astype(str).tolist()


def findings_to_long(ids: Sequence[str], findings: Sequence[Sequence[Finding]]) -> pd.DataFrame:
    """One row per finding."""
    rows = [
        (rid, f.abnormality, f.location, f.status, f.section, f.sentence, f.span[0], f.span[1],
         "; ".join(f.cues))
        for rid, fs in zip(ids, findings, strict=True)
        for f in fs
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=LONG_COLUMNS)
    df["span_start"] = df["span_start"].astype("int64")
    df["span_end"] = df["span_end"].astype("int64")
    return df


def wide_columns(vocab: Vocabulary) -> list[str]:
    """Column names of the wide matrix: each abnormality, then each abnormality@location."""
    cols = list(vocab.abnormalities)
    cols += [f"{a.id}@{loc}" for a in vocab.abnormalities.values() for loc in a.locations]
    return cols


def findings_to_wide(
    ids: Sequence[str],
    findings: Sequence[Sequence[Finding]],
    vocab: Vocabulary,
    uncertain: str = "keep",
) -> pd.DataFrame:
    """Report x label matrix (int8), indexed by report id; see the module docstring."""
    if uncertain not in UNCERTAIN_POLICIES:
        raise ReportError(f"uncertain policy {uncertain!r} [expected one of {UNCERTAIN_POLICIES}]")
    cols = wide_columns(vocab)
    index = {c: i for i, c in enumerate(cols)}
    unc = {"keep": -1, "positive": 1, "negative": 0}[uncertain]
    value = {"present": 1, "uncertain": unc, "absent": 0}
    rank = {1: 2, -1: 1, 0: 0}
    mat = np.zeros((len(ids), len(cols)), dtype=np.int8)
    for r, fs in enumerate(findings):
        for f in fs:
            if f.section in NON_REPORTING:
                continue
            v = value[f.status]
            for name in (f.abnormality, f"{f.abnormality}@{f.location}" if f.location else None):
                c = index.get(name) if name else None
                if c is not None and rank[v] > rank[int(mat[r, c])]:
                    mat[r, c] = v
    return pd.DataFrame(mat, index=pd.Index(list(ids), name="report_id"), columns=cols)


@dataclass(frozen=True)
class LabelSummary:
    """What `label_table` wrote."""

    n_reports: int
    n_findings: int
    n_present: int
    long_path: Path
    wide_path: Path


def wide_path_for(out: Path) -> Path:
    """The wide matrix sits beside the long table: labels.parquet -> labels.wide.parquet."""
    return out.with_name(f"{out.stem}.wide{out.suffix or '.parquet'}")


def label_table(
    reports: str | Path,
    *,
    id_column: str,
    text_column: str,
    vocab: str | Path = "chest_ct",
    out: str | Path = "labels.parquet",
    uncertain: str = "keep",
) -> LabelSummary:
    """Label every report of a CSV; write the long table to `out` and the wide matrix beside it."""
    if uncertain not in UNCERTAIN_POLICIES:
        raise ReportError(f"--uncertain {uncertain!r} [expected one of {UNCERTAIN_POLICIES}]")
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise ReportError(f"output {out}: unknown format [expected .parquet or .csv]")
    vocabulary = load_vocabulary(vocab)
    ids, texts = read_reports(reports, id_column, text_column)
    findings = label_many(texts, vocab=vocabulary.source)
    long_df = findings_to_long(ids, findings)
    wide = findings_to_wide(ids, findings, vocabulary, uncertain).reset_index()
    out.parent.mkdir(parents=True, exist_ok=True)
    wide_out = wide_path_for(out)
    if out.suffix == ".csv":
        long_df.to_csv(out, index=False)
        wide.to_csv(wide_out, index=False)
    else:
        long_df.to_parquet(out, index=False)
        wide.to_parquet(wide_out, index=False)
    log.info("labelled %d reports: %d findings", len(ids), len(long_df))
    return LabelSummary(
        n_reports=len(ids),
        n_findings=len(long_df),
        n_present=int((long_df["status"] == "present").sum()),
        long_path=out,
        wide_path=wide_out,
    )
