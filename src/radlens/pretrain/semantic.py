"""Positives by meaning: which images a report sentence is true of, read from the report text.

With sentence-level contrast (`radlens.pretrain.batches.SentenceBank`) a sentence is a positive
for the images whose reports hold the same words, and a negative for every other image in the
batch, so "Small left pneumothorax." counts as wrong for an image whose report says "There is a
right apical pneumothorax.", and "No pneumothorax." as wrong for a normal study whose report never
mentions the pleura. MedCLIP's answer (semantic matching) is to decide positives by what the
texts mean. Here the meaning is the labeler's reading (`radlens.reports.label_many`), so no label
beyond the report text is used:

- a sentence's *reading* is the set of (finding, status) pairs the labeler finds in it alone
  (location and severity left out: the global embedding answers "is there X", the local branch
  "where");
- a report's *state* per finding is closed-world, as radiologists write: the status its
  sentences give (present before uncertain before absent when they disagree), absent when
  the report does not name the finding; "no finding" is present when the labeler reads it or
  when the report names no finding present or uncertain;
- an image is a positive for a sentence when its report's state agrees with every pair of the
  sentence's reading (and always for its own report's sentences); a sentence naming no finding
  ("Bony thorax is intact.") keeps the exact-words rule.

`semantic_holds` turns that into the key form of `KeyedPositives`: one key per distinct reading
(or per distinct wording for sentences without one), and which keys each report holds. With
``located=True`` (for the local loss, whose sentences must find *where*) a present or uncertain
finding's reading keeps its location too, and a report holds it only where it names the finding
there (or names it nowhere in particular): "Small left pleural effusion." is then not true of a
study with a right effusion only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["NO_FINDING", "report_state", "semantic_holds", "sentence_reading"]

NO_FINDING = "no_finding"
#: which status wins when a report's sentences disagree about one finding
_RANK = {"present": 2, "uncertain": 1, "absent": 0}

#: (finding, status) pairs, or (finding, status, location) triples when located
Reading = frozenset[tuple[str, ...]]


def sentence_reading(findings, located: bool = False) -> Reading:
    """The (finding, status) pairs of one sentence's labeler findings; `located`: (finding,
    status, location) triples, the location None for absent findings or where none is named."""
    if not located:
        return frozenset((f.abnormality, f.status) for f in findings)
    return frozenset((f.abnormality, f.status, f.location if f.status != "absent" else None)
                     for f in findings)  # fmt: skip


def report_state(readings: Sequence[Reading]) -> dict[str, str]:
    """A report's status per finding it names (see the module docstring), "no finding" included;
    a finding missing from the result is absent."""
    state: dict[str, str] = {}
    for reading in readings:
        for finding, status, *_ in reading:
            if finding not in state or _RANK[status] > _RANK[state[finding]]:
                state[finding] = status
    positive = any(s != "absent" for f, s in state.items() if f != NO_FINDING)
    if state.get(NO_FINDING) != "present":
        state[NO_FINDING] = "absent" if positive else "present"
    return state


def semantic_holds(
    findings: Sequence[Sequence], start: Sequence[int], count: Sequence[int],
    wording_keys: Sequence[str], located: bool = False,
) -> tuple[list[int], torch.Tensor]:  # fmt: skip
    """Key ids of flat sentences (report r owns sentences ``start[r]:start[r] + count[r]``;
    `findings`: their labeler findings, each sentence read alone by `radlens.reports.label_many`)
    and the (reports, keys) bool matrix of which keys each report holds, by meaning (module
    docstring); `wording_keys`: each sentence's exact-words key, the key of a sentence the
    labeler reads no finding in; `located`: readings keep locations."""
    readings = [sentence_reading(f, located) for f in findings]
    ids: dict[object, int] = {}
    keys = [ids.setdefault(r if r else ("words", w), len(ids))
            for r, w in zip(readings, wording_keys, strict=True)]  # fmt: skip
    spans = list(zip(start, count, strict=True))
    states = [report_state(readings[a : a + n]) for a, n in spans]
    places = [_places(readings[a : a + n]) for a, n in spans] if located else []
    names = sorted({f for state in states for f in state} | {p[0] for r in readings for p in r})
    column = {f: j for j, f in enumerate(names)}
    table = np.full((len(states), len(names)), "absent", dtype=object)
    for row, state in enumerate(states):
        for finding, status in state.items():
            table[row, column[finding]] = status
    holds = np.zeros((len(states), len(ids)), dtype=bool)
    for reading, k in ids.items():
        if isinstance(reading, frozenset):
            holds[:, k] = np.all([table[:, column[p[0]]] == p[1] for p in reading], axis=0)
            for finding, _, *where in reading:
                if where and where[0] is not None:
                    holds[:, k] &= [not at.get(finding) or where[0] in at[finding] for at in places]
    for row, (a, n) in enumerate(spans):
        holds[row, keys[a : a + n]] = True
    return keys, torch.from_numpy(holds)


def _places(readings: Sequence[Reading]) -> dict[str, set[str]]:
    """Where a report names each finding present or uncertain (located readings; else empty)."""
    out: dict[str, set[str]] = {}
    for reading in readings:
        for finding, status, *where in reading:
            if status != "absent" and where and where[0] is not None:
                out.setdefault(finding, set()).add(where[0])
    return out
