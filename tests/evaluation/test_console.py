"""The terminal table: cluster-aware CI marked, flagged fraction beside prevalence, caveats."""

from __future__ import annotations

from _support.evaluation_synth import multilabel_frame
from rich.console import Console

from radlens.evaluation import evaluate_predictions, result_table


def test_console_table_shows_method_flagged_and_caveat():
    frame = multilabel_frame(n_per_split=(60, 200), prevalence=0.1, images_per_patient=2, seed=2)
    result = evaluate_predictions(frame, min_val_positives=10)
    console = Console(width=200, record=True)
    console.print(result_table(result))
    text = console.export_text()
    assert "flagged" in text and "prev." in text
    assert "]c" in text and "c = clustered DeLong" in text
    assert (result.table["threshold_caveat"] != "").any()  # ~6 val positives per label
    assert "val positives (< 10)" in text
