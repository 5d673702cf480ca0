"""Accuracy floors the labeler must keep (CI guards them): the hand-labelled CT set in
tests/_support/data, and the human labels of the shared report data (skipped when it is absent)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import labeler_accuracy as acc  # noqa: E402


def test_own_ct_gold_set_is_large_and_covers_every_system() -> None:
    import pandas as pd

    from radlens.reports.label_eval import parse_findings_cell
    from radlens.reports.vocabulary import SYSTEMS, load_vocabulary

    gold = pd.read_csv(
        ROOT / "tests" / "_support" / "data" / "chest_ct_gold.csv", dtype=str, keep_default_na=False
    )
    assert len(gold) >= 300 and gold["id"].is_unique
    vocab = load_vocabulary("chest_ct")
    items = [
        it for i, c in enumerate(gold["findings"]) for it in parse_findings_cell(c, f"row {i}")
    ]
    assert {a for a, _, _ in items} <= set(vocab.abnormalities)
    assert {vocab.abnormalities[a].system for a, _, _ in items} == set(SYSTEMS)
    assert {s for _, _, s in items} == {"present", "absent", "uncertain"}


def test_own_ct_gold_micro_f1() -> None:
    (report, located), _, _ = acc.own_gold()
    assert report.micro_f1 >= 0.95, report.table()
    assert located.micro_f1 >= 0.85, located.table()


@pytest.mark.slow
def test_ct_rate_manual_labels_micro_f1(reports_dir: Path) -> None:
    res, _, _ = acc.ct_rate(reports_dir)
    assert res.micro_f1 >= 0.95, res.table()


@pytest.mark.slow
def test_openi_negbio_gold_micro_f1(reports_dir: Path) -> None:
    res, _, _ = acc.openi(reports_dir)
    assert res.micro_f1 >= 0.90, res.table()


@pytest.mark.slow
def test_sarle_sentences_negation_check(reports_dir: Path) -> None:
    res, ok, total = acc.sarle(reports_dir)
    assert total > 100 and ok / total >= 0.85
    assert res.micro_f1 >= 0.80


@pytest.mark.slow
def test_chest_xr_is_at_least_as_good_as_chest_ct_on_held_out_openi(reports_dir: Path) -> None:
    common = sorted(acc.load_mapping("openi_negbio_xr"))
    xr, _, _ = acc.openi(reports_dir, vocab="chest_xr", labels=common, half="held_out")
    ct, _, _ = acc.openi(reports_dir, vocab="chest_ct", labels=common, half="held_out")
    assert xr.micro_f1 >= ct.micro_f1, (xr.table(), ct.table())
    assert xr.micro_f1 >= 0.91
