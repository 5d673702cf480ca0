"""Thresholds at a target PPV or an alerts budget, and the small-validation caveat / refusal."""

from __future__ import annotations

import numpy as np
import pytest
from _support.evaluation_synth import multilabel_frame

from radlens.errors import ConfigError
from radlens.evaluation import evaluate_predictions, prediction_set
from radlens.evaluation.metrics import choose_thresholds, parse_operating_point
from radlens.evaluation.thresholds import select_thresholds

# scores descending: 0.9 P, 0.8 N, 0.7 P, 0.6 P, 0.5 N, 0.4 N, 0.3 P, 0.2 N, 0.1 N, 0.05 N
Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], dtype=float)[:, None]
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])[:, None]


def test_target_ppv_takes_the_lowest_threshold_reaching_it():
    # PPV at 0.9: 1, 0.8: 1/2, 0.7: 2/3, 0.6: 3/4, 0.5: 3/5, 0.3: 4/7
    assert choose_thresholds(Y, S, parse_operating_point("ppv:0.7"))[0] == 0.6
    assert choose_thresholds(Y, S, parse_operating_point("ppv:0.55"))[0] == 0.3
    assert choose_thresholds(Y, S, parse_operating_point("precision:1"))[0] == 0.9


def test_alerts_budget_flags_at_most_that_fraction():
    assert choose_thresholds(Y, S, parse_operating_point("budget:0.3"))[0] == 0.7
    assert choose_thresholds(Y, S, parse_operating_point("alerts:0.25"))[0] == 0.8
    assert choose_thresholds(Y, S, parse_operating_point("budget:0.05"))[0] == np.inf
    op = parse_operating_point("budget:0.1")
    assert "10.0%" in op.describe()


def test_bad_operating_points():
    with pytest.raises(ConfigError, match=r"must lie in \(0, 1\]"):
        parse_operating_point("budget:1.5")
    with pytest.raises(ConfigError, match="did you mean"):
        parse_operating_point("ppvv:0.5")


def _frame():
    frame = multilabel_frame(labels=("common", "rare"), n_per_split=(200, 300), seed=4)
    val = frame["split"] == "val"
    rare = frame.index[val & (frame["target:rare"] == 1)]
    frame.loc[rare[4:], "target:rare"] = 0.0  # 4 val positives of "rare"
    return frame


def test_small_validation_label_is_flagged_or_refused():
    frame = _frame()
    flagged = evaluate_predictions(frame, min_val_positives=10)
    row = flagged.table.set_index("label").loc["rare"]
    assert row["threshold_n_positive"] == 4 and np.isfinite(row["threshold"])
    assert "rests on 4 val positives (< 10)" in row["threshold_caveat"]
    assert "rests on 4 val positives" in row["note"]
    assert flagged.table.set_index("label").loc["common", "threshold_caveat"] == ""
    assert flagged.threshold_provenance["n_caveats"] == 1
    refused = evaluate_predictions(frame, min_val_positives=10, small_val_policy="refuse")
    row = refused.table.set_index("label").loc["rare"]
    assert np.isnan(row["threshold"]) and np.isnan(row["sensitivity"])
    assert "threshold refused: 4 val positives" in row["note"]
    assert np.isfinite(refused.table.set_index("label").loc["common", "threshold"])
    lenient = evaluate_predictions(frame, min_val_positives=3)
    assert lenient.table["threshold_caveat"].eq("").all()


def test_policy_is_checked():
    frame = _frame()
    ps, val = prediction_set(frame, "test"), prediction_set(frame, "val")
    with pytest.raises(ConfigError, match="did you mean 'refuse'"):
        select_thresholds(ps, val, parse_operating_point("youden"), policy="refuze")
    with pytest.raises(ConfigError, match=">= 0"):
        select_thresholds(ps, val, parse_operating_point("youden"), min_positives=-1)


def test_urgency_rates_flagged_beside_truth():
    from radlens.errors import EvaluationError
    from radlens.evaluation import urgency_rates, urgency_rates_text

    flagged = ["critical", "critical", "critical", "urgent", "none", "routine"]
    truth = ["critical", "none", "routine", "urgent", "critical", "none"]
    rates = urgency_rates(flagged, truth).set_index("urgency")
    crit = rates.loc["critical"]
    assert (crit["n_flagged"], crit["n_true"], crit["n_flagged_and_true"]) == (3, 2, 1)
    assert crit["flagged_fraction"] == pytest.approx(0.5)
    assert crit["flagged_over_true"] == pytest.approx(1.5)
    assert rates.loc["routine", "n_true"] == 1
    text = urgency_rates_text(rates.reset_index())
    assert "critical: flagged 3 (50.0%) vs truly critical 2 (33.3%)" in text
    with pytest.raises(EvaluationError, match="one of each per study"):
        urgency_rates(["critical"], [])
