"""One way to check a user's choice against the valid ones ("did you mean") and to read shapes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from radlens.errors import ConfigError, RadlensError


def suggest(value: object, options: Iterable[object], *, n: int = 1, cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' for the closest option(s) to `value` (case-insensitive), else ''."""
    by_lower = {str(o).lower(): str(o) for o in options}
    close = difflib.get_close_matches(str(value).lower(), list(by_lower), n=n, cutoff=cutoff)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"


def look_up_option(
    value: object,
    options: Iterable[str],
    *,
    what: str,
    error: type[RadlensError] = ConfigError,
    case_sensitive: bool = True,
    n: int = 1,
    cutoff: float = 0.6,
) -> str:
    """Return `value` when it is one of `options`, else raise `error` naming `what` (a flag or a
    field: "--model", "window"), the bad value, the closest option and the valid ones."""
    choices = list(options)
    key = str(value)
    if key in choices:
        return key
    if not case_sensitive:
        by_lower = {c.lower(): c for c in choices}
        if key.lower() in by_lower:
            return by_lower[key.lower()]
    hint = suggest(key, choices, n=n, cutoff=cutoff)
    shown = ", ".join(choices) if len(choices) <= 30 else ", ".join(choices[:30]) + ", ..."
    raise error(f"{what} {key!r} is not known{hint} [expected one of: {shown}]")


def parse_shape(
    text: str | Sequence[int] | None,
    *,
    default: tuple[int, int, int],
    what: str = "shape",
    low: int = 16,
    high: int = 512,
) -> tuple[int, int, int]:
    """'64,96,96' or '64x96x96' (Z,Y,X) -> (64, 96, 96), each in low..high; None -> default."""
    if text is None:
        return default
    parts = (
        [p for p in text.replace("x", ",").split(",") if p.strip()]
        if isinstance(text, str)
        else list(text)
    )
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or not all(low <= v <= high for v in shape):
        raise ConfigError(
            f"{what} {text!r}: expected three integers Z,Y,X in {low}..{high}, e.g. '64,96,96'"
        )
    return shape  # type: ignore[return-value]
