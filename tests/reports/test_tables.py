"""The findings -> label matrix policy (`label_matrix`) and its two users: the CLI's wide matrix
(`findings_to_wide`) and a CT cohort's training labels (`cohort_labels`)."""

from __future__ import annotations

import numpy as np
import pytest

from radlens.errors import ReportError
from radlens.reports.labeler import Finding
from radlens.reports.tables import cohort_labels, findings_to_wide, label_matrix
from radlens.reports.vocabulary import load_vocabulary

ABNS = ("nodule", "pneumothorax", "mass")


def _f(abn: str, loc: str | None, status: str, section: str = "findings") -> Finding:
    return Finding(abn, loc, status, section, "", (0, 0))


def test_label_matrix_policies_and_most_certain_status() -> None:
    findings = [
        [_f("nodule", "right_upper_lobe", "uncertain"), _f("nodule", None, "present")],
        [_f("mass", None, "uncertain"), _f("mass", None, "absent")],
        [_f("pneumothorax", None, "present", section="indication")],  # not reporting
        [],
    ]
    cols = ["nodule", "mass", "pneumothorax", "nodule@right_upper_lobe"]
    keep = label_matrix(findings, cols)
    assert keep.dtype == np.float32 and keep.shape == (4, 4)
    assert keep[0, 0] == 1 and np.isnan(keep[0, 3])  # present beats uncertain; uncertain is NaN
    assert np.isnan(keep[1, 1])  # uncertain beats absent
    assert (keep[2:] == 0).all()  # non-reporting sections and no findings: 0
    positive, negative = (
        label_matrix(findings, cols, "positive"),
        label_matrix(findings, cols, "negative"),
    )
    assert positive[1, 1] == 1 and positive[0, 3] == 1
    assert negative[1, 1] == 0 and negative[0, 3] == 0
    assert not np.isnan(positive).any() and not np.isnan(negative).any()
    # located columns of an abnormality reported without a place: 0, or unknown on request
    unplaced = [[_f("nodule", None, "present")]]
    assert label_matrix(unplaced, cols)[0, 3] == 0
    assert np.isnan(label_matrix(unplaced, cols, unlocated="unknown")[0, 3])
    with pytest.raises(ReportError, match="uncertain policy 'maybe'"):
        label_matrix(findings, cols, "maybe")


def test_wide_matrix_is_the_label_matrix_of_every_vocabulary_label() -> None:
    vocab = load_vocabulary("chest_ct")
    findings = [[_f("nodule", "right_upper_lobe", "present"), _f("mass", None, "uncertain")]]
    wide = findings_to_wide(["r1"], findings, vocab)
    assert wide.index.name == "report_id" and (wide.dtypes == np.float32).all()
    assert wide.loc["r1", "nodule"] == 1 and wide.loc["r1", "nodule@right_upper_lobe"] == 1
    assert np.isnan(wide.loc["r1", "mass"])
    np.testing.assert_array_equal(
        wide.to_numpy(), label_matrix(findings, list(wide.columns), "keep")
    )


def test_cohort_labels_present_absent_uncertain_and_locations() -> None:
    findings = [
        [_f("nodule", "right_upper_lobe", "present"), _f("pneumothorax", None, "absent")],
        [_f("nodule", "left_lower_lobe", "present"), _f("mass", None, "uncertain")],
        [_f("nodule", None, "present")],  # location unknown -> location labels NaN
        [_f("nodule", "right_upper_lobe", "present", section="indication")],  # not reporting
        [],
    ]
    names, y = cohort_labels(findings, abnormalities=ABNS, min_location_positives=1)
    assert names[:3] == ABNS
    assert y[:, 0].tolist() == [1, 1, 1, 0, 0]
    assert y[0, 1] == 0 and y[4, 1] == 0  # absent and not mentioned are both 0
    assert np.isnan(y[1, 2])  # uncertain -> masked
    col = names.index("nodule@right_upper_lobe")
    assert y[0, col] == 1 and y[1, col] == 0 and np.isnan(y[2, col]) and y[4, col] == 0
    assert "mass@" not in " ".join(names)  # never present with a location
    # only rows 0 and 1 count as training rows: left_lower_lobe has 1 positive there
    names2, _ = cohort_labels(
        findings, abnormalities=ABNS, train_rows=np.array([0, 2, 3]), min_location_positives=1
    )
    assert "nodule@left_lower_lobe" not in names2 and "nodule@right_upper_lobe" in names2
