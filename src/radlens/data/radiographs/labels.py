"""Per-image label tables (CSV) -> task, label names and a float32 label matrix.

Task inference when not given: one label column with exactly 2 distinct values -> "binary"; one
column with more than 2 distinct values -> "multi-class" (integers keep their numeric order, text
values sort alphabetically); several columns holding only 0 / 1 / blank -> "multi-label" with NaN
for blanks (unknown, masked out of loss and metrics). Single-label tasks may not have blanks.
Class names: text values as written; numeric values as "<column>=<value>" so predictions still
carry a name (e.g. "pneumonia=0", "pneumonia=1").

Label values are checked before anything is trained: `label_values` (``--label-values 0,1``)
declares a single-label column's classes (in that order) and any other value is an error naming
the column, the lines and the expected values. Without it, a column whose values are mostly
numbers holding a few words (a ``yes`` typed into a 0/1 column) is the same error, instead of
silently becoming one more class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radlens.data.arrays import TASK_TYPES
from radlens.errors import DataError

_BLANKS = {"", "nan", "na", "n/a", "none", "null"}


def _is_blank(value: str) -> bool:
    return value.strip().lower() in _BLANKS


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _rows_text(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r + 2) for r in rows[:10])  # +2: header line and 1-based lines
    return shown + (f" (+{len(rows) - 10} more)" if len(rows) > 10 else "")


def _same_value(value: str, expected: str) -> bool:
    """Text equal, or both numbers of the same value ("1" and "1.0")."""
    if value == expected:
        return True
    a, b = _as_number(value), _as_number(expected)
    return a is not None and a == b


def _check_values(
    values: Sequence[str], name: str, expected: Sequence[str], where: str, hint: str
) -> None:
    """DataError naming the column, the first lines (with their values) and the expected values
    when a value of `values` is not one of `expected`."""
    bad = [i for i, v in enumerate(values) if not any(_same_value(v, e) for e in expected)]
    if not bad:
        return
    shown = ", ".join(f"line {i + 2}: {values[i]!r}" for i in bad[:5])
    more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
    raise DataError(
        f"{where}: label column {name!r} has {len(bad)} value(s) outside the {hint} values "
        f"{', '.join(expected)}: {shown}{more}; fix those rows"
        + ("" if hint == "declared" else " or declare the classes with --label-values")
    )


def _declared_codes(
    stripped: list[str], name: str, label_values: Sequence[str], where: str
) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names and codes of a column whose classes are declared (in declared order)."""
    declared = [str(v).strip() for v in label_values]
    if len(set(declared)) != len(declared) or len(declared) < 2:
        raise DataError(
            f"{where}: --label-values {','.join(declared)} for column {name!r}: declare at least "
            "2 distinct values (e.g. 0,1 or 0,1,2,3)"
        )
    _check_values(stripped, name, declared, where, "declared")
    numeric = all(_as_number(v) is not None for v in declared)
    names = tuple(f"{name}={v}" if numeric else v for v in declared)
    codes = [next(i for i, e in enumerate(declared) if _same_value(v, e)) for v in stripped]
    return names, np.array(codes, dtype=np.float32)


def _mostly_numbers(stripped: list[str], name: str, where: str) -> None:
    """A column of numbers with a few words in it (more than half numbers): DataError."""
    numbers = sorted({int(n) for v in stripped if (n := _as_number(v)) is not None})
    words = sum(_as_number(v) is None for v in stripped)
    if numbers and words and words < len(stripped) / 2:
        _check_values(stripped, name, [str(n) for n in numbers], where, "inferred")


def _single_label(
    column: pd.Series,
    name: str,
    task: str | None,
    where: str,
    label_values: Sequence[str] | None = None,
) -> tuple[str, tuple[str, ...], np.ndarray]:
    values = column.astype(str).tolist()
    blanks = [i for i, v in enumerate(values) if _is_blank(v)]
    if blanks:
        raise DataError(
            f"{where}: label column {name!r} is blank on line(s) {_rows_text(blanks)}; "
            "single-label tasks need a label on every row (drop those rows)"
        )
    stripped = [v.strip() for v in values]
    numbers = [_as_number(v) for v in stripped]
    if label_values is not None:
        names, codes = _declared_codes(stripped, name, label_values, where)
    elif all(n is not None for n in numbers):
        if any(float(n).is_integer() is False for n in numbers):  # type: ignore[union-attr]
            raise DataError(f"{where}: label column {name!r} holds non-integer numbers")
        ints = [int(n) for n in numbers]  # type: ignore[arg-type]
        classes_num = sorted(set(ints))
        names = tuple(f"{name}={c}" for c in classes_num)
        index = {c: i for i, c in enumerate(classes_num)}
        codes = np.array([index[v] for v in ints], dtype=np.float32)
    else:
        _mostly_numbers(stripped, name, where)
        classes_txt = sorted(set(stripped))
        names = tuple(classes_txt)
        index_txt = {c: i for i, c in enumerate(classes_txt)}
        codes = np.array([index_txt[v] for v in stripped], dtype=np.float32)
    n_classes = len(names)
    inferred = "binary" if n_classes == 2 else "multi-class"
    if n_classes < 2:
        raise DataError(
            f"{where}: label column {name!r} has only {n_classes} distinct value(s); "
            "a classification task needs at least 2"
        )
    if task is None:
        task = inferred
    elif task == "binary" and n_classes != 2:
        raise DataError(
            f"{where}: task 'binary' needs 2 classes but column {name!r} has {n_classes}: "
            f"{', '.join(names[:10])}"
        )
    elif task == "multi-label":
        raise DataError(f"{where}: task 'multi-label' needs several 0/1 label columns")
    return task, names, codes[:, None]


def _multi_label(frame: pd.DataFrame, columns: Sequence[str], where: str) -> np.ndarray:
    out = np.full((len(frame), len(columns)), np.nan, dtype=np.float32)
    for j, col in enumerate(columns):
        for i, raw in enumerate(frame[col].astype(str).tolist()):
            if _is_blank(raw):
                continue
            number = _as_number(raw.strip())
            if number not in (0.0, 1.0):
                raise DataError(
                    f"{where}: multi-label column {col!r} line {i + 2} has {raw!r}; expected 0, "
                    "1 or blank (unknown)"
                )
            out[i, j] = number
    return out


def parse_labels(
    frame: pd.DataFrame,
    label_columns: Sequence[str],
    *,
    task: str | None = None,
    where: str = "labels table",
    label_values: Sequence[str] | None = None,
) -> tuple[str, tuple[str, ...], np.ndarray]:
    """Labels of `frame` (all columns read as text) -> (task, label_names, (N, L) float32).

    `label_values` declares the classes of a single label column (e.g. ("0", "1")); multi-label
    columns always hold 0 / 1 / blank."""
    if task is not None and task not in TASK_TYPES:
        raise DataError(f"{where}: unknown task {task!r}; expected one of {TASK_TYPES}")
    missing = [c for c in label_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: label column(s) {missing} not found; columns are {list(frame.columns)}"
        )
    if not label_columns:
        raise DataError(f"{where}: no label columns (pass label_columns / --label-column)")
    if len(label_columns) == 1 and task != "multi-label":
        col = label_columns[0]
        return _single_label(frame[col], col, task, where, label_values)
    if label_values is not None and {str(v).strip() for v in label_values} != {"0", "1"}:
        raise DataError(
            f"{where}: --label-values {','.join(map(str, label_values))} declares the classes of "
            f"one label column; the {len(label_columns)} multi-label columns "
            f"{list(label_columns)[:5]} hold 0, 1 or blank"
        )
    if task not in (None, "multi-label"):
        raise DataError(
            f"{where}: task {task!r} takes one label column, got {len(label_columns)}: "
            f"{list(label_columns)}"
        )
    return "multi-label", tuple(label_columns), _multi_label(frame, label_columns, where)
