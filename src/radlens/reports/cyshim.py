"""Stand-in for the ``cython`` module when the labeler kernel runs as plain Python.

`radlens.reports.kernel` is written in Cython's "pure Python mode": compiled, its decorators and
type annotations become C; without Cython installed it imports this module instead, where every
decorator returns the function unchanged and ``compiled`` is False.
"""

from __future__ import annotations

from typing import Any

compiled = False
NULL = None


def _identity(*args: Any, **kwargs: Any) -> Any:
    """A decorator used bare (``@cython.cfunc``) or called (``@cython.boundscheck(False)``)."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return _identity


cfunc = ccall = cclass = final = inline = locals = boundscheck = wraparound = _identity
exceptval = initializedcheck = cdivision = _identity


def declare(_type: Any = None, value: Any = None, **_kwargs: Any) -> Any:
    """``cython.declare(type, value)`` is `value` in Python."""
    return value


def cast(_type: Any, value: Any, **_kwargs: Any) -> Any:
    """``cython.cast(type, value)`` is `value` in Python."""
    return value


# type names (only ever used in annotations and declare/cast calls)
int = Py_ssize_t = bint = Py_UCS4 = long = longlong = ulonglong = p_char = void = object
uchar = p_uint = object
