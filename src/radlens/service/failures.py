"""The reason a study's scoring failed, as stored and shown: short, one line, no file paths.

Exceptions from loading a volume or running a model often name temporary files and install
folders; those say nothing to a radiologist and leak the server's layout, so every absolute path
becomes `<path>` (its file name kept when it has one) before the reason is stored or shown.
"""

from __future__ import annotations

import re

#: The longest failure reason stored or shown.
MAX_REASON_CHARS = 300

# An absolute POSIX path (/a/b...) or Windows path (C:\a\b...), not part of a relative path/word.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~-])(?:[A-Za-z]:[\\/]|/)(?:[^\s'\"\\/:,;()<>\[\]]+[\\/])+"
    r"(?P<name>[^\s'\"\\/:,;()<>\[\]]*)"
)


def strip_paths(text: str) -> str:
    """`text` with every absolute path replaced by `<path>/name` (or `<path>` for a folder)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"<path>/{name}" if name else "<path>"

    return _ABSOLUTE_PATH.sub(replace, text)


def failure_reason(text: str) -> str:
    """The stored/shown reason for a failed scoring: first line, no paths, at most
    `MAX_REASON_CHARS` characters."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    reason = strip_paths(lines[0] if lines else "unknown error")
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return reason
