"""One compiled Aho-Corasick automaton per vocabulary: terms, locations, side words and cues.

Text is normalised without changing its length (lower case; punctuation and white space become
spaces) and padded with one space at each end, so a phrase matches on word boundaries when its key
(the normalised phrase plus one trailing space) ends at a space and the character before it is a
space. `scan` returns the leftmost-longest non-overlapping matches of one pass over the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import ahocorasick

from radlens.reports.vocabulary import Vocabulary, load_vocabulary

# payload kinds
ABN, ANCHOR, LOC, SIDED, SIDE, CUE = range(6)

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


@dataclass(frozen=True)
class Compiled:
    """A vocabulary compiled for scanning."""

    vocab: Vocabulary
    automaton: ahocorasick.Automaton
    max_scope_words: int
    cache: dict = field(default_factory=dict, compare=False, repr=False)


def compile_vocabulary(vocab: Vocabulary) -> Compiled:
    """Build the automaton: each key maps to (key length, tuple of payload items)."""
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
    for key, items in table.items():
        # Term kinds win over cue kinds on an identical key only if no cue shares it: keep all.
        automaton.add_word(key + " ", (len(key) + 1, tuple(items)))
    automaton.make_automaton()
    return Compiled(vocab, automaton, vocab.context.max_scope_words)


@lru_cache(maxsize=16)
def compiled_for(name_or_path: str) -> Compiled:
    """The compiled matcher of a vocabulary name or path (cached)."""
    return compile_vocabulary(load_vocabulary(name_or_path))


def scan(compiled: Compiled, padded: str) -> list[tuple[int, int, tuple]]:
    """Matches in `padded` (normalised text with one space each side) as (start, end, items).

    Offsets are those of the ORIGINAL text: original[start:end] is the matched phrase. Only
    matches on word boundaries count; among them the leftmost-longest non-overlapping set is kept
    (so "pulmonary nodule" inside "intrapulmonary nodules" cannot hide "nodules").
    """
    found = sorted(
        (end - klen, 1 - end, items)
        for end, (klen, items) in compiled.automaton.iter(padded)
        if padded[end - klen] == " "
    )
    out = []
    last = -1
    for start, neg_end, items in found:
        if start >= last:
            last = -neg_end
            out.append((start, last, items))
    return out
