"""Labeler behaviour: negation / uncertainty scope, lists, normal statements, sections, locations,
evidence spans, bad input, and hypothesis properties (any text labels; spans cite the text)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radlens.errors import ReportError
from radlens.reports.labeler import Finding, explain, label, label_many
from radlens.reports.matcher import compiled_for, normalize


def status(text: str, vocab: str = "chest_ct") -> dict[str, str]:
    """Strongest status per abnormality."""
    rank = {"absent": 0, "uncertain": 1, "present": 2}
    out: dict[str, str] = {}
    for f in label(text, vocab):
        if f.abnormality not in out or rank[f.status] > rank[out[f.abnormality]]:
            out[f.abnormality] = f.status
    return out


def locs(text: str, abn: str) -> set[str | None]:
    return {f.location for f in label(text) if f.abnormality == abn}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "No pleural effusion, pneumothorax or consolidation.",
            {"pleural_effusion": "absent", "pneumothorax": "absent", "consolidation": "absent"},
        ),
        (
            "No pneumothorax, but there is a small right pleural effusion.",
            {"pneumothorax": "absent", "pleural_effusion": "present"},
        ),
        ("Pneumonia cannot be excluded.", {"pneumonia": "uncertain"}),
        ("Possible small left pleural effusion.", {"pleural_effusion": "uncertain"}),
        ("Findings suggestive of pneumonia.", {"pneumonia": "uncertain"}),
        ("There was no finding suggestive of pneumonia.", {"pneumonia": "absent"}),
        ("The right pleural effusion has resolved.", {"pleural_effusion": "absent"}),
        ("The pneumothorax is no longer visible.", {"pneumothorax": "absent"}),
        ("Stable mediastinal lymphadenopathy.", {"lymphadenopathy": "present"}),
        ("Unchanged small left pleural effusion.", {"pleural_effusion": "present"}),
        ("No change in the size of the nodule.", {"nodule": "present"}),
        ("Heart size is normal.", {"cardiomegaly": "absent"}),
        ("The heart is not enlarged.", {"cardiomegaly": "absent"}),
        ("The heart is enlarged.", {"cardiomegaly": "present"}),
        (
            "Mediastinal main vascular structures, heart contour, size are normal.",
            {"cardiomegaly": "absent"},
        ),
        (
            "Pleural effusion-thickening was not observed.",
            {"pleural_effusion": "absent", "pleural_thickening": "absent"},
        ),
        ("Mediastinitis?", {"mediastinitis": "uncertain"}),
        ("Atelectasis versus pneumonia.", {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
        (
            "Not only consolidation but also effusion is present.",
            {"consolidation": "present", "pleural_effusion": "present"},
        ),
        ("Normal chest CT.", {}),
    ],
)
def test_status_rules(text: str, expected: dict[str, str]) -> None:
    assert status(text) == expected


def test_locations_from_own_clause_and_bilateral() -> None:
    text = "Nodule in the right upper lobe and consolidation in the left lower lobe."
    assert locs(text, "nodule") == {"right_upper_lobe"}
    assert locs(text, "consolidation") == {"left_lower_lobe"}
    assert locs("Bilateral pleural effusions.", "pleural_effusion") == {
        "right_pleura",
        "left_pleura",
    }
    assert locs("Bibasilar atelectasis.", "atelectasis") == {"right_lower_lobe", "left_lower_lobe"}
    both = "Consolidation and atelectasis in the left lower lobe."
    assert locs(both, "consolidation") == locs(both, "atelectasis") == {"left_lower_lobe"}
    assert locs("RLL consolidation.", "consolidation") == {"right_lower_lobe"}
    assert locs("Effusion on the left.", "pleural_effusion") == {"left_pleura"}
    assert locs("Mild emphysema.", "emphysema") == {None}
    assert locs("Mild cardiomegaly.", "cardiomegaly") == {"heart"}  # default_location
    aorta = "Extensive calcification of the aortic arch and descending aorta."
    assert locs(aorta, "arterial_wall_calcification") == {"aorta"}
    header = "Lymph nodes: Bilateral hilar lymphadenopathy."
    assert locs(header, "lymphadenopathy") == {"right_hilum", "left_hilum"}


def test_site_refines_the_finding() -> None:
    got = status("Calcifications are observed in the aorta and coronary arteries.")
    assert got == {
        "arterial_wall_calcification": "present",
        "coronary_artery_calcification": "present",
    }
    assert status("Hypodense nodule in the liver.") == {"liver_lesion": "present"}
    assert status("Minimal effusion in the pericardium.") == {"pericardial_effusion": "present"}


def test_sections_history_never_present() -> None:
    text = "INDICATION: rule out pneumonia. HISTORY: lung cancer. FINDINGS: No effusion."
    fs = label(text)
    by = {f.abnormality: f for f in fs}
    assert by["pneumonia"].section == "indication" and by["pneumonia"].status == "uncertain"
    assert by["mass"].section == "history" and by["mass"].status != "present"
    assert (
        by["pleural_effusion"].section == "findings" and by["pleural_effusion"].status == "absent"
    )


def test_reporting_section_wins_over_history() -> None:
    text = "HISTORY: Pulmonary embolism. IMPRESSION: No pulmonary embolism."
    (f,) = [f for f in label(text) if f.abnormality == "pulmonary_embolism"]
    assert f.status == "absent" and f.section == "impression"


def test_evidence_span_sentence_and_cues() -> None:
    text = "Lungs are clear.\nThere is no pleural effusion. Heart size is normal."
    fs = {f.abnormality: f for f in label(text)}
    f = fs["pleural_effusion"]
    assert text[f.span[0] : f.span[1]] == "pleural effusion"
    assert f.sentence == "There is no pleural effusion."
    assert f.cues == ("no",)
    assert isinstance(f, Finding)
    lines = explain(text)
    assert any("absent" in line and "'no'" in line for line in lines)


def test_sentence_splitting_abbreviations_numbers_lists() -> None:
    text = "A 3.5 cm mass, e.g. in the RUL. 1. No effusion 2. Small pneumothorax"
    got = status(text)
    assert got == {"mass": "present", "pleural_effusion": "absent", "pneumothorax": "present"}


def test_chest_xr_vocabulary() -> None:
    got = status(
        "Heart size is normal. No focal consolidation. Left basilar atelectasis. "
        "Right IJ central line in place.",
        "chest_xr",
    )
    assert got == {
        "cardiomegaly": "absent", "consolidation": "absent", "atelectasis": "present",
        "support_devices": "present",
    }  # fmt: skip


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x00", "????"])
def test_empty_and_degenerate_text_gives_no_findings(text: str) -> None:
    assert label(text) == []


def test_nul_bytes_read_as_spaces() -> None:
    fs = label("No\x00pleural\x00effusion.")
    assert [(f.abnormality, f.status) for f in fs] == [("pleural_effusion", "absent")]


def test_non_string_input_is_a_report_error() -> None:
    with pytest.raises(ReportError, match="must be str, got bytes"):
        label(b"no effusion")  # type: ignore[arg-type]
    with pytest.raises(ReportError, match="must be str, got NoneType"):
        label_many(["ok", None])  # type: ignore[list-item]


@pytest.mark.slow
def test_ten_megabyte_report_is_labelled() -> None:
    unit = "Small right pleural effusion. No pneumothorax. Nodule in the left upper lobe. "
    text = unit * (10_000_000 // len(unit) + 1)
    fs = status(text)
    assert fs == {"pleural_effusion": "present", "pneumothorax": "absent", "nodule": "present"}


def test_too_long_text_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import radlens.reports.labeler as mod

    monkeypatch.setattr(mod, "MAX_CHARS", 10)
    with pytest.raises(ReportError, match="characters"):
        label("x" * 11)


PHRASES = [
    "no", "pleural effusion", "nodule", "right upper lobe", "possible", "bilateral", "heart size",
    "is normal", "not seen", "but", "?", ".", ";", ",", "  ", "\n", "FINDINGS:", "History:",
    "resolved", "GGO", "RLL", "effusion-thickening", "İ", "ﬁ", "ß", "é", "\x00", "•", "1.",
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_unicode_text_labels_without_error(text: str) -> None:
    for f in label(text):
        assert 0 <= f.span[0] < f.span[1] <= len(text)
        assert f.status in ("present", "absent", "uncertain")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PHRASES), st.text(max_size=4)), max_size=30))
def test_spans_point_at_the_cited_text(parts: list[str]) -> None:
    text = " ".join(parts)
    automaton = compiled_for("chest_ct").automaton
    for f in label(text):
        cited = text[f.span[0] : f.span[1]]
        assert cited and cited == cited.strip()
        key = " " + " ".join(normalize(cited).split()) + " "  # keys are " phrase "
        assert automaton.exists(key), (cited, f)
        assert cited in f.sentence


# ---- differentials: "versus" / "vs" / "or" lists and "likely" / "less likely" cues (issue 19) ----
def rows(text: str, vocab: str = "chest_xr") -> set[tuple[str, str | None, str]]:
    return {(f.abnormality, f.location, f.status) for f in label(text, vocab)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the cases: the cue is pneumonia's own, atelectasis stays as stated
        (
            "Atelectasis, less likely pneumonia.",
            {"atelectasis": "present", "pneumonia": "uncertain"},
        ),
        (
            "Likely atelectasis, less likely pneumonia.",
            {"atelectasis": "uncertain", "pneumonia": "uncertain"},
        ),
        ("Pneumonia, likely atelectasis.", {"pneumonia": "present", "atelectasis": "uncertain"}),
        (
            "Atelectasis, more likely pneumonia.",
            {"atelectasis": "present", "pneumonia": "uncertain"},
        ),
        ("Less likely pneumonia.", {"pneumonia": "uncertain"}),
        ("Pneumonia is less likely.", {"pneumonia": "uncertain"}),
        # a negation of an earlier list item does not reach a term with its own cue
        (
            "No pneumothorax, likely small effusion.",
            {"pneumothorax": "absent", "pleural_effusion": "uncertain"},
        ),
        # differential joiners act on both terms
        ("Atelectasis versus pneumonia.", {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
        ("Atelectasis vs pneumonia.", {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
        (
            "Possible atelectasis versus pneumonia.",
            {"atelectasis": "uncertain", "pneumonia": "uncertain"},
        ),
        # plain lists keep their shared cue
        ("No effusion or pneumothorax.", {"pleural_effusion": "absent", "pneumothorax": "absent"}),
        (
            "Possible effusion or pneumothorax.",
            {"pleural_effusion": "uncertain", "pneumothorax": "uncertain"},
        ),
    ],
)
def test_a_cue_in_a_differential_list_attaches_to_its_own_term(text: str, expected: dict) -> None:
    assert status(text, "chest_xr") == expected
    assert status(text, "chest_ct") == expected


@pytest.mark.parametrize(
    ("text", "zone", "lobe"),
    [
        ("Atelectasis versus pneumonia at the left base.", "left_lower_zone", "left_lower_lobe"),
        ("Atelectasis vs. pneumonia in the left lower lobe.", "left_lower_zone", "left_lower_lobe"),
        (
            "Atelectasis or pneumonia in the right lower lobe.",
            "right_lower_zone",
            "right_lower_lobe",
        ),
        (
            "Atelectasis, less likely pneumonia, at the right base.",
            "right_lower_zone",
            "right_lower_lobe",
        ),
    ],
)
def test_terms_of_a_differential_share_its_location(text: str, zone: str, lobe: str) -> None:
    for vocab, loc in (("chest_xr", zone), ("chest_ct", lobe)):
        got = {(a, where) for a, where, _ in rows(text, vocab)}
        assert got == {("atelectasis", loc), ("pneumonia", loc)}, (vocab, got)
    assert ("atelectasis", "left_lower_zone", "uncertain") in rows(
        "Atelectasis versus pneumonia at the left base."
    )
    assert ("pneumonia", "left_lower_zone", "uncertain") in rows(
        "Atelectasis versus pneumonia at the left base."
    )
