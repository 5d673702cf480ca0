"""Vocabulary schema and loader: packaged vocabularies, the contract ids, malformed YAML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.errors import ReportError
from radlens.reports.vocabulary import SYSTEMS, URGENCIES, available_vocabularies, load_vocabulary

LOBES = {
    "right_upper_lobe", "right_middle_lobe", "right_lower_lobe", "left_upper_lobe", "lingula",
    "left_lower_lobe",
}  # fmt: skip
PHANTOM = {
    "nodule": LOBES,
    "mass": LOBES,
    "consolidation": LOBES,
    "ground_glass_opacity": LOBES,
    "atelectasis": {"right_lower_lobe", "left_lower_lobe"},
    "pleural_effusion": {"right_pleura", "left_pleura"},
    "pneumothorax": {"right_pleura", "left_pleura"},
    "emphysema": {"right_upper_lobe", "left_upper_lobe", "right_lung", "left_lung"},
    "cardiomegaly": {"heart"},
    "pericardial_effusion": {"pericardium"},
    "lymphadenopathy": {"mediastinum", "right_hilum", "left_hilum"},
    "arterial_wall_calcification": {"aorta"},
}
CONTRACT_LOCATIONS = {
    "right_lung", "left_lung", "trachea", "bronchi", "heart", "pericardium", "aorta",
    "pulmonary_artery", "mediastinum", "right_hilum", "left_hilum", "thyroid", "esophagus",
    "right_axilla", "left_axilla", "breast", "ribs", "spine", "sternum", "liver", "right_kidney",
    "left_kidney", "right_adrenal", "left_adrenal", "spleen", "gallbladder", "pancreas", "stomach",
}  # fmt: skip


def test_packaged_vocabularies_listed() -> None:
    assert {"chest_ct", "chest_xr"} <= set(available_vocabularies())


def test_chest_ct_size_systems_and_urgency() -> None:
    v = load_vocabulary("chest_ct")
    assert len(v.abnormalities) >= 80
    assert len(v.locations) >= 40
    assert {a.system for a in v.abnormalities.values()} == set(SYSTEMS)
    assert {a.urgency for a in v.abnormalities.values()} == set(URGENCIES)
    for crit in ("pneumothorax", "pulmonary_embolism", "aortic_dissection"):
        assert v.abnormalities[crit].urgency == "critical"
    for urgent in ("mass", "consolidation", "pleural_effusion", "pericardial_effusion"):
        assert v.abnormalities[urgent].urgency == "urgent"
    for routine in ("nodule", "emphysema"):
        assert v.abnormalities[routine].urgency == "routine"


def test_contract_phantom_ids_and_locations() -> None:
    v = load_vocabulary("chest_ct")
    for abn, locs in PHANTOM.items():
        assert abn in v.abnormalities, abn
        assert locs <= set(v.abnormalities[abn].locations), abn
    assert set(v.locations) >= CONTRACT_LOCATIONS
    assert set(v.locations) >= LOBES


def test_abbreviations_present() -> None:
    v = load_vocabulary("chest_ct")
    assert "RUL" in v.locations["right_upper_lobe"].abbreviations
    assert "LLL" in v.locations["left_lower_lobe"].abbreviations
    assert "GGO" in v.abnormalities["ground_glass_opacity"].abbreviations
    assert "PE" in v.abnormalities["pulmonary_embolism"].abbreviations


def test_chest_xr_has_the_14_chexpert_observations() -> None:
    v = load_vocabulary("chest_xr")
    assert set(v.abnormalities) == {
        "no_finding", "enlarged_cardiomediastinum", "cardiomegaly", "lung_lesion",
        "lung_opacity", "edema", "consolidation", "pneumonia", "atelectasis", "pneumothorax",
        "pleural_effusion", "pleural_other", "fracture", "support_devices",
    }  # fmt: skip
    assert all(len(a.synonyms) >= 3 for a in v.abnormalities.values())


def test_vocabulary_is_frozen() -> None:
    v = load_vocabulary("chest_ct")
    with pytest.raises(AttributeError):
        v.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        v.abnormalities["new"] = v.abnormalities["nodule"]  # type: ignore[index]


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "my_vocab.yaml"
    p.write_text(body, encoding="utf-8")
    return p


GOOD = """
name: mine
locations:
  heart: {synonyms: [heart]}
abnormalities:
  cardiomegaly:
    system: heart
    urgency: routine
    synonyms: [cardiomegaly]
    locations: [heart]
"""


def test_user_vocabulary_loads(tmp_path: Path) -> None:
    v = load_vocabulary(_write(tmp_path, GOOD))
    assert v.name == "mine" and set(v.abnormalities) == {"cardiomegaly"}


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "    urgency: routine",
            "    urgency: routin",
            r"'cardiomegaly'.*'urgency'.*did you mean 'routine'",
        ),
        ("    system: heart", "    system: hart", r"'system'.*did you mean 'heart'"),
        (
            "    locations: [heart]",
            "    locations: [hart]",
            r"unknown location 'hart'.*did you mean 'heart'",
        ),
        (
            "    synonyms: [cardiomegaly]",
            "    synonym: [cardiomegaly]",
            r"unknown field 'synonym'.*did you mean 'synonyms'",
        ),
        (
            "    synonyms: [cardiomegaly]",
            "    synonyms: [no, cardiomegaly]",
            r"item False is not a string.*quote",
        ),
        ("  cardiomegaly:", "  Cardio-megaly:", r"snake_case"),
        ("name: mine", "nam: mine", r"unknown field 'nam'"),
        (
            "    locations: [heart]",
            "    locations: [heart]\n    exclusive: {except: [cardiomegali]}",
            r"'cardiomegaly'.*field 'exclusive' names unknown abnormality 'cardiomegali'.*did you",
        ),
        (
            "    locations: [heart]",
            "    locations: [heart]\n    exclusive: {but: [cardiomegaly]}",
            r"'cardiomegaly.exclusive'.*unknown field 'but'",
        ),
    ],
)
def test_malformed_vocabulary_names_file_entry_field(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ReportError, match=match) as info:
        load_vocabulary(path)
    assert "my_vocab.yaml" in str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="invalid YAML"):
        load_vocabulary(_write(tmp_path, "name: [unclosed"))
    with pytest.raises(ReportError, match="not found"):
        load_vocabulary(tmp_path / "nope.yaml")


def test_unknown_vocabulary_name_did_you_mean() -> None:
    with pytest.raises(ReportError, match="did you mean 'chest_ct'"):
        load_vocabulary("chest_cT")
