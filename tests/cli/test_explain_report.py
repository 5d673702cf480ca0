"""`radlens explain` re-renders report.html: the evaluation choices read back from evaluation.json
(end to end: tests/explain/test_run.py::test_cli_explain_updates_the_evaluated_report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.cli.explain_report import operating_point_spec, refresh_report
from radlens.evaluation.metrics import parse_operating_point


@pytest.mark.parametrize(
    "spec", ["youden", "fixed:0.3", "sensitivity:0.95", "ppv:0.5", "budget:0.1", "budget:0.025"]
)
def test_operating_point_round_trips_through_its_description(spec: str) -> None:
    op = parse_operating_point(spec)
    assert parse_operating_point(operating_point_spec(op.describe())) == op


def test_a_run_without_evaluation_is_left_alone(tmp_path: Path) -> None:
    assert refresh_report(tmp_path, tmp_path / "heatmaps") is None
    (tmp_path / "evaluation.json").write_text('{"split": "train"}', encoding="utf-8")
    assert refresh_report(tmp_path, tmp_path / "heatmaps") is None
