"""Chest-CT fitness checks (radlens.data.volumes.fitness): pydicom's own files and short series
are refused with their reasons, a synthetic chest series passes, the rules are data."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.ct_series import chest_volume
from pydicom.data import get_testdata_file

from radlens.data import (
    DEFAULT_FITNESS,
    FitnessRules,
    check_fitness,
    fitness_problems,
    load_fitness_rules,
)
from radlens.data.volumes import Volume, load_volume, write_dicom_series
from radlens.errors import ConfigError, DataError, NotScorableError

_chest = chest_volume


@pytest.fixture(scope="module")
def chest_series(tmp_path_factory: pytest.TempPathFactory) -> Volume:
    out = tmp_path_factory.mktemp("chest")
    write_dicom_series(_chest(), out, patient_id="P1")
    return load_volume(out)


def test_a_synthetic_chest_series_passes(chest_series: Volume) -> None:
    assert chest_series.metadata["body_part"] == "CHEST"
    assert chest_series.metadata["slice_normal"] == [0.0, 0.0, 1.0]
    assert fitness_problems(chest_series) == []
    check_fitness(chest_series)  # no error


def test_pydicom_ct_small_is_refused_with_its_reasons() -> None:
    volume = load_volume(get_testdata_file("CT_small.dcm"))
    problems = fitness_problems(volume)
    assert problems == [
        "1 slice; a chest CT needs >= 40",
        "z extent 5 mm; needs >= 150 mm",
        "no air: 1st HU percentile -850; a chest CT needs <= -900 (lung and air near -1000)",
    ]
    with pytest.raises(NotScorableError) as caught:
        check_fitness(volume)
    assert caught.value.reasons == problems
    assert isinstance(caught.value, DataError)
    assert "CT_small.dcm: not scorable as a chest CT: 1 slice" in str(caught.value)


def test_pydicom_mr_small_is_refused_as_mr() -> None:
    volume = load_volume(get_testdata_file("MR_small.dcm"), allow_non_ct=True)
    problems = fitness_problems(volume)
    assert problems[:3] == [
        "modality MR; expected CT",
        "1 slice; a chest CT needs >= 40",
        "z extent 0.8 mm; needs >= 150 mm",
    ]


def test_a_five_slice_series_is_refused_for_slices_and_coverage(tmp_path: Path) -> None:
    write_dicom_series(_chest(n_slices=5), tmp_path, patient_id="P5")
    problems = fitness_problems(load_volume(tmp_path))
    assert problems == ["5 slices; a chest CT needs >= 40", "z extent 12.5 mm; needs >= 150 mm"]


def test_each_geometry_and_header_check_names_its_value_and_limit() -> None:
    thick = _chest(n_slices=40, gap=6.0, pixel=2.0)
    thick.metadata.update(slice_thickness=7.0, body_part="HEAD")
    assert fitness_problems(thick) == [
        "body part HEAD; expected one of " + ", ".join(DEFAULT_FITNESS.body_parts),
        "slice gap 6 mm; needs <= 5 mm",
        "slice thickness 7 mm; needs <= 5 mm",
        "pixel spacing 2 mm; needs <= 1.5 mm",
    ]
    sagittal = _chest()
    sagittal.metadata.update(slice_normal=[1.0, 0.0, 0.0], body_part="Chest")  # case-insensitive
    assert fitness_problems(sagittal) == ["slices 90.0 degrees from axial; needs <= 10 degrees"]
    nifti = _chest()
    nifti.metadata["modality"] = ""
    assert fitness_problems(nifti) == ["modality missing; expected CT"]
    assert fitness_problems(nifti, FitnessRules(allow_missing_modality=True)) == []


def test_hu_checks_catch_raw_stored_values() -> None:
    raw = _chest()
    raw.array[:] = raw.array + 1024.0  # intercept not applied: air at 24
    raw.array[:, :4, :4] = 6000.0
    problems = fitness_problems(raw)
    assert problems[0] == (
        "no air: 1st HU percentile 24; a chest CT needs <= -900 (lung and air near -1000)"
    )
    assert problems[1].startswith("99.9th HU percentile 6000; needs <= 4000")


def test_rules_from_a_mapping_and_yaml(tmp_path: Path) -> None:
    rules = FitnessRules.from_mapping({"min_slices": 3, "modalities": ["ct", "pt"]})
    assert rules.min_slices == 3 and rules.modalities == ("CT", "PT")
    assert rules.max_slice_spacing_mm == DEFAULT_FITNESS.max_slice_spacing_mm
    assert FitnessRules.from_mapping(rules.as_dict()) == rules
    with pytest.raises(ConfigError, match=r"rule 'min_slice' is not known; did you mean 'min_sl"):
        FitnessRules.from_mapping({"min_slice": 3})
    with pytest.raises(ConfigError, match=r"rule min_slices = 'many'; expected int"):
        FitnessRules.from_mapping({"min_slices": "many"})
    path = tmp_path / "rules.yaml"
    path.write_text("min_z_extent_mm: 20\nmax_pixel_spacing_mm: 8\n")
    loaded = load_fitness_rules(path)
    assert loaded.min_z_extent_mm == 20.0 and loaded.max_pixel_spacing_mm == 8.0
    path.write_text("min_z_extnt_mm: 20\n")
    with pytest.raises(ConfigError, match=r"rules.yaml: rule 'min_z_extnt_mm' is not known"):
        load_fitness_rules(path)
    small = _chest(n_slices=5)
    assert fitness_problems(small, FitnessRules(min_slices=5, min_z_extent_mm=12.5)) == []
