"""The ground floor: option look-up, shape parsing, run-directory files and the run plan."""

from radlens.core.options import look_up_option, parse_shape, suggest
from radlens.core.plan import PLAN_VERSION, DataSource, RunPlan, read_plan, write_plan
from radlens.core.rundir import (
    CHECKPOINT,
    CONFIG,
    EVALUATION,
    LAST,
    METRICS,
    PLAN,
    PREDICTIONS,
    REPORT,
    atomic_save,
    atomic_write_json,
    atomic_write_npz,
    atomic_write_text,
    read_predictions,
    write_predictions,
)

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "EVALUATION",
    "LAST",
    "METRICS",
    "PLAN",
    "PLAN_VERSION",
    "PREDICTIONS",
    "REPORT",
    "DataSource",
    "RunPlan",
    "atomic_save",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "look_up_option",
    "parse_shape",
    "read_plan",
    "read_predictions",
    "suggest",
    "write_plan",
    "write_predictions",
]
