"""The per-label table and summary: cluster-aware AUROC CIs (method per label), micro AUROC CI
by patient bootstrap or clustered DeLong (never pooled DeLong), rate CIs, no pooled accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from _support.evaluation_synth import multilabel_frame

from radlens.evaluation import clustered_delong, delong, evaluate_predictions
from radlens.evaluation.clustered_auc import CI_CLUSTERED, CI_IMAGE
from radlens.evaluation.metrics import micro_pool


def test_headline_ci_is_clustered_when_patients_repeat():
    frame = multilabel_frame(n_per_split=(200, 400), images_per_patient=4, seed=5)
    result = evaluate_predictions(frame)
    t = result.table
    assert (t["auroc_ci_method"] == CI_CLUSTERED).all()
    ps = result.data
    expected = clustered_delong(ps.y, ps.scores, ps.patient_ids)
    np.testing.assert_allclose(t["auroc_se"], expected.se)
    image = delong(ps.y, ps.scores)
    np.testing.assert_allclose(t["auroc_image_low"], image.ci()[0])
    assert "clustered DeLong" in result.summary["ci_method_label"]


def test_one_image_per_patient_uses_image_level_delong():
    frame = multilabel_frame(n_per_split=(200, 300), images_per_patient=1, seed=5)
    result = evaluate_predictions(frame)
    assert (result.table["auroc_ci_method"] == CI_IMAGE).all()
    assert (result.table["rate_ci_method"] == "Wilson score").all()


def _repeated_images(copies: int = 5):
    """Each patient's one image repeated `copies` times with tiny score noise."""
    base = multilabel_frame(n_per_split=(100, 120), images_per_patient=1, seed=7)
    rng = np.random.default_rng(0)
    frame = base.loc[base.index.repeat(copies)].reset_index(drop=True)
    frame["id"] = frame["id"] + "-" + (frame.groupby("id").cumcount()).astype(str)
    for c in [c for c in frame.columns if c.startswith("score:")]:
        frame[c] = np.clip(frame[c] + rng.normal(0, 1e-3, len(frame)), 0, 1)
    frame.attrs = base.attrs
    return frame


def test_micro_auroc_ci_is_patient_aware():
    frame = _repeated_images()
    plain = evaluate_predictions(frame)
    s = plain.summary
    assert s["micro_auroc_ci_method"].startswith(CI_CLUSTERED)
    ps = plain.data
    pooled = delong(*micro_pool(ps.y, ps.scores))
    low, high = pooled.ci()
    width = s["micro_auroc_ci"][1] - s["micro_auroc_ci"][0]
    assert width > 1.8 * (high[0] - low[0])  # vs pooled DeLong treating pairs as independent
    assert s["micro_auroc"] == pytest.approx(pooled.auc[0])
    boot = evaluate_predictions(frame, n_bootstrap=200).summary
    assert boot["micro_auroc_ci_method"].startswith("patient-level percentile bootstrap")
    boot_width = boot["micro_auroc_ci"][1] - boot["micro_auroc_ci"][0]
    assert boot_width == pytest.approx(width, rel=0.35)


def test_rates_carry_intervals_and_no_pooled_accuracy():
    result = evaluate_predictions(multilabel_frame(seed=3))
    t = result.table
    for key in ("sensitivity", "specificity", "ppv", "npv"):
        assert (t[f"{key}_low"] <= t[key]).all() and (t[key] <= t[f"{key}_high"]).all()
    np.testing.assert_allclose(t["balanced_accuracy"], (t["sensitivity"] + t["specificity"]) / 2)
    assert "accuracy" not in result.summary and "accuracy_note" in result.summary
    assert result.summary["macro_balanced_accuracy"] == pytest.approx(t["balanced_accuracy"].mean())
    assert ((t["flagged"] >= 0) & (t["flagged"] <= 1)).all()
