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
from radlens.reports.matcher import (
    ABN,
    ANCHOR,
    CUE,
    LOC,
    SIDE,
    SIDED,
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
#: A bare side word ("right-sided", "both lungs") reaches a term at most this many words away.
SIDE_WORDS = 7
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
    rank = _RANK
    for s0, s1 in iter_sentences(text):
        sent = text[s0:s1]
        rows = cache.get(sent)
        if rows is None:
            rows = _sentence_rows(sent, compiled)
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[sent] = rows
        if not rows:
            continue
        section = "findings"
        nonrep = False
        for abn, loc, status, a, b, cues in rows:
            if sec_starts is not None:
                section = section_at(sec_starts, sec_names, s0 + a)
                nonrep = section in NON_REPORTING
            if nonrep and status == "present":
                status = "uncertain"
            key = (abn, loc)
            score = rank[status] if nonrep else rank[status] + 10  # reporting sections win
            old = best.get(key)
            if old is None or score > old[0]:
                best[key] = (score, (abn, loc, status, section, s0, s1, s0 + a, s0 + b, cues))
    located: dict = {}
    for (abn, loc), (score, _row) in best.items():
        if loc is not None and score > located.get(abn, -1):
            located[abn] = score
    return [
        row
        for (abn, loc), (score, row) in best.items()
        if loc is not None or located.get(abn, -1) < score
    ]


def _sentence_rows(sent: str, compiled: Compiled) -> tuple:
    """(abnormality, location, status, start, end, cues) of one sentence (offsets in it)."""
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
    return tuple(raw)


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
    locs, loc_hits = _locations(text, hits, terms, statuses, vocab)
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
                sided.append(
                    (k, a, text[end - 1 : end] in "sS" or text[start:end].lower() == "hila")
                )
    if not (loc_hits or side_hits or sided):
        return {}, []
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
    attached = set()
    for k, ids in resolved:
        for loc in ids:
            cands = [(kk, abn) for kk, abn in term_pos if loc in abns[abn].locations]
            if not cands:
                continue
            pos = hits[k][0]
            best = min(cands, key=lambda c: _gap(hits, c[0], k, pos))
            attached.add(k)
            for c in _group(text, hits, term_pos, best):
                if loc in abns[c[1]].locations:
                    lst = out.setdefault(c, [])
                    if loc not in lst:
                        lst.append(loc)
    # bare side words ("right pleural effusion", "effusion on the left") go to the nearest term
    # after them (else before them) within SIDE_WORDS words, and to the terms listed with it
    for k, side in side_hits:
        if k in used_sides:
            continue
        after = [c for c in term_pos if c[0] > k]
        before = [c for c in term_pos if c[0] < k]
        target = None
        if after and text.count(" ", hits[k][1], hits[after[0][0]][0]) <= SIDE_WORDS:
            target = after[0]
        elif before and text.count(" ", hits[before[-1][0]][1], hits[k][0]) <= SIDE_WORDS:
            target = before[-1]
        if target is None:
            continue
        sides = ("right", "left") if side == "both" else (side,)
        for c in _group(text, hits, term_pos, target):
            lst = out.setdefault(c, [])
            for s in sides:
                loc = abns[c[1]].sides.get(s)
                if loc is not None and loc not in lst:
                    lst.append(loc)
            if not lst:
                del out[c]
    return out, [r for r in resolved if r[0] not in attached]


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
            a, b = (
                (term_pos[i], term_pos[i + step])
                if step == 1
                else (term_pos[i + step], term_pos[i])
            )
            between = text[hits[a[0]][1] : hits[b[0]][0]].strip().lower()
            if a[0] != b[0] and between not in _JOINERS:
                break
            i += step
            group.append(term_pos[i])
    return group
