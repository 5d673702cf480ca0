"""Report tables in, label tables out: long findings table, the label matrix, CSV reading.

Long table: one row per finding (report_id, abnormality, location, status, section, sentence,
span_start, span_end, cues). Label matrix (`label_matrix`, the one findings -> labels policy): one
row per report, one float32 column per label name ("abnormality" or "abnormality@location"):
1 present, 0 absent or not mentioned, NaN uncertain (``uncertain="keep"``: unknown, masked in
training and metrics, never turned into 0); "positive" makes uncertain 1, "negative" 0. Per cell
the most certain status wins (present > uncertain > absent). Findings in indication / history /
technique / comparison sections do not count. The CLI's wide matrix (`findings_to_wide`) has a
column for every label of the vocabulary; a CT cohort's labels (`cohort_labels`) have the chosen
abnormalities and their frequently reported locations.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radlens.core import suggest
from radlens.errors import ReportError
from radlens.reports.labeler import CHUNKS_PER_WORKER, Finding, check_workers, label_many
from radlens.reports.sections import NON_REPORTING
from radlens.reports.vocabulary import LOCATION_SEP, Vocabulary, load_vocabulary

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
            hint = suggest(col, df.columns)
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
    cols += [
        f"{a.id}{LOCATION_SEP}{loc}" for a in vocab.abnormalities.values() for loc in a.locations
    ]
    return cols


#: status rank: the most certain status of a cell wins
_RANK = {"absent": 0, "uncertain": 1, "present": 2}
_VALUE = {
    "keep": {"present": 1.0, "uncertain": np.nan, "absent": 0.0},
    "positive": {"present": 1.0, "uncertain": 1.0, "absent": 0.0},
    "negative": {"present": 1.0, "uncertain": 0.0, "absent": 0.0},
}


def check_uncertain(uncertain: str, what: str = "uncertain policy") -> str:
    """`uncertain` when it is one of `UNCERTAIN_POLICIES`, else ReportError naming `what`."""
    if uncertain not in UNCERTAIN_POLICIES:
        raise ReportError(f"{what} {uncertain!r} [expected one of {UNCERTAIN_POLICIES}]")
    return uncertain


def reporting(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that can set a label: those outside the non-reporting sections."""
    return [f for f in findings if f.section not in NON_REPORTING]


def label_matrix(
    findings: Sequence[Sequence[Finding]],
    columns: Sequence[str],
    uncertain: str = "keep",
    *,
    unlocated: str = "absent",
) -> np.ndarray:
    """(reports, columns) float32 label matrix from the labeler's findings (module docstring).

    A column is an abnormality id or "abnormality@location"; findings naming no column are
    ignored. `unlocated`: "absent" (default) leaves the location columns of an abnormality that a
    report calls present or uncertain without placing it anywhere at 0 (they say only where it
    was found); "unknown" makes them NaN (where it is, is unknown).
    """
    value = _VALUE[check_uncertain(uncertain)]
    if unlocated not in ("absent", "unknown"):
        raise ReportError(f"unlocated {unlocated!r} [expected 'absent' or 'unknown']")
    index = {c: i for i, c in enumerate(columns)}
    located: dict[str, list[int]] = {}
    for c, name in enumerate(columns):
        if LOCATION_SEP in name:
            located.setdefault(name.split(LOCATION_SEP, 1)[0], []).append(c)
    rank = np.full((len(findings), len(columns)), -1, dtype=np.int8)
    for r, fs in enumerate(findings):
        mine = reporting(fs)
        for f in mine:
            k = _RANK[f.status]
            names = (f.abnormality, f"{f.abnormality}{LOCATION_SEP}{f.location}")
            for name in names if f.location else names[:1]:
                c = index.get(name)
                if c is not None and k > rank[r, c]:
                    rank[r, c] = k
        if unlocated == "unknown":
            for abn in _unlocated(mine) & located.keys():
                rank[r, located[abn]] = _RANK["uncertain"]
    out = np.zeros(rank.shape, dtype=np.float32)
    out[rank == _RANK["present"]] = value["present"]
    out[rank == _RANK["uncertain"]] = value["uncertain"]
    return out


def _unlocated(findings: Sequence[Finding]) -> set[str]:
    """Abnormalities reported present or uncertain without a location, and present nowhere."""
    placed = {f.abnormality for f in findings if f.status == "present" and f.location}
    return {
        f.abnormality
        for f in findings
        if f.status != "absent" and f.location is None and f.abnormality not in placed
    }


def findings_to_wide(
    ids: Sequence[str],
    findings: Sequence[Sequence[Finding]],
    vocab: Vocabulary,
    uncertain: str = "keep",
) -> pd.DataFrame:
    """Report x label matrix (float32, `label_matrix`) of every vocabulary label, by report id."""
    cols = wide_columns(vocab)
    mat = label_matrix(findings, cols, uncertain)
    return pd.DataFrame(mat, index=pd.Index(list(ids), name="report_id"), columns=cols)


def cohort_labels(
    findings: Sequence[Sequence[Finding]],
    *,
    abnormalities: Sequence[str],
    train_rows: np.ndarray | None = None,
    min_location_positives: int = 5,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Label names and the (N, L) float32 matrix (1 / 0 / NaN) of a CT cohort's reports.

    `label_matrix` with uncertain kept as NaN and unlocated findings making their location labels
    unknown. Columns: `abnormalities` (in that order), then each "abnormality@location" the
    reports place a present or uncertain finding at, with at least `min_location_positives`
    positives among `train_rows` (all rows if None).
    """
    rows = np.arange(len(findings)) if train_rows is None else np.asarray(train_rows)
    wanted = set(abnormalities)
    places = {
        (f.abnormality, f.location)
        for fs in findings
        for f in reporting(fs)
        if f.location and f.status != "absent" and f.abnormality in wanted
    }
    candidates = [
        f"{abn}{LOCATION_SEP}{loc}"
        for abn in abnormalities
        for loc in sorted(loc for a, loc in places if a == abn)
    ]
    columns = [*abnormalities, *candidates]
    matrix = label_matrix(findings, columns, "keep", unlocated="unknown")
    keep = [
        c
        for c in range(len(columns))
        if c < len(abnormalities) or np.sum(matrix[rows, c] == 1) >= min_location_positives
    ]
    return tuple(columns[c] for c in keep), matrix[:, keep]


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


def _frames_chunk(args: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids, texts, source, uncertain = args
    findings = label_many(texts, vocab=source)
    return findings_to_long(ids, findings), findings_to_wide(
        ids, findings, load_vocabulary(source), uncertain
    )


def label_frames(
    ids: Sequence[str],
    texts: Sequence[str],
    vocabulary: Vocabulary,
    uncertain: str = "keep",
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long table, wide matrix) of the reports, labelled in `workers` processes: each labels a
    piece and sends back its two tables (columns pickle far faster than Finding objects), which
    are joined in order: the tables of one process."""
    check_workers(workers)
    source = str(vocabulary.source)
    n = min(len(texts), workers * CHUNKS_PER_WORKER) if workers > 1 else 1
    if n <= 1:
        return _frames_chunk((list(ids), list(texts), source, uncertain))
    bounds = [len(texts) * i // n for i in range(n + 1)]
    chunks = [
        (list(ids[a:b]), list(texts[a:b]), source, uncertain) for a, b in itertools.pairwise(bounds)
    ]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(_frames_chunk, chunks))
    return pd.concat([p[0] for p in parts], ignore_index=True), pd.concat([p[1] for p in parts])


def label_table(
    reports: str | Path,
    *,
    id_column: str,
    text_column: str,
    vocab: str | Path = "chest_ct",
    out: str | Path = "labels.parquet",
    uncertain: str = "keep",
    workers: int = 1,
) -> LabelSummary:
    """Label every report of a CSV; write the long table to `out` and the wide matrix beside it.
    `workers` > 1 labels in that many processes (the same tables, in the same order)."""
    check_uncertain(uncertain, "--uncertain")
    check_workers(workers)
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise ReportError(f"output {out}: unknown format [expected .parquet or .csv]")
    vocabulary = load_vocabulary(vocab)
    ids, texts = read_reports(reports, id_column, text_column)
    long_df, wide = label_frames(ids, texts, vocabulary, uncertain, workers)
    wide = wide.reset_index()
    out.parent.mkdir(parents=True, exist_ok=True)
    wide_out = wide_path_for(out)
    if out.suffix == ".csv":
        long_df.to_csv(out, index=False)
        wide.to_csv(wide_out, index=False, float_format="%g")  # 1 / 0, NaN empty
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
