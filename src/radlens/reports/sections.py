"""Section headers and sentence boundaries of a report (character offsets).

Sections: a header such as ``FINDINGS:`` or ``Impression:`` starts a section; text before the first
header is ``findings``. Sentences end at ``. ! ?`` followed by white space or the end (not after a
known abbreviation such as "e.g." or "Dr.", not inside numbers such as "3.5"), at blank lines, at
list markers (``1.`` / ``-`` / ``•`` at a line start), before a header line and at bullets. A
semicolon ends a clause (cue scope, see the labeler) but not a sentence.
"""

from __future__ import annotations

import re

#: Sections whose terms never become "present" findings (reason for the exam, prior history, ...).
NON_REPORTING = frozenset({"indication", "history", "technique", "comparison"})

_HEADER = re.compile(
    r"(?:^|(?<=[\s.;]))"
    r"(findings?|impressions?|conclusions?|opinion|summary|indications?|"
    r"reason for (?:exam|examination|study|request)|"
    r"clinical (?:history|information|indication|details|data)|history|"
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

_ABBREV = (
    "dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "approx", "fig", "no", "nos", "st", "cf", "etc",
    "al", "resp", "incl", "sr", "jr", "ca", "eg", "ie",
)  # fmt: skip
ABBREV_SET = frozenset(_ABBREV)
_NOT_AFTER = "".join(rf"(?<!\b(?i:{re.escape(a)})\.)" for a in _ABBREV)
_HEAD = r"[A-Z][A-Za-z ,&/]{1,40}:[ \t]*"  # a "Lungs and airways:" line header
BOUND = re.compile(
    r"([.!?]+)(?=[\s\"')\]\u00a0]|$)"
    + _NOT_AFTER  # ". " not after "Dr", not "3.5"
    + r"[ \t]*(?:\n[ \t]*(?:"
    + _HEAD
    + r")?)?\s*"
    r"|\n(?:[ \t]*(?=\n)|(?=[ \t]*(?:\d{1,2}[.)]|[-•*])\s)|[ \t]*" + _HEAD + r")\s*"
    r"|•\s*"
)
LEAD = re.compile(r"\s*(?:" + _HEAD + r")?\s*")


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
