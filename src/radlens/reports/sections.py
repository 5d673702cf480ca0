"""Section headers and sentence boundaries of a report (character offsets).

Sections: a header such as ``FINDINGS:`` or ``Impression:`` starts a section; text before the first
header is ``findings``. Sentences end at ``. ! ?`` followed by white space or the end (not after a
known abbreviation such as "e.g." or "Dr.", not inside numbers such as "3.5"), at blank lines, at
list markers (``1.`` / ``-`` / ``•`` at a line start), before a header line and at bullets. A
semicolon ends a clause (cue scope, see the labeler) but not a sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_right

#: Sections whose terms never become "present" findings (reason for the exam, prior history, ...).
NON_REPORTING = frozenset({"indication", "history", "technique", "comparison"})

_HEADER = re.compile(
    r"(?:^|(?<=[\s.;]))"
    r"(findings?|impressions?|conclusions?|opinion|summary|indications?|reason for (?:exam|examination|"
    r"study|request)|clinical (?:history|information|indication|details|data)|history|"
    r"techniques?|procedure|comparisons?|recommendations?|results?|notes?)"
    r"[ \t]*:$",
    re.IGNORECASE,
)
_CANON = {
    "finding": "findings", "findings": "findings", "result": "findings", "results": "findings",
    "note": "findings", "notes": "findings",
    "impression": "impression", "impressions": "impression", "conclusion": "impression",
    "conclusions": "impression", "opinion": "impression", "summary": "impression",
    "recommendation": "impression", "recommendations": "impression",
    "indication": "indication", "indications": "indication",
    "history": "history", "technique": "technique", "techniques": "technique",
    "procedure": "technique", "comparison": "comparison", "comparisons": "comparison",
}  # fmt: skip

_CAND = re.compile(r"[.!?]+(?=[\s\"')\]\u00a0]|$)|[\n•]")
_LINE_BREAK = re.compile(
    r"\n(?:[ \t]*\n|[ \t]*(?:\d{1,2}[.)]|[-•*])\s|[ \t]*[A-Z][A-Za-z ]{2,40}:)"
)
_ABBREV = frozenset(
    ["dr", "mr", "mrs", "ms", "vs", "eg", "ie", "e.g", "i.e", "approx", "fig", "no", "nos", "st", "cf", "etc", "al", "resp", "incl", "sr", "jr", "ca"]
)


def find_sections(text: str) -> tuple[list[int], list[str]]:
    """Section start offsets (ascending, first is 0) and their canonical names."""
    starts, names = [0], ["findings"]
    pos = text.find(":")
    while pos >= 0:
        m = _HEADER.search(text, max(0, pos - 40), pos + 1)
        if m is not None and m.end() == pos + 1:
            key = m.group(1).lower()
            name = _CANON.get(key)
            if name is None:
                name = "indication" if key.startswith(("reason", "clinical")) else "findings"
            if len(starts) == 1 and not text[: m.start()].strip():
                starts[0], names[0] = m.end(), name
            else:
                starts.append(m.end())
                names.append(name)
        pos = text.find(":", pos + 1)
    return starts, names


def section_at(starts: list[int], names: list[str], pos: int) -> str:
    """The name of the section holding character `pos`."""
    i = bisect_right(starts, pos) - 1
    return names[i if i >= 0 else 0]


def iter_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence, stripped of surrounding white space, in order."""
    out = []
    start = 0
    n = len(text)
    for m in _CAND.finditer(text):
        i, j = m.span()
        c = text[i]
        if c in ".!?":  # followed by white space, a quote / bracket or the end ("3.5" is not)
            if c == "." and j == i + 1 and _is_abbreviation(text, i):
                continue
            end = j
        elif c == "\n":
            if not _LINE_BREAK.match(text, i):
                continue
            end = i + 1
        else:  # bullet
            end = i + 1
        out.append((start, end))
        start = end
    out.append((start, n))
    res = []
    for s0, s1 in out:
        while s0 < s1 and text[s0].isspace():
            s0 += 1
        while s1 > s0 and text[s1 - 1].isspace():
            s1 -= 1
        if s1 > s0:
            res.append((s0, s1))
    return res


def _is_abbreviation(text: str, i: int) -> bool:
    if i == 0 or not text[i - 1].isalpha():
        return False
    k = max(text.rfind(" ", max(0, i - 8), i), text.rfind("\n", max(0, i - 8), i)) + 1
    word = text[k:i].lower()
    return word in _ABBREV or (len(word) == 1 and i >= 2 and text[i - 2] == ".")
