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
from radlens.reports.matcher import ABN, ANCHOR, CUE, LOC, SIDE, SIDED, Compiled, compiled_for, scan
from radlens.reports.sections import (
    NON_REPORTING,
    find_boundaries,
    find_sections,
    section_at,
    sentence_span,
)
from radlens.reports.vocabulary import Vocabulary, load_vocabulary  # noqa: F401  (re-exported)

STATUSES = ("present", "absent", "uncertain")
_RANK = {"absent": 0, "uncertain": 1, "present": 2}
#: Longest report accepted (characters); longer text raises ReportError.
MAX_CHARS = 2_000_000


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
    return _label(_check_text(text), compiled_for(str(vocab)))


def label_many(texts: Iterable[str], vocab: str | Path = "chest_ct") -> list[list[Finding]]:
    """Label many reports with one compiled vocabulary."""
    compiled = compiled_for(str(vocab))
    return [_label(_check_text(t), compiled) for t in texts]


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise ReportError(f"report text must be str, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ReportError(
            f"report text has {len(text):,} characters [expected at most {MAX_CHARS:,}]"
        )
    return text


def _label(text: str, compiled: Compiled) -> list[Finding]:
    if not text or text.isspace():
        return []
    from radlens.reports.matcher import normalize

    hits = scan(compiled, f" {normalize(text)} ")
    if "?" in text:
        hits = _add_question_marks(text, hits)
    if not hits:
        return []
    sentences, units = find_boundaries(text)
    sec_starts, sec_names = find_sections(text)
    vocab = compiled.vocab
    scope = compiled.max_scope_words
    raw: list[tuple[str, str | None, str, int, int, tuple[str, ...]]] = []

    # group hits by sentence; within each sentence track scope units and terminators
    n = len(hits)
    i = 0
    while i < n:
        s_idx = bisect_right(sentences, hits[i][0])
        j = i
        while j < n and bisect_right(sentences, hits[j][0]) == s_idx:
            j += 1
        _sentence(text, hits[i:j], units, scope, vocab, raw)
        i = j

    best: dict[tuple[str, str | None], Finding] = {}
    for abn, loc, status, start, end, cues in raw:
        section = section_at(sec_starts, sec_names, start)
        if section in NON_REPORTING and status == "present":
            status = "uncertain"
        key = (abn, loc)
        old = best.get(key)
        if old is not None and _RANK[old.status] >= _RANK[status]:
            continue
        s0, s1 = sentence_span(text, sentences, start)
        best[key] = Finding(abn, loc, status, section, text[s0:s1], (start, end), cues)
    located = {}
    for (abn, loc), f in best.items():
        if loc is not None:
            located[abn] = max(located.get(abn, -1), _RANK[f.status])
    return [
        f
        for (abn, loc), f in best.items()
        if loc is not None or located.get(abn, -1) < _RANK[f.status]
    ]


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
    terms = []  # (index in hits, abn id, is_anchor)
    clause_of = []
    clause = 0
    unit = bisect_right(units, hits[0][0])
    for k, (start, _end, items) in enumerate(hits):
        u = bisect_right(units, start)
        if u != unit:
            unit = u
            clause += 1
        for kind, a, b in items:
            if kind == CUE and a == "terminate":
                clause += 1
            elif kind == ABN:
                terms.append((k, a, False))
            elif kind == ANCHOR:
                terms.append((k, a, True))
        clause_of.append(clause)
    if not terms:
        return
    statuses = {}
    for k, abn, is_anchor in terms:
        st = _status(text, hits, clause_of, k, is_anchor, scope)
        if st is not None:
            statuses[(k, abn)] = st
    if not statuses:
        return
    locs = _locations(text, hits, terms, statuses, vocab)
    for (k, abn), (status, cues) in statuses.items():
        start, end, _ = hits[k]
        for loc in locs.get((k, abn)) or (None,):
            raw.append((abn, loc, status, start, end, cues))


def _status(text, hits, clause_of, k, is_anchor, scope):
    """(status, cue words) of term k, or None for an anchor without a normal/abnormal cue."""
    clause = clause_of[k]
    t_start, t_end, _ = hits[k]
    before = after = None  # (category, cue text)
    anchor_cue = None
    anchor_dist = 1 << 30
    # walk backwards for forward cues
    for j in range(k - 1, -1, -1):
        if clause_of[j] != clause:
            break
        c_start, c_end, items = hits[j]
        if text.count(" ", c_end, t_start) > scope:
            break
        for kind, cat, direction in items:
            if kind != CUE or direction in ("backward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and t_start - c_end < anchor_dist:
                    anchor_dist, anchor_cue = t_start - c_end, (cat, text[c_start:c_end])
            elif before is None:
                before = (cat, text[c_start:c_end])
        if before is not None and (not is_anchor or anchor_cue is not None):
            break
    for j in range(k + 1, len(hits)):
        if clause_of[j] != clause:
            break
        c_start, c_end, items = hits[j]
        if text.count(" ", t_end, c_start) > scope:
            break
        for kind, cat, direction in items:
            if kind != CUE or direction in ("forward", "none"):
                continue
            if cat in ("normal", "abnormal"):
                if is_anchor and c_start - t_end < anchor_dist:
                    anchor_dist, anchor_cue = c_start - t_end, (cat, text[c_start:c_end])
            elif after is None:
                after = (cat, text[c_start:c_end])
        if after is not None and (not is_anchor or anchor_cue is not None):
            break
    cues = tuple(c[1] for c in (before, anchor_cue, after) if c is not None)
    cats = {c[0] for c in (before, after) if c is not None}
    if is_anchor:
        if anchor_cue is None:
            return None
        if anchor_cue[0] == "normal":
            return ("absent", cues)
    if "negation" in cats:
        return ("absent", cues)
    if "uncertainty" in cats:
        return ("uncertain", cues)
    return ("present", cues)


def _locations(text, hits, terms, statuses, vocab):
    """Map (hit index, abnormality) -> list of location ids."""
    abns = vocab.abnormalities
    term_pos = [(k, abn) for k, abn, _ in terms if (k, abn) in statuses]
    loc_hits = []  # (k, location ids)
    side_hits = []  # (k, side)
    sided = []  # (k, (right, left), plural)
    for k, (start, end, items) in enumerate(hits):
        for kind, a, b in items:
            if kind == LOC:
                loc_hits.append((k, a, b))
            elif kind == SIDE:
                side_hits.append((k, a))
            elif kind == SIDED:
                sided.append((k, a, text[end - 1 : end] in "sS" or text[start:end].lower() == "hila"))
    if not (loc_hits or side_hits or sided):
        return {}
    # resolve sided phrases with the nearest side word or sided location
    side_src = [(k, s) for k, s in side_hits] + [(k, side) for k, _, side in loc_hits if side]
    used_sides = set()
    resolved = [(k, ids) for k, ids, _ in loc_hits]
    for k, (right, left), plural in sided:
        near = min(side_src, key=lambda ks: (abs(ks[0] - k), ks[0] > k), default=None)
        if near is None:
            ids = (right, left) if plural else ()
        else:
            used_sides.add(near[0])
            side = near[1]
            ids = (right, left) if side == "both" else ((right,) if side == "right" else (left,))
        if ids:
            resolved.append((k, ids))
    out: dict[tuple[int, str], list[str]] = {}
    for k, ids in resolved:
        for loc in ids:
            cands = [(kk, abn) for kk, abn in term_pos if loc in abns[abn].locations]
            if not cands:
                continue
            pos = hits[k][0]
            best = min(cands, key=lambda c: _gap(hits, c[0], k, pos))
            for c in _group(text, hits, term_pos, best):
                if loc in abns[c[1]].locations:
                    lst = out.setdefault(c, [])
                    if loc not in lst:
                        lst.append(loc)
    # bare side words for terms still without a location
    free_sides = [(k, s) for k, s in side_hits if k not in used_sides]
    if free_sides:
        for kk, abn in term_pos:
            if (kk, abn) in out or not abns[abn].sides:
                continue
            k, side = min(free_sides, key=lambda ks: (abs(ks[0] - kk), ks[0] > kk))
            sides = ("right", "left") if side == "both" else (side,)
            ids = [abns[abn].sides[s] for s in sides if s in abns[abn].sides]
            if ids:
                out[(kk, abn)] = ids
    return out


def _gap(hits, term_k, loc_k, loc_pos):
    t_start, t_end, _ = hits[term_k]
    if loc_k > term_k:
        return loc_pos - t_end
    return t_start - hits[loc_k][1] + 6


_JOINERS = frozenset({"", ",", "and", ", and", "or", ", or", "/", "-", "and/or", "+", "&"})


def _group(text, hits, term_pos, member):
    """Terms listed together with `member` ("A, B and C"): they share its locations."""
    idx = term_pos.index(member)
    group = [member]
    for step in (-1, 1):
        i = idx
        while 0 <= i + step < len(term_pos):
            a, b = (term_pos[i], term_pos[i + step]) if step == 1 else (term_pos[i + step], term_pos[i])
            between = text[hits[a[0]][1] : hits[b[0]][0]].strip().lower()
            if a[0] != b[0] and between not in _JOINERS:
                break
            i += step
            group.append(term_pos[i])
    return group
