"""A run's headline metrics as a rich console table (what `radlens train` and the demos print)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["metrics_table"]


def metrics_table(metrics: dict[str, Any], splits: tuple[str, ...] = ("val", "test")) -> Table:
    """A rich table of headline metrics per split, titled with what they were measured on."""
    user = str(metrics.get("data_note", "")).startswith("user data")
    note = (
        ""
        if metrics.get("official_data", True)
        else " [bold yellow](user data)[/]"
        if user
        else " [bold yellow](unofficial data)[/]"
    )
    table = Table(
        title=f"{metrics.get('dataset', '')} · {metrics.get('task', '')}"
        f" · {metrics.get('model', '')}{note}"
    )
    for column in ("split", "AUC", "ACC", "extras", "images", "patients", "measured on"):
        table.add_column(
            column, justify="right" if column in ("AUC", "ACC", "images", "patients") else "left"
        )
    for split in splits:
        m = metrics.get("splits", {}).get(split)
        if not m:
            continue
        extras = ", ".join(f"{k} {m[k]:.3f}" for k in ("mae", "qwk") if k in m)
        table.add_row(
            split,
            f"{m['auc']:.4f}",
            f"{m['acc']:.4f}",
            extras,
            str(m["n_images"]),
            str(m["n_patients"]),
            m.get("measured_on", ""),
        )
    return table
