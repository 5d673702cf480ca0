"""Rule-based report labeler: free text -> findings (abnormality x location x status + evidence).

One scan finds every term, location, side word and cue of the vocabulary (leftmost-longest,
word-bounded; each key carries its payload and a bit mask of its kinds); with the sentence cache
only unseen sentences are scanned, without it the whole report is scanned once and each sentence
takes its slice of the matches. The rest is small per-match logic with integer comparisons. It
all runs in `radlens.reports.kernel`, compiled with Cython when the build allows it (see
`radlens.reports.accel`; ``KERNEL`` says which one runs):

* status: the nearest cue before a term (forward / bidirectional) and the nearest cue after it
  (backward / bidirectional) inside the same scope unit (sentence or semicolon clause), not past a
  terminator ("but", "however", "which", "there is" ...) and within ``max_scope_words`` words.
  Negation (or "resolved") -> ``absent``; otherwise uncertainty -> ``uncertain``; else ``present``.
  Pseudo-cues ("no change") are matched too, so the shorter cue inside them never fires. A "?"
  after a term makes it uncertain. In a list, a cue right after a joiner and before a term is that
  term's own ("atelectasis, less likely pneumonia": only pneumonia is uncertain; an earlier item's
  cue does not reach it); "versus" / "vs" act on both terms of a differential.
* anchors ("heart size", "aortic diameter") give a finding only with a "normal" cue (absent) or an
  "abnormal" cue (present) nearby: "heart size is normal" -> cardiomegaly absent.
* locations: each location phrase attaches to the nearest term of its sentence that allows it and
  to the terms listed with it ("consolidation and atelectasis in the left lower lobe", "atelectasis
  versus pneumonia at the left base", "A, less likely B, at the right base"); side words
  resolve sided phrases ("lower lobes", "bilateral") and bare sides ("right pleural effusion").
* sections: terms in indication / history / technique / comparison never become ``present``
  (present there reads as ``uncertain``) and never set a label (`radlens.reports.tables`).
* exclusive abnormalities (``exclusive:`` in the vocabulary, e.g. chest_xr ``no_finding``, as in
  CheXpert): once a report's findings are final, such a finding becomes ``absent`` when another
  abnormality outside its ``except`` list (support devices) is present or uncertain in a
  reporting section; its cues then end with "overruled by <that abnormality>".
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from radlens.errors import ConfigError, ReportError
from radlens.reports.accel import COMPILED, KERNEL, kernel
from radlens.reports.matcher import Compiled, compiled_for
from radlens.reports.sections import NON_REPORTING, find_sections

__all__ = [
    "CACHE_SIZE",
    "CHUNKS_PER_WORKER",
    "COMPILED",
    "KERNEL",
    "MAX_CHARS",
    "STATUSES",
    "Finding",
    "LabelerCache",
    "cache_for",
    "check_workers",
    "explain",
    "kernel",
    "label",
    "label_many",
    "label_parallel",
    "label_rows",
    "tables",
]

STATUSES = ("present", "absent", "uncertain")
#: Longest report accepted (characters); longer text raises ReportError.
MAX_CHARS = 50_000_000
#: Memoised sentences per vocabulary before the cache is emptied.
CACHE_SIZE = 200_000


@dataclass(frozen=True)
class Finding:
    """One (abnormality, location) decision with its evidence in the original text."""

    abnormality: str
    location: str | None
    status: str
    section: str
    sentence: str
    span: tuple[int, int]
    cues: tuple[str, ...] = ()


def label(text: str, vocab: str | Path = "chest_ct") -> list[Finding]:
    """Label one report. Empty or white-space text gives no findings."""
    text = _check_text(text)
    return _to_findings(text, label_rows(text, compiled_for(str(vocab))))


def label_many(texts: Iterable[str], vocab: str | Path = "chest_ct") -> list[list[Finding]]:
    """Label many reports with one compiled vocabulary."""
    compiled = compiled_for(str(vocab))
    out = []
    for t in texts:
        t = _check_text(t)
        out.append(_to_findings(t, label_rows(t, compiled)))
    return out


#: pieces per worker process: small enough to balance long and short reports, large enough that
#: pickling findings back costs little
CHUNKS_PER_WORKER = 4


def check_workers(workers: int, what: str = "--workers") -> int:
    """`workers` when it is a whole number >= 1, else ConfigError naming `what`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{what} {workers!r}: expected a whole number of processes >= 1")
    return workers


def _label_chunk(args: tuple[list[str], str]) -> list[list[Finding]]:
    texts, vocab = args
    return label_many(texts, vocab=vocab)


def label_parallel(
    texts: list[str], vocab: str | Path = "chest_ct", workers: int = 1
) -> list[list[Finding]]:
    """`label_many` over `workers` processes; the same findings, in the order of `texts`.
    Sending Finding objects back costs about as much as labelling them: for tables use
    `radlens.reports.tables.label_frames` (what `radlens label --workers` runs)."""
    check_workers(workers)
    source = str(vocab)
    if workers == 1 or len(texts) < 2:
        return label_many(texts, vocab=source)
    n = min(len(texts), workers * CHUNKS_PER_WORKER)
    bounds = [len(texts) * i // n for i in range(n + 1)]
    chunks = [(texts[a:b], source) for a, b in itertools.pairwise(bounds)]
    out: list[list[Finding]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_label_chunk, chunks):
            out.extend(part)
    return out


def explain(text: str, vocab: str | Path = "chest_ct") -> list[str]:
    """One line per decision: status, abnormality @ location, cited term, cue words, sentence."""
    lines = []
    for f in label(text, vocab):
        where = f" @ {f.location}" if f.location else ""
        cues = ", ".join(repr(c) for c in f.cues) if f.cues else "no cue"
        term = text[f.span[0] : f.span[1]]
        lines.append(
            f"{f.status:<9} {f.abnormality}{where}: {term!r} at {f.span[0]}-{f.span[1]} "
            f"[{cues}; section {f.section}] in: {f.sentence}"
        )
    return lines


def _to_findings(text: str, rows: list[tuple]) -> list[Finding]:
    return [
        Finding(abn, loc, status, section, text[s0:s1], (a, b), cues)
        for abn, loc, status, section, s0, s1, a, b, cues in rows
    ]


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise ReportError(f"report text must be str, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ReportError(
            f"report text has {len(text):,} characters [expected at most {MAX_CHARS:,}]"
        )
    return text


@dataclass
class LabelerCache:
    """What the labeler keeps per compiled vocabulary: the kernel's tables (trie + per-key
    arrays, built once) and each seen sentence's rows (emptied when it reaches CACHE_SIZE)."""

    tables: object
    sentences: dict[str, list[tuple]] = field(default_factory=dict)
    #: exclusive abnormality id -> the ids that may co-occur with it (itself included)
    exclusive: dict[str, frozenset[str]] = field(default_factory=dict)


#: one cache per compiled vocabulary, dropped with it (a fresh `Compiled` starts empty)
_CACHES: weakref.WeakKeyDictionary[Compiled, LabelerCache] = weakref.WeakKeyDictionary()


def cache_for(compiled: Compiled) -> LabelerCache:
    """The labeler's cache of `compiled` (made on first use)."""
    cache = _CACHES.get(compiled)
    if cache is None:
        exclusive = {
            a.id: frozenset((a.id, *a.exclusive))
            for a in compiled.vocab.abnormalities.values()
            if a.exclusive is not None
        }
        cache = LabelerCache(kernel.Tables(compiled), exclusive=exclusive)
        _CACHES[compiled] = cache
    return cache


def tables(compiled: Compiled):
    """The kernel's tables (trie + per-key arrays) of a compiled vocabulary, built once."""
    return cache_for(compiled).tables


def label_rows(text: str, compiled: Compiled, *, cache: bool = True) -> list[tuple]:
    """Findings of one report as plain tuples (the fast path behind `label` and the CLI):
    (abnormality, location, status, section, sentence start, sentence end, span start, span end,
    cues).

    With ``cache`` (default) each sentence's decisions are memoised per vocabulary (reports repeat
    template sentences) and only unseen sentences are scanned. Without it the whole report is
    scanned once and each sentence takes its slice of the matches; both give the same rows.
    """
    if not text or text.isspace():
        return []
    state = cache_for(compiled)
    t = state.tables
    if not cache:
        return _overrule(kernel.report_rows(text, t), state.exclusive)
    sentences = kernel.split_sentences(text)
    memo = state.sentences
    memo_get = memo.get
    per_sentence = []
    for s0, s1 in sentences:
        sent = text[s0:s1]
        rows = memo_get(sent)
        if rows is None:
            rows = kernel.sentence_rows(sent, t)
            if len(memo) >= CACHE_SIZE:
                memo.clear()
            memo[sent] = rows
        per_sentence.append(rows)
    sections = find_sections(text) if ":" in text else None
    return _overrule(kernel.merge(sentences, per_sentence, sections), state.exclusive)


def _overrule(rows: list[tuple], exclusive: dict[str, frozenset[str]]) -> list[tuple]:
    """A report's final rows with each exclusive finding made absent when another abnormality
    (not in its except list) is present or uncertain in a reporting section."""
    if not exclusive or not any(r[0] in exclusive and r[2] != "absent" for r in rows):
        return rows
    reported = [r[0] for r in rows if r[2] != "absent" and r[3] not in NON_REPORTING]
    out = []
    for row in rows:
        allowed = exclusive.get(row[0])
        if allowed is not None and row[2] != "absent":
            other = next((a for a in reported if a not in allowed), None)
            if other is not None:
                row = (*row[:2], "absent", *row[3:8], (*row[8], f"overruled by {other}"))
        out.append(row)
    return out
