"""Draft structured reports from findings / predictions (radlens.reports.writer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.errors import ReportError
from radlens.reports.labeler import Finding, label
from radlens.reports.writer import certainty_of, draft_report_text, write_draft

LOBES = [
    "right_upper_lobe",
    "right_middle_lobe",
    "right_lower_lobe",
    "left_upper_lobe",
    "lingula",
    "left_lower_lobe",
]


def test_certainty_bands_and_status() -> None:
    assert certainty_of(0.95) == "definite"
    assert certainty_of(0.7) == "likely"
    assert certainty_of(0.4) == "possible"
    assert certainty_of(0.1) == "absent"
    assert certainty_of(status="present") == "definite"
    assert certainty_of(status="uncertain") == "possible"
    assert certainty_of(0.99, status="absent") == "absent"
    assert certainty_of(0.99, status="uncertain") == "possible"  # hedged text stays hedged


def test_one_sentence_per_finding_with_locations_grouped_by_system() -> None:
    preds = [
        {"abnormality": "nodule", "location": "right_upper_lobe", "score": 0.7},
        {"abnormality": "nodule", "location": "left_lower_lobe", "score": 0.65},
        {"abnormality": "pleural_effusion", "location": "left_pleura", "score": 0.92},
        {"abnormality": "pneumothorax", "location": "right_pleura", "score": 0.05},
        {"abnormality": "cardiomegaly", "location": "heart", "score": 0.4},
    ]
    draft = write_draft(preds)
    text = draft.text
    assert "Likely lung nodule in the right upper lobe and left lower lobe." in text
    assert "Pleural effusion in the left pleura." in text
    assert "Possible cardiomegaly in the heart." in text
    assert "No pneumothorax." in text  # critical, assessed, not found
    lines = text.splitlines()
    lungs = next(i for i, line in enumerate(lines) if line.startswith("Lungs:"))
    pleura = next(i for i, line in enumerate(lines) if line.startswith("Pleura:"))
    heart = next(i for i, line in enumerate(lines) if line.startswith("Heart and pericardium:"))
    assert lungs < pleura < heart
    # impression: urgent effusion before routine nodule and cardiomegaly; no negative in it
    impression = text.split("IMPRESSION:")[1]
    assert impression.index("Pleural effusion") < impression.index("nodule")
    assert "No pneumothorax" not in impression
    assert draft.positives[0].abnormality == "pleural_effusion"


def test_critical_positive_is_flagged_first_and_not_negated() -> None:
    draft = write_draft(
        [
            {"abnormality": "nodule", "location": None, "score": 0.99},
            {"abnormality": "pneumothorax", "location": "left_pleura", "score": 0.9},
        ]
    )
    first = draft.text.split("IMPRESSION:")[1].strip().splitlines()[0]
    assert first == "1. Pneumothorax in the left pleura. [critical]"
    assert "No pneumothorax" not in draft.text
    assert "Lung nodule." in draft.text  # no location -> no "in the"


def test_unassessed_critical_findings_are_not_negated_unless_asked() -> None:
    text = draft_report_text([{"abnormality": "nodule", "location": None, "score": 0.1}])
    assert "pulmonary embolism" not in text.lower()
    assert "No acute abnormality identified by the model." in text
    text = draft_report_text(
        [{"abnormality": "nodule", "location": None, "score": 0.1}],
        always_negate=("pulmonary_embolism",),
    )
    assert "No pulmonary embolism." in text


def test_labeler_findings_are_accepted() -> None:
    findings = label(
        "FINDINGS: Right upper lobe nodule. No pleural effusion. Possible small "
        "right pneumothorax.\nIMPRESSION: Nodule."
    )
    text = draft_report_text(findings)
    assert "Lung nodule in the right upper lobe." in text
    assert "Possible pneumothorax" in text
    assert "pleural effusion" not in text.lower()  # absent and not critical: not mentioned


def test_draft_reads_back_through_the_labeler() -> None:
    preds = [
        {"abnormality": "consolidation", "location": "left_lower_lobe", "score": 0.95},
        {"abnormality": "pneumothorax", "location": "right_pleura", "score": 0.02},
        {"abnormality": "mass", "location": "right_upper_lobe", "score": 0.5},
    ]
    found = {(f.abnormality, f.status) for f in label(draft_report_text(preds))}
    assert ("consolidation", "present") in found
    assert ("pneumothorax", "absent") in found
    assert ("mass", "uncertain") in found


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"abnormality": "unicorn", "location": None, "score": 0.9}, "not in vocabulary"),
        ({"abnormality": "nodule", "location": None, "score": 1.5}, "outside"),
        ({"abnormality": "nodule", "location": None}, "score or a status"),
        ({"abnormality": "nodule", "location": None, "status": "maybe"}, "status 'maybe'"),
    ],
)
def test_bad_findings_raise(item: dict, match: str) -> None:
    with pytest.raises(ReportError, match=match):
        write_draft([item])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["nodule", "mass", "consolidation", "emphysema"]),
            st.sampled_from(LOBES),
            st.floats(0.0, 1.0),
        ),
        max_size=8,
    )
)
def test_every_reported_finding_has_exactly_one_sentence(items: list) -> None:
    preds = [Finding(a, loc, "present", "findings", "", (0, 0)) for a, loc, _ in items]
    scored = [{"abnormality": a, "location": loc, "score": s} for a, loc, s in items]
    for findings in (preds, scored):
        draft = write_draft(findings)
        keys = [(s.abnormality, s.certainty) for s in draft.sentences]
        assert len(keys) == len(set(keys))
        for s in draft.sentences:
            assert s.text in draft.text
    shown = {s.abnormality for s in write_draft(scored).positives}
    assert shown == {a for a, _, s in items if s >= 0.35}
