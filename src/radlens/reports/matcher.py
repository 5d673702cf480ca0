"""One compiled Aho-Corasick automaton per vocabulary: terms, locations, side words and cues.

Text is normalised without changing its length (lower case; punctuation and white space become
spaces) and padded with one space at each end; each key is the normalised phrase with one space on
each side, so every match lies on word boundaries without any check after the scan. `scan`
returns the leftmost-longest non-overlapping matches of one pass over the text.

Keys are numbered (``Compiled.keys`` / ``.items`` / ``.masks``); the compiled labeler kernel
(`radlens.reports.kernel`) scans the same keys with its own character trie and gives the same
matches (tests/reports/test_kernel.py). A `Compiled` is immutable; what the labeler builds and
memoises per compiled vocabulary lives in `radlens.reports.labeler.LabelerCache`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from radlens.reports.vocabulary import Vocabulary, load_vocabulary

# payload kinds
ABN, ANCHOR, LOC, SIDED, SIDE, CUE = range(6)
# bits of a key's mask (precomputed so the per-sentence loops skip irrelevant matches cheaply)
M_TERM = 1  # an abnormality term or anchor
M_CUE_F = 2  # a status cue acting forward (cue before the term): forward / bidirectional
M_CUE_B = 4  # a status cue acting backward (cue after the term): backward / bidirectional
M_STOP = 8  # a terminator ("but", "which", ...)
M_LOC = 16  # a location, sided phrase or side word
M_NEG = 32  # a negation cue (any direction)


def key_mask(items: tuple) -> int:
    """The mask bits of a key's payload items."""
    mask = 0
    for kind, a, b in items:
        if kind in (ABN, ANCHOR):
            mask |= M_TERM
        elif kind == CUE:
            if a == "terminate":
                mask |= M_STOP
                continue
            if b in ("forward", "bidirectional"):
                mask |= M_CUE_F
            if b in ("backward", "bidirectional"):
                mask |= M_CUE_B
            if a == "negation":
                mask |= M_NEG
        else:
            mask |= M_LOC
    return mask


_PUNCT = "".join(chr(c) for c in range(128) if not chr(c).isalnum()) + (
    "\u00a0\u00b7\u00ab\u00bb\u2010\u2011\u2012\u2013\u2014\u2015\u2018\u2019\u201a\u201c\u201d"
    "\u201e\u2022\u2026\u2032\u2033\u2212\u00d7\u00b0\u3000\u200b\ufeff"
)
_TABLE = str.maketrans({c: " " for c in _PUNCT})
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case `text` and turn punctuation / white space into spaces, keeping its length."""
    low = text.lower()
    if len(low) != len(text):  # a few characters (e.g. "İ") lower-case to two code points
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.translate(_TABLE)


def _key(phrase: str) -> str:
    return _SPACES.sub(" ", normalize(phrase)).strip()


def _plurals(phrase: str) -> list[str]:
    head, _, last = phrase.rpartition(" ")
    pre = f"{head} " if head else ""
    if len(last) < 3 or not last.isalpha():
        return []
    out = []
    if last.endswith("is"):
        out.append(last[:-2] + "es")
    elif last.endswith("us"):
        out += [last[:-2] + "i", last + "es"]
    elif last.endswith("um"):
        out += [last[:-2] + "a", last + "s"]
    elif last.endswith("a"):
        out += [last + "e", last + "s"]
    elif last.endswith("y") and last[-2] not in "aeiou":
        out.append(last[:-1] + "ies")
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        out.append(last + "es")
    else:
        out.append(last + "s")
    return [pre + w for w in out]


def _variants(phrase: str, plural: bool = True) -> set[str]:
    base = _key(phrase)
    if not base:
        return set()
    out = {base}
    if plural:
        out.update(_plurals(base))
    return out


@dataclass(frozen=True, eq=False)
class Compiled:
    """A vocabulary compiled for scanning (immutable; equal and hashed by identity, so caches
    can be keyed by it)."""

    vocab: Vocabulary
    automaton: ahocorasick.Automaton
    max_scope_words: int
    #: key id -> normalised phrase (no padding), payload items and mask bits
    keys: tuple[str, ...] = ()
    items: tuple[tuple, ...] = ()
    masks: tuple[int, ...] = ()


def compile_vocabulary(vocab: Vocabulary) -> Compiled:
    """Build the automaton: each key " phrase " maps to (phrase length + 1, key id)."""
    table: dict[str, list[tuple]] = {}

    def add(phrases, item, plural=True):
        for phrase in phrases:
            for key in _variants(phrase, plural):
                items = table.setdefault(key, [])
                if item not in items:
                    items.append(item)

    for abn in vocab.abnormalities.values():
        add(abn.synonyms, (ABN, abn.id, None))
        add(abn.abbreviations, (ABN, abn.id, None), plural=False)
        add(abn.anchors, (ANCHOR, abn.id, None))
    for loc in vocab.locations.values():
        add(loc.synonyms, (LOC, (loc.id,), loc.side))
        add(loc.abbreviations, (LOC, (loc.id,), loc.side), plural=False)
    for st in vocab.sided_terms:
        add(st.terms, (SIDED, (st.right, st.left), None))
        add(st.both, (LOC, (st.right, st.left), None), plural=False)
    for side, phrases in vocab.context.sides.items():
        add(phrases, (SIDE, side, None), plural=False)
    for rule in vocab.context.cues:
        add(rule.phrases, (CUE, rule.category, rule.direction), plural=False)

    automaton = ahocorasick.Automaton()
    keys = tuple(table)
    items = tuple(tuple(table[key]) for key in keys)
    for kid, key in enumerate(keys):
        # Term kinds win over cue kinds on an identical key only if no cue shares it: keep all.
        # " key ": a match starts and ends on a word boundary by construction (no filtering)
        automaton.add_word(f" {key} ", (len(key) + 1, kid))
    automaton.make_automaton()
    return Compiled(
        vocab,
        automaton,
        vocab.context.max_scope_words,
        keys=keys,
        items=items,
        masks=tuple(key_mask(i) for i in items),
    )


@lru_cache(maxsize=16)
def compiled_for(name_or_path: str) -> Compiled:
    """The compiled matcher of a vocabulary name or path (cached)."""
    return compile_vocabulary(load_vocabulary(name_or_path))


def scan(compiled: Compiled, padded: str) -> list[tuple[int, int, int]]:
    """Matches in `padded` (normalised text with one space each side) as (start, end, key id).

    Offsets are those of the ORIGINAL text: original[start:end] is the matched phrase. Every key
    carries a space on both sides, so only word-bounded matches are reported; among them the
    leftmost-longest non-overlapping set is kept (so "pulmonary nodule" inside "intrapulmonary
    nodules" cannot hide "nodules").
    """
    found = sorted(
        [(end - klen, 1 - end, kid) for end, (klen, kid) in compiled.automaton.iter(padded)]
    )
    out = []
    last = -1
    for start, neg_end, kid in found:
        if start >= last:
            last = -neg_end
            out.append((start, last, kid))
    return out
