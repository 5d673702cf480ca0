"""The draft report with measured sizes (issue 15): the largest candidate on the sentence's side
gives the size, nodules in mm, the rest in cm; no candidate there, no size."""

from __future__ import annotations

from radlens.deploy import StudyLesion
from radlens.service.scoring import Prediction
from radlens.service.triage import draft_report, size_text


def _lesion(finding: str, side: str, diameter: float, label: int = 1) -> StudyLesion:
    return StudyLesion(label, finding, 0.9, 1.0, diameter, diameter, 10, (10.0, 5.0, 5.0), side)


def test_size_text_nodules_in_mm_the_rest_in_cm() -> None:
    assert size_text("nodule", 7.4) == "7 mm" and size_text("nodule", 12.6) == "13 mm"
    assert size_text("mass", 59.44) == "5.9 cm" and size_text("lymphadenopathy", 15.0) == "1.5 cm"


def test_the_draft_states_the_size_measured_on_the_image() -> None:
    predictions = [
        Prediction("mass", "right_upper_lobe", 0.9),
        Prediction("nodule", "left_lower_lobe", 0.7),
        Prediction("pneumothorax", None, 0.01),
    ]
    lesions = [
        _lesion("mass", "right", 59.4, 1),
        _lesion("mass", "right", 31.0, 2),
        _lesion("mass", "left", 80.0, 3),  # the other lung: never the mass sentence's size
        _lesion("nodule", "right", 7.2, 4),  # the nodule sentence says left: no size for it
    ]
    text = draft_report(predictions, 0.5, lesions)
    assert "Lungs: 5.9 cm lung mass in the right upper lobe. Likely lung nodule in the left" in text
    assert "1. 5.9 cm lung mass in the right upper lobe." in text
    assert "8.0 cm" not in text and "7 mm" not in text
    assert text.rstrip().endswith("measured on the image.")
    # without candidates the draft is the writer's own
    plain = draft_report(predictions, 0.5)
    assert "Lung mass in the right upper lobe." in plain and "measured" not in plain
    # a sentence without a side takes the largest candidate of its finding
    text = draft_report([Prediction("nodule", None, 0.95)], 0.5, [_lesion("nodule", "left", 6.6)])
    assert "7 mm lung nodule." in text


def test_calcified_plaques_are_not_sized_in_the_draft() -> None:
    predictions = [Prediction("arterial_wall_calcification", "aorta", 0.9)]
    text = draft_report(predictions, 0.5, [_lesion("arterial_wall_calcification", "left", 4.0)])
    assert text == draft_report(predictions, 0.5) and "4 mm" not in text
