"""Follow-up and covariates of a survival run, read from a cohort and checked row by row.

Where the follow-up comes from (`read_outcomes`), first match wins:

1. ``--outcomes FILE``: a CSV with ``study_id`` and the time and event columns, joined to the
   cohort by study id (every cohort study needs a row);
2. the cohort table itself, when it has the time column (a user's own table);
3. ``outcomes.csv`` beside the cohort table (the phantom's SYNTHETIC follow-up,
   `radlens.phantom.outcomes`).

The time column is ``--time-column``, else ``time``, else ``time_months``; the event column
``--event-column`` (default ``event``). Times must be finite and >= 0, events 0/1 (or
true/false). A bad cell is an error naming the file, column, row (data rows from 1; the CSV line
is row + 1), study and value. A ``log_hazard`` column (the phantom's true log hazard) is carried
along as ``true_log_hazard``: the C-index ceiling a model could reach, reported beside the model.

Covariates (`CovariateEncoder`): a column whose values are all numbers is standardised with the
training split's mean and SD; any other column is one-hot coded over the training split's
levels, the first level (sorted) being the reference (a level unseen in training codes as the
reference). The encoder's state goes into the checkpoint so evaluation codes rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radlens.core import look_up_option
from radlens.data import cohort_table_path, read_cohort
from radlens.errors import DataError

__all__ = [
    "OUTCOMES_FILE",
    "TIME_COLUMNS",
    "CovariateEncoder",
    "read_outcomes",
]

OUTCOMES_FILE = "outcomes.csv"
#: time columns looked for, in order, when --time-column is not given
TIME_COLUMNS: tuple[str, ...] = ("time", "time_months")
_TRUE_EVENTS = {"1", "1.0", "true", "yes"}
_FALSE_EVENTS = {"0", "0.0", "false", "no"}


def _where(file: Path, column: str, row: int, study: str) -> str:
    return f"{file}: column {column!r}, row {row} (CSV line {row + 1}, study {study})"


def _times(values: pd.Series, studies: Sequence[str], file: Path, column: str) -> np.ndarray:
    out = np.empty(len(values))
    for i, (raw, study) in enumerate(zip(values, studies, strict=True), start=1):
        text = "" if raw is None else str(raw).strip()
        try:
            t = float(text)
        except ValueError:
            t = float("nan")
        if not np.isfinite(t) or t < 0:
            what = "missing" if text in ("", "nan", "None") else f"value {text!r}"
            reason = "is negative" if np.isfinite(t) else "is not a number"
            raise DataError(
                f"{_where(file, column, i, study)}: {what} {reason if text else ''}".rstrip()
                + "; expected a follow-up time >= 0 (time to the event or to censoring)"
            )
        out[i - 1] = t
    return out


def _events(values: pd.Series, studies: Sequence[str], file: Path, column: str) -> np.ndarray:
    out = np.empty(len(values), dtype=bool)
    for i, (raw, study) in enumerate(zip(values, studies, strict=True), start=1):
        text = "" if raw is None else str(raw).strip().lower()
        if text not in _TRUE_EVENTS | _FALSE_EVENTS:
            raise DataError(
                f"{_where(file, column, i, study)}: value {str(raw)!r}; expected 1 (event) or 0 "
                "(censored), or true/false"
            )
        out[i - 1] = text in _TRUE_EVENTS
    return out


def _source(cohort: str | Path, table: pd.DataFrame, outcomes: str | None, time_column):
    """(frame, file) holding the follow-up, and its time column."""
    if outcomes is not None:
        file = Path(outcomes)
        if not file.is_file():
            raise DataError(f"--outcomes {file}: no such file (a CSV of study_id, time, event)")
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    else:
        file = cohort_table_path(cohort)
        frame = table
        names = [time_column] if time_column else list(TIME_COLUMNS)
        if not any(n in table.columns for n in names):
            file = file.parent / OUTCOMES_FILE
            if not file.is_file():
                raise DataError(
                    f"{cohort_table_path(cohort)}: no follow-up: the cohort table has no "
                    f"{' or '.join(map(repr, names))} column and there is no {file}; add time "
                    "and event columns, or give --outcomes CSV (study_id, time, event)"
                )
            frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    candidates = [time_column] if time_column else list(TIME_COLUMNS)
    found = next((c for c in candidates if c in frame.columns), None)
    if found is None:
        look_up_option(
            candidates[0], list(frame.columns), what=f"{file}: time column", error=DataError
        )
    return frame, file, found


def read_outcomes(
    cohort: str | Path,
    table: pd.DataFrame | None = None,
    *,
    outcomes: str | None = None,
    time_column: str | None = None,
    event_column: str = "event",
) -> pd.DataFrame:
    """Per row of the cohort table (its order): study_id, time, event (bool), and
    true_log_hazard when the source has ``log_hazard`` (module docstring: sources, checks)."""
    table = read_cohort(cohort) if table is None else table
    frame, file, tcol = _source(cohort, table, outcomes, time_column)
    for column in ("study_id", event_column):
        look_up_option(column, list(frame.columns), what=f"{file}: column", error=DataError)
    studies = frame["study_id"].astype(str).str.strip().tolist()
    dup = sorted({s for s in studies if studies.count(s) > 1}) if frame is not table else []
    if dup:
        raise DataError(f"{file}: study ids repeated: {dup[:5]} (one row per study)")
    out = pd.DataFrame(
        {
            "study_id": studies,
            "time": _times(frame[tcol], studies, file, tcol),
            "event": _events(frame[event_column], studies, file, event_column),
        }
    )
    if "log_hazard" in frame.columns:
        out["true_log_hazard"] = pd.to_numeric(frame["log_hazard"], errors="coerce").to_numpy()
    wanted = table["study_id"].astype(str).str.strip()
    out = out.set_index("study_id")
    missing = [s for s in wanted if s not in out.index]
    if missing:
        raise DataError(
            f"{file}: no follow-up for {len(missing)} cohort studies, e.g. {missing[:5]}; "
            "every study needs a time and an event"
        )
    return out.loc[wanted.tolist()].reset_index()


@dataclass
class CovariateEncoder:
    """Numeric covariates standardised, others one-hot (module docstring); JSON-able state."""

    names: list[str]
    specs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The coded columns: a numeric covariate's name, ``name=level`` per non-reference
        level of a categorical one."""
        out = []
        for spec in self.specs:
            if spec["kind"] == "numeric":
                out.append(spec["name"])
            else:
                out.extend(f"{spec['name']}={level}" for level in spec["levels"][1:])
        return out

    def fit(self, table: pd.DataFrame, rows: np.ndarray, file: Path | str) -> CovariateEncoder:
        """Learn means/SDs and levels from `rows` (the training split) of `table`."""
        self.specs = []
        for name in self.names:
            look_up_option(
                name, list(table.columns), what=f"{file}: covariate column", error=DataError
            )
            values = table[name].iloc[rows]
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().all():
                sd = float(numbers.std(ddof=0)) or 1.0
                self.specs.append(
                    {"name": name, "kind": "numeric", "mean": float(numbers.mean()), "sd": sd}
                )
            else:
                levels = sorted({str(v).strip() for v in values})
                self.specs.append({"name": name, "kind": "categorical", "levels": levels})
        return self

    def transform(self, table: pd.DataFrame, file: Path | str) -> np.ndarray:
        """(rows, len(columns)) float32 codes of every row of `table`."""
        parts = []
        studies = table["study_id"].astype(str).tolist() if "study_id" in table else None
        for spec in self.specs:
            column = table[spec["name"]]
            if spec["kind"] == "numeric":
                numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
                bad = np.flatnonzero(~np.isfinite(numbers))
                if len(bad):
                    i = int(bad[0])
                    study = studies[i] if studies else "?"
                    raise DataError(
                        f"{_where(Path(file), spec['name'], i + 1, study)}: value "
                        f"{column.iloc[i]!r}; expected a number (covariate {spec['name']!r} "
                        "is numeric in the training split)"
                    )
                parts.append(((numbers - spec["mean"]) / spec["sd"])[:, None])
            else:
                text = column.astype(str).str.strip().to_numpy()
                parts.append(
                    np.stack([text == lv for lv in spec["levels"][1:]], axis=1)
                    if len(spec["levels"]) > 1
                    else np.zeros((len(text), 0))
                )
        if not parts:
            return np.zeros((len(table), 0), dtype=np.float32)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {"names": list(self.names), "specs": self.specs}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CovariateEncoder:
        return cls(list(state["names"]), list(state["specs"]))
