"""Rule-based report labeler: free text -> findings (abnormality x location x status + evidence).

One compiled Aho-Corasick automaton finds every term, location, side word and cue (each match
carries its payload and a bit mask of its kinds); with the sentence cache only unseen sentences are
scanned, without it the whole report is scanned once and each sentence takes its slice of the match
list. The rest is small per-match logic with integer comparisons:

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

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from radlens.errors import ReportError
from radlens.reports.locate import attach_locations
from radlens.reports.matcher import (
    ABN,
    ANCHOR,
    CUE,
    M_CUE_B,
    M_CUE_F,
    M_LOC,
    M_NEG,
    M_STOP,
    M_TERM,
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
    # The frozen dataclass __init__ sets each field through object.__setattr__; filling the
    # instance dict directly builds the same (equal, hashable) object about twice as fast.
    new, out = object.__new__, []
    for abn, loc, status, section, s0, s1, a, b, cues in rows:
        f = new(Finding)
        f.__dict__.update(
            {
                "abnormality": abn,
                "location": loc,
                "status": status,
                "section": section,
                "sentence": text[s0:s1],
                "span": (a, b),
                "cues": cues,
            }
        )
        out.append(f)
    return out


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise ReportError(f"report text must be str, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ReportError(
            f"report text has {len(text):,} characters [expected at most {MAX_CHARS:,}]"
        )
    return text


def label_rows(text: str, compiled: Compiled, *, cache: bool = True) -> list[tuple]:
    """Findings of one report as plain tuples (the fast path behind `label` and the CLI):
    (abnormality, location, status, section, sentence start, sentence end, span start, span end,
    cues).

    With ``cache`` (default) each sentence's decisions are memoised per vocabulary (reports repeat
    template sentences) and only unseen sentences are scanned. Without it the whole report is
    normalised and scanned once and each sentence takes its slice of the match list.
    """
    if not text or text.isspace():
        return []
    if ":" in text:
        sec_starts, sec_names = find_sections(text)
    else:
        sec_starts = None
    sentences = iter_sentences(text)
    if cache:
        per_sentence = None
        memo = compiled.cache
        memo_get = memo.get
    else:
        per_sentence = _uncached_rows(text, sentences, compiled)
    best: dict = {}
    best_get = best.get
    for i, (s0, s1) in enumerate(sentences):
        if per_sentence is None:
            sent = text[s0:s1]
            rows = memo_get(sent)
            if rows is None:
                rows = _sentence_miss(sent, compiled)
        else:
            rows = per_sentence[i]
        if not rows:
            continue
        if sec_starts is None:  # no headers: every row is in "findings", as it is cached
            for row in rows:
                old = best_get(row[0])
                if old is None or row[1] > old[0]:
                    best[row[0]] = (row[1], i, row)
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
    if sec_starts is None:
        out = []
        for (abn, loc), (score, i, row) in best.items():
            if loc is not None or located.get(abn, -1) < score:
                s0, s1 = sentences[i]
                out.append((abn, loc, row[2], "findings", s0, s1, s0 + row[3], s0 + row[4], row[5]))
        return out
    return [
        (abn, loc, status, section, s0, s1, s0 + a, s0 + b, cues)
        for (abn, loc), (score, status, section, s0, s1, a, b, cues) in best.items()
        if loc is not None or located.get(abn, -1) < score
    ]


def _sentence_miss(sent: str, compiled: Compiled) -> tuple:
    """Rows of a sentence not in the cache (offsets in the sentence); memoise them."""
    hits = scan(compiled, f" {normalize(sent)} ")
    rows = _rows(sent, hits, 0, len(sent), compiled) if hits else ()
    if len(compiled.cache) >= CACHE_SIZE:
        compiled.cache.clear()
    compiled.cache[sent] = rows
    return rows


def _uncached_rows(text: str, sentences: list[tuple[int, int]], compiled: Compiled) -> list:
    """Rows of each sentence from ONE scan of the whole report (offsets in the sentence)."""
    hits = scan(compiled, f" {normalize(text)} ")
    starts = [h[0] for h in hits]
    n = len(hits)
    n_terms = list(accumulate((h[3] & M_TERM for h in hits), initial=0))  # terms before hit i
    out = []
    lo = 0
    for s0, s1 in sentences:
        lo = bisect_left(starts, s0, lo)
        hi = bisect_left(starts, s1, lo)
        if (lo > 0 and hits[lo - 1][1] > s0) or (hi > lo and hits[hi - 1][1] > s1):
            # a match runs across a sentence boundary: scan this sentence on its own
            sent = text[s0:s1]
            own = scan(compiled, f" {normalize(sent)} ")
            out.append(_rows(sent, own, 0, s1 - s0, compiled) if own else ())
        elif n_terms[hi] > n_terms[lo]:  # the sentence names an abnormality
            out.append(_rows(text, hits[lo:hi], s0, s1, compiled, s0))
        else:
            out.append(())
        lo = hi if hi < n else n
    return out


def _rows(text: str, hits: list, s0: int, s1: int, compiled: Compiled, base: int = 0) -> tuple:
    """Decisions of the sentence text[s0:s1] given its hits (offsets in `text`); the rows'
    offsets are made relative to `base`."""
    if text.find("?", s0, s1) >= 0:
        hits = _add_question_marks(text, hits, s0, s1)
    units = [s0]
    pos = text.find(";", s0, s1)
    while pos >= 0:
        units.append(pos + 1)
        pos = text.find(";", pos + 1, s1)
    raw: list = []
    _sentence(text, hits, units, compiled, raw)
    # ((abnormality, location), score, status, start, end, cues); score = rank + 10 (reporting)
    return tuple(
        ((abn, loc), _RANK[st] + 10, st, a - base, b - base, cues)
        for abn, loc, st, a, b, cues in raw
    )


def _add_question_marks(text: str, hits: list, s0: int, s1: int) -> list:
    q = ((CUE, "uncertainty", "backward"),)
    extra = []
    pos = text.find("?", s0, s1)
    while pos >= 0:
        extra.append((pos, pos + 1, q, M_CUE_B))
        pos = text.find("?", pos + 1, s1)
    return sorted(hits + extra)


def _sentence(text, hits, units, compiled, raw) -> None:
    """Decide status and locations for the hits of one sentence; append rows to `raw`."""
    # split into scope units (semicolon clauses), then by terminators into clauses
    # clause_f: clauses for cues before a term (every terminator ends them); clause_b: for cues
    # after a term (terminators with direction "forward", e.g. "which", do not end those)
    terms = []  # (index in hits, abn id, is_anchor)
    clause_f, clause_b = [], []
    located = []  # indices of location / side hits
    cf = cb = 0
    several = len(units) > 1
    unit = bisect_right(units, hits[0][0])
    for k, (start, _end, items, mask) in enumerate(hits):
        if several:
            u = bisect_right(units, start)
            if u != unit:
                unit = u
                cf += 1
                cb += 1
        if mask & M_STOP:
            for kind, a, b in items:
                if kind == CUE and a == "terminate":
                    cf += 1
                    if b != "forward":
                        cb += 1
        if mask & M_TERM:
            for kind, a, _ in items:
                if kind == ABN:
                    terms.append((k, a, False))
                elif kind == ANCHOR:
                    terms.append((k, a, True))
        if mask & M_LOC:
            located.append(k)
        clause_f.append(cf)
        clause_b.append(cb)
    if not terms:
        return
    clause_of = (clause_f, clause_b)
    scope = compiled.max_scope_words
    vocab = compiled.vocab
    statuses = {}
    for k, abn, is_anchor in terms:
        st = _status(text, hits, clause_of, k, is_anchor, scope)
        if st is not None:
            statuses[(k, abn)] = st
    if not statuses:
        return
    if located:
        locs, loc_hits = attach_locations(
            text, hits, terms, statuses, vocab, located, compiled.allowed
        )
    else:
        locs, loc_hits = {}, []
    abns = vocab.abnormalities
    for (k, abn), (status, cues) in statuses.items():
        start, end, _, _ = hits[k]
        entry = abns[abn]
        found = locs.get((k, abn))
        if not found and entry.requires_location:
            continue  # e.g. "increase in density" names a lung opacity only with a lung location
        if not found and entry.strict_location and loc_hits:
            # a location right next to the term is one this finding cannot take ("nodule in the
            # liver", "pericardial ... effusion"): the term names something else
            near = min(loc_hits, key=lambda h: abs(h[0] - k))
            ls, le, _, _ = hits[near[0]]
            gap = text.count(" ", end, ls) if ls >= end else text.count(" ", le, start)
            if gap <= 8 and not any(loc in entry.locations for loc in near[1]):
                continue
        if len(cues) > 1:
            cues = tuple(dict.fromkeys(cues))
        if not found and entry.default_location is not None:
            found = (entry.default_location,)
        refine = entry.refine
        for loc in found or (None,):
            raw.append((refine.get(loc, abn) if refine else abn, loc, status, start, end, cues))


def _status(text, hits, clause_of, k, is_anchor, scope):
    """(status, cue words) of term k, or None for an anchor without a normal/abnormal cue.

    Every cue in scope counts: negation wins over uncertainty ("no finding suggestive of X").
    """
    clause_f, clause_b = clause_of
    t_start, t_end, _, _ = hits[k]
    cats: set[str] = set()
    cues: list[str] = []
    anchor_cue = None
    anchor_dist = 1 << 30
    anchor_j = -1
    clause = clause_f[k]
    for j in range(k - 1, -1, -1):  # cues before the term act forward
        if clause_f[j] != clause:
            break
        c_start, c_end, items, mask = hits[j]
        if not mask & M_CUE_F:
            continue
        gap = text.count(" ", c_end, t_start)
        if gap > scope:
            break
        for kind, cat, direction in items:
            if kind != CUE or direction in ("backward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and t_start - c_end < anchor_dist and gap <= ANCHOR_WORDS:
                    anchor_dist, anchor_cue = t_start - c_end, (cat, text[c_start:c_end])
            elif cat != "terminate":
                cats.add(cat)
                cues.append(text[c_start:c_end])
    clause = clause_b[k]
    for j in range(k + 1, len(hits)):  # cues after the term act backward
        if clause_b[j] != clause:
            break
        c_start, c_end, items, mask = hits[j]
        if not mask & M_CUE_B:
            continue
        gap = text.count(" ", t_end, c_start)
        if gap > scope:
            break
        for kind, cat, direction in items:
            if kind != CUE or direction in ("forward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and c_start - t_end < anchor_dist and gap <= ANCHOR_WORDS:
                    anchor_dist, anchor_cue = c_start - t_end, (cat, text[c_start:c_end])
                    anchor_j = j
            elif cat != "terminate":
                cats.add(cat)
                cues.append(text[c_start:c_end])
    if is_anchor:
        if anchor_cue is None:
            return None
        cues.insert(0, anchor_cue[1])
        if anchor_cue[0] == "normal":
            return ("absent", tuple(cues))
        for j in range(k + 1, anchor_j):  # "heart is not enlarged": a negation in between
            if hits[j][3] & M_NEG:
                for kind, cat, _ in hits[j][2]:
                    if kind == CUE and cat == "negation":
                        return ("absent", (text[hits[j][0] : hits[j][1]], *cues))
    if not cats:
        return ("present", tuple(cues))
    if "negation" in cats:
        return ("absent", tuple(cues))
    if "uncertainty" in cats:
        return ("uncertain", tuple(cues))
    return ("present", tuple(cues))
