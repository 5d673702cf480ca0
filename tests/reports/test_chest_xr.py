"""chest_xr labels that never contradict themselves (issue 19): CheXpert-style exclusive
no_finding, double negation, non-reporting sections, support devices."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from radlens.reports import label, label_many, label_table
from radlens.reports.labeler import explain, label_rows
from radlens.reports.matcher import compiled_for
from radlens.reports.tables import findings_to_wide
from radlens.reports.vocabulary import load_vocabulary

CONTRADICTION = "FINDINGS: Mild cardiomegaly. IMPRESSION: No acute cardiopulmonary abnormality."


def _status(text: str, abn: str) -> str | None:
    found = [f.status for f in label(text, "chest_xr") if f.abnormality == abn]
    return found[0] if found else None


def _wide(tmp_path: Path, texts: list[str]) -> pd.DataFrame:
    src = tmp_path / "reports.csv"
    ids = [f"r{i}" for i in range(len(texts))]
    pd.DataFrame({"id": ids, "text": texts}).to_csv(src, index=False)
    out = tmp_path / "labels.parquet"
    summary = label_table(src, id_column="id", text_column="text", vocab="chest_xr", out=out)
    return pd.read_parquet(summary.wide_path).set_index("report_id")


def test_vocabulary_declares_no_finding_exclusive_except_devices() -> None:
    abns = load_vocabulary("chest_xr").abnormalities
    assert abns["no_finding"].exclusive == ("support_devices",)
    assert abns["cardiomegaly"].exclusive is None


@pytest.mark.parametrize(
    ("text", "no_finding"),
    [
        (CONTRADICTION, "absent"),  # a pathology present
        ("Possible small left effusion. No acute disease.", "absent"),  # uncertain counts too
        ("No acute disease. No pneumothorax or effusion.", "present"),  # negated: not a pathology
        ("Pacemaker in place. No acute disease.", "present"),  # support devices excepted
        ("INDICATION: Rule out pneumonia. IMPRESSION: No acute disease.", "present"),  # indication
    ],
)
def test_no_finding_only_without_positive_or_uncertain_pathology(
    text: str, no_finding: str
) -> None:
    assert _status(text, "no_finding") == no_finding


def test_overruled_no_finding_names_the_reason_and_is_the_same_everywhere(
    tmp_path: Path,
) -> None:
    line = next(x for x in explain(CONTRADICTION, "chest_xr") if "no_finding" in x)
    assert line.startswith("absent") and "'overruled by cardiomegaly'" in line
    compiled = compiled_for("chest_xr")
    assert label_rows(CONTRADICTION, compiled) == label_rows(CONTRADICTION, compiled, cache=False)
    many = label_many([CONTRADICTION], "chest_xr")
    matrix = findings_to_wide(["r0"], many, load_vocabulary("chest_xr"))
    assert matrix.loc["r0", "no_finding"] == 0.0 and matrix.loc["r0", "cardiomegaly"] == 1.0
    wide = _wide(tmp_path, [CONTRADICTION])
    assert wide.loc["r0", "no_finding"] == 0.0 and wide.loc["r0", "cardiomegaly"] == 1.0
    long = pd.read_parquet(tmp_path / "labels.parquet")
    assert long.loc[long["abnormality"] == "no_finding", "status"].tolist() == ["absent"]


@pytest.mark.parametrize(
    "text",
    [
        "The lungs are not without scattered opacities.",
        "Lungs not without opacities.",
        "The lungs are not free of opacities.",
    ],
)
def test_double_negation_affirms(text: str) -> None:
    assert _status(text, "lung_opacity") == "present"
    assert _status(text, "lung_opacity") == next(
        f.status for f in label(text, "chest_ct") if f.abnormality == "lung_opacity"
    )


@pytest.mark.parametrize(
    "text", ["Pneumonia cannot be excluded.", "Pneumonia can not be excluded."]
)
def test_cannot_be_excluded_stays_uncertain(text: str) -> None:
    assert _status(text, "pneumonia") == "uncertain"


def test_indication_and_history_never_set_a_label(tmp_path: Path) -> None:
    wide = _wide(
        tmp_path,
        [
            "INDICATION: Rule out pneumonia. FINDINGS: Lungs are clear.",
            "HISTORY: Pneumothorax. FINDINGS: No acute cardiopulmonary abnormality.",
            "INDICATION: Rule out pneumonia. FINDINGS: Possible right lower lobe pneumonia.",
        ],
    )
    assert wide.loc["r0", "pneumonia"] == 0.0  # not NaN: the indication is no uncertainty
    assert wide.loc["r1", "pneumothorax"] == 0.0 and wide.loc["r1", "no_finding"] == 1.0
    assert pd.isna(wide.loc["r2", "pneumonia"])  # the findings' own uncertainty is kept


@pytest.mark.parametrize(
    "text",
    [
        "Right IJ central line tip in the SVC.",
        "Endotracheal tube terminates 4 cm above the carina.",
        "Dual-chamber pacer wires unchanged.",
        "Cardiac monitoring electrodes overlie the chest.",
        "A guide wire is seen.",
        "Intra-aortic balloon pump in place.",
        "Left ventricular assist device.",
        "Embolization coils in the left upper quadrant.",
        "Left chest wall loop recorder.",
    ],
)
def test_support_devices_present(text: str) -> None:
    assert _status(text, "support_devices") == "present"


def test_removed_devices_are_absent() -> None:
    assert _status("Lines and tubes have been removed.", "support_devices") == "absent"
