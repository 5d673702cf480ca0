"""Rule-based report labeler: free text -> findings (abnormality x location x status + evidence).

One pass of a compiled Aho-Corasick automaton finds every term, location, side word and cue; the
rest is small per-match logic:

* status: the nearest cue before a term (forward / bidirectional) and the nearest cue after it
  (backward / bidirectional) inside the same scope unit (sentence or semicolon clause), not past a
  terminator ("but", "however", "which", "there is" ...) and within ``max_scope_words`` words.
  Negation (or "resolved") -> ``absent``; otherwise uncertainty -> ``uncertain``; else ``present``.
  Pseudo-cues ("no change") are matched too, so the shorter cue inside them never fires. A "?"
  after a term makes it uncertain.
* anchors ("heart size", "aortic diameter") give a finding only with a "normal" cue (absent) or an
  "abnormal" cue (present) nearby: "heart size is normal" -> cardiomegaly absent.
* locations: each location phrase attaches to the nearest term of its sentence that allows it and
  to the terms listed with it ("consolidation and atelectasis in the left lower lobe"); side words
  resolve sided phrases ("lower lobes", "bilateral") and bare sides ("right pleural effusion").
* sections: terms in indication / history / technique / comparison never become ``present``
  (present there reads as ``uncertain``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from radlens.errors import ReportError
from radlens.reports.locate import attach_locations
from radlens.reports.matcher import (
    ABN,
    ANCHOR,
    CUE,
    Compiled,
    compiled_for,
    normalize,
    scan,
)
from radlens.reports.sections import NON_REPORTING, find_sections, iter_sentences, section_at
from radlens.reports.vocabulary import Vocabulary, load_vocabulary  # noqa: F401  (re-exported)

STATUSES = ("present", "absent", "uncertain")
_RANK = {"absent": 0, "uncertain": 1, "present": 2}
#: Longest report accepted (characters); longer text raises ReportError.
MAX_CHARS = 50_000_000
#: An anchor ("heart size") takes a normal / abnormal cue at most this many words away.
ANCHOR_WORDS = 6
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


def label_rows(text: str, compiled: Compiled) -> list[tuple]:
    """Findings of one report as plain tuples (the fast path behind `label` and the CLI):
    (abnormality, location, status, section, sentence start, sentence end, span start, span end,
    cues). Sentence results are memoised per vocabulary (reports repeat template sentences).
    """
    if not text or text.isspace():
        return []
    cache = compiled.cache
    if ":" in text:
        sec_starts, sec_names = find_sections(text)
    else:
        sec_starts = None
    best: dict = {}
    best_get = best.get
    cache_get = cache.get
    for s0, s1 in iter_sentences(text):
        sent = text[s0:s1]
        rows = cache_get(sent)
        if rows is None:
            rows = _sentence_rows(sent, compiled)
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[sent] = rows
        if not rows:
            continue
        if sec_starts is None:  # no headers: every row is in "findings"
            for key, score, status, a, b, cues in rows:
                old = best_get(key)
                if old is None or score > old[0]:
                    best[key] = (score, status, "findings", s0, s1, a, b, cues)
            continue
        for key, score, status, a, b, cues in rows:
            section = section_at(sec_starts, sec_names, s0 + a)
            if section in NON_REPORTING:  # never "present"; reporting sections win
                if status == "present":
                    status = "uncertain"
                score = _RANK[status]
            old = best_get(key)
            if old is None or score > old[0]:
                best[key] = (score, status, section, s0, s1, a, b, cues)
    located: dict = {}
    for (abn, loc), entry in best.items():
        if loc is not None and entry[0] > located.get(abn, -1):
            located[abn] = entry[0]
    return [
        (abn, loc, status, section, s0, s1, s0 + a, s0 + b, cues)
        for (abn, loc), (score, status, section, s0, s1, a, b, cues) in best.items()
        if loc is not None or located.get(abn, -1) < score
    ]


def _sentence_rows(sent: str, compiled: Compiled) -> tuple:
    """Decisions of one sentence (offsets in it), shaped for `label_rows`."""
    hits = scan(compiled, f" {normalize(sent)} ")
    if not hits:
        return ()
    if "?" in sent:
        hits = _add_question_marks(sent, hits)
    units = [0]
    if ";" in sent:
        pos = sent.find(";")
        while pos >= 0:
            units.append(pos + 1)
            pos = sent.find(";", pos + 1)
    raw: list = []
    _sentence(sent, hits, units, compiled.max_scope_words, compiled.vocab, raw)
    # ((abnormality, location), score, status, start, end, cues); score = rank + 10 (reporting)
    return tuple(((abn, loc), _RANK[st] + 10, st, a, b, cues) for abn, loc, st, a, b, cues in raw)


def _add_question_marks(text: str, hits: list) -> list:
    q = (CUE, "uncertainty", "backward")
    extra = []
    pos = text.find("?")
    while pos >= 0:
        extra.append((pos, pos + 1, (q,)))
        pos = text.find("?", pos + 1)
    return sorted(hits + extra)


def _sentence(text, hits, units, scope, vocab, raw) -> None:
    """Decide status and locations for the hits of one sentence; append rows to `raw`."""
    # split into scope units (semicolon clauses), then by terminators into clauses
    # clause_f: clauses for cues before a term (every terminator ends them); clause_b: for cues
    # after a term (terminators with direction "forward", e.g. "which", do not end those)
    terms = []  # (index in hits, abn id, is_anchor)
    clause_f, clause_b = [], []
    cf = cb = 0
    unit = bisect_right(units, hits[0][0])
    for k, (start, _end, items) in enumerate(hits):
        u = bisect_right(units, start)
        if u != unit:
            unit = u
            cf += 1
            cb += 1
        for kind, a, b in items:
            if kind == CUE and a == "terminate":
                cf += 1
                if b != "forward":
                    cb += 1
            elif kind == ABN:
                terms.append((k, a, False))
            elif kind == ANCHOR:
                terms.append((k, a, True))
        clause_f.append(cf)
        clause_b.append(cb)
    clause_of = (clause_f, clause_b)
    if not terms:
        return
    statuses = {}
    for k, abn, is_anchor in terms:
        st = _status(text, hits, clause_of, k, is_anchor, scope)
        if st is not None:
            statuses[(k, abn)] = st
    if not statuses:
        return
    locs, loc_hits = attach_locations(text, hits, terms, statuses, vocab)
    abns = vocab.abnormalities
    for (k, abn), (status, cues) in statuses.items():
        start, end, _ = hits[k]
        entry = abns[abn]
        found = locs.get((k, abn))
        if not found and entry.requires_location:
            continue  # e.g. "increase in density" names a lung opacity only with a lung location
        if not found and entry.strict_location and loc_hits:
            # a location right next to the term is one this finding cannot take ("nodule in the
            # liver", "pericardial ... effusion"): the term names something else
            near = min(loc_hits, key=lambda h: abs(h[0] - k))
            ls, le, _ = hits[near[0]]
            gap = text.count(" ", end, ls) if ls >= end else text.count(" ", le, start)
            if gap <= 8 and not any(loc in entry.locations for loc in near[1]):
                continue
        cues = tuple(dict.fromkeys(cues))
        if not found and entry.default_location is not None:
            found = (entry.default_location,)
        for loc in found or (None,):
            raw.append((entry.refine.get(loc, abn), loc, status, start, end, cues))


def _status(text, hits, clause_of, k, is_anchor, scope):
    """(status, cue words) of term k, or None for an anchor without a normal/abnormal cue.

    Every cue in scope counts: negation wins over uncertainty ("no finding suggestive of X").
    """
    clause_f, clause_b = clause_of
    t_start, t_end, _ = hits[k]
    cats: set[str] = set()
    cues: list[str] = []
    anchor_cue = None
    anchor_dist = 1 << 30
    anchor_j = -1
    clause = clause_f[k]
    for j in range(k - 1, -1, -1):  # cues before the term act forward
        if clause_f[j] != clause:
            break
        c_start, c_end, items = hits[j]
        gap = text.count(" ", c_end, t_start)
        if gap > scope:
            break
        near_before = gap <= ANCHOR_WORDS
        for kind, cat, direction in items:
            if kind != CUE or direction in ("backward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and t_start - c_end < anchor_dist and near_before:
                    anchor_dist, anchor_cue = t_start - c_end, (cat, text[c_start:c_end])
            else:
                cats.add(cat)
                cues.append(text[c_start:c_end])
    clause = clause_b[k]
    for j in range(k + 1, len(hits)):  # cues after the term act backward
        if clause_b[j] != clause:
            break
        c_start, c_end, items = hits[j]
        gap = text.count(" ", t_end, c_start)
        if gap > scope:
            break
        near_after = gap <= ANCHOR_WORDS
        for kind, cat, direction in items:
            if kind != CUE or direction in ("forward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and c_start - t_end < anchor_dist and near_after:
                    anchor_dist, anchor_cue = c_start - t_end, (cat, text[c_start:c_end])
                    anchor_j = j
            else:
                cats.add(cat)
                cues.append(text[c_start:c_end])
    if is_anchor:
        if anchor_cue is None:
            return None
        cues.insert(0, anchor_cue[1])
        if anchor_cue[0] == "normal":
            return ("absent", tuple(cues))
        for j in range(k + 1, anchor_j):  # "heart is not enlarged": a negation in between
            for kind, cat, _ in hits[j][2]:
                if kind == CUE and cat == "negation":
                    return ("absent", (text[hits[j][0] : hits[j][1]], *cues))
    if "negation" in cats:
        return ("absent", tuple(cues))
    if "uncertainty" in cats:
        return ("uncertain", tuple(cues))
    return ("present", tuple(cues))
