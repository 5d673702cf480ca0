"""`radlens serve --demo`: the phantom's studies pass the demo's fitness rules (and only the
pixel-spacing rule is relaxed for them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from radlens.data import DEFAULT_FITNESS, fitness_problems, load_fitness_rules
from radlens.data.volumes import load_volume
from radlens.demos import DEMO_FITNESS, demo_fitness_rules
from radlens.phantom import synthesize_cohort


def test_phantom_studies_pass_the_demo_rules_not_the_default_ones(tmp_path: Path) -> None:
    table = synthesize_cohort(
        tmp_path / "c", n_patients=1, seed=1, formats=("dicom",), progress=False
    )
    volume = load_volume(tmp_path / "c" / table["dicom_dir"][0])
    assert fitness_problems(volume) == ["pixel spacing 3.5 mm; needs <= 1.5 mm"]
    rules = load_fitness_rules(demo_fitness_rules(tmp_path / "svc"))
    assert rules == DEMO_FITNESS == replace(DEFAULT_FITNESS, max_pixel_spacing_mm=4.0)
    assert fitness_problems(volume, rules) == []
