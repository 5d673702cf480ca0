"""Section headers and sentence / clause boundaries of a report (character offsets, one pass each).

Sections: a header such as ``FINDINGS:`` or ``Impression:`` starts a section; text before the first
header is ``findings``. Sentences end at ``. ! ?`` followed by white space or the end (not after a
known abbreviation such as "e.g." or "Dr.", not inside numbers such as "3.5"), at blank lines, at
list markers (``1.`` / ``-`` / ``•`` at a line start) and at bullets. A semicolon ends a clause
(cue scope) but not a sentence.
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
    r"[ \t]*:",
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

_BOUND = re.compile(r"[.!?]+(?=[\s\"')\]]|$)|;|\n[ \t]*\n|\n(?=[ \t]*(?:\d{1,2}[.)]|[-•*])\s)|•")
_ABBREV = frozenset(
    "dr mr mrs ms vs eg ie e.g i.e approx fig no nos st cf etc al resp incl sr jr ca".split()
)


def find_sections(text: str) -> tuple[list[int], list[str]]:
    """Section start offsets (ascending, first is 0) and their canonical names."""
    starts, names = [0], ["findings"]
    for m in _HEADER.finditer(text):
        key = m.group(1).lower()
        name = _CANON.get(key)
        if name is None:
            name = "indication" if key.startswith(("reason", "clinical")) else "findings"
        if starts[-1] == 0 and len(starts) == 1 and not text[: m.start()].strip():
            starts[0], names[0] = m.end(), name
            continue
        starts.append(m.end())
        names.append(name)
    return starts, names


def section_at(starts: list[int], names: list[str], pos: int) -> str:
    """The name of the section holding character `pos`."""
    i = bisect_right(starts, pos) - 1
    return names[i if i >= 0 else 0]


def find_boundaries(text: str) -> tuple[list[int], list[int]]:
    """Sentence starts and scope-unit starts (sentences plus semicolon clauses), both ascending.

    Both lists begin with 0. A scope unit never crosses a sentence boundary.
    """
    sentences = [0]
    units = [0]
    for m in _BOUND.finditer(text):
        token = m.group()
        end = m.end()
        if token == ";":
            units.append(end)
            continue
        if token[0] == "." and len(token) == 1:
            j = m.start()
            k = j
            while k > 0 and (text[k - 1].isalpha() or text[k - 1] == "."):
                k -= 1
            word = text[k:j].lower()
            if word in _ABBREV or (len(word) == 1 and word.isalpha() and j >= 2 and text[j - 2] == "."):
                continue
        sentences.append(end)
        units.append(end)
    return sentences, units


def sentence_span(text: str, sentences: list[int], pos: int) -> tuple[int, int]:
    """(start, end) offsets of the sentence holding `pos`, stripped of surrounding white space."""
    i = bisect_right(sentences, pos) - 1
    start = sentences[i]
    end = sentences[i + 1] if i + 1 < len(sentences) else len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
