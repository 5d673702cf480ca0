"""Location attachment for one sentence: location phrases, sided phrases and side words -> the
abnormality terms they describe ("consolidation and atelectasis in the left lower lobe")."""

from __future__ import annotations

from radlens.reports.matcher import LOC, SIDE, SIDED

#: A bare side word ("right-sided", "both lungs") reaches a term at most this many words away.
SIDE_WORDS = 7


def attach_locations(text, hits, terms, statuses, vocab, located=None, allowed=None):
    """Map (hit index, abnormality) -> list of location ids (`located`: indices of the hits that
    carry a location, side or sided phrase, all hits when None; `allowed`: abnormality id ->
    set of its location ids, built here when None)."""
    abns = vocab.abnormalities
    if allowed is None:
        allowed = {a: frozenset(e.locations) for a, e in abns.items()}
    term_pos = list(statuses)  # (k, abn) of the decided terms, in text order
    loc_hits = []  # (k, location ids)
    side_hits = []  # (k, side)
    sided = []  # (k, (right, left), plural)
    for k in range(len(hits)) if located is None else located:
        start, end, items = hits[k][:3]
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
    used_sides = set()
    resolved = [(k, ids) for k, ids, _ in loc_hits]
    if sided:
        side_src = side_hits + [(k, side) for k, _, side in loc_hits if side]
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
    groups: dict = {}  # term -> the terms listed with it
    single = len(term_pos) == 1
    for k, ids in resolved:
        pos = hits[k][0]
        for loc in ids:
            if single:
                cands = term_pos if loc in allowed[term_pos[0][1]] else ()
            else:
                cands = [c for c in term_pos if loc in allowed[c[1]]]
            if not cands:
                continue
            if len(cands) == 1:
                best = cands[0]
            else:
                best = min(cands, key=lambda c: _gap(hits, c[0], k, pos))
            attached.add(k)
            group = groups.get(best)
            if group is None:
                group = groups[best] = (best,) if single else _group(text, hits, term_pos, best)
            for c in group:
                if loc in allowed[c[1]]:
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
    t_start, t_end = hits[term_k][:2]
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
