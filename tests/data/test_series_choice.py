"""Choosing the series of a study folder (radlens.data.series_choice): CT, axial, complete,
thinnest slices, then most slices; a SeriesInstanceUID overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.ct_series import chest_volume, set_tag, write_series

from radlens.data import choose_series
from radlens.data.volumes import Volume
from radlens.errors import DataError


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("study")
    uids = {
        "thick": write_series(root / "thick", chest_volume(20, 5.0, size=16), series_number=2),
        "thin": write_series(root / "thin", chest_volume(40, 2.5, size=16), series_number=3),
        "thin_short": write_series(
            root / "thin_short", chest_volume(30, 2.5, size=16), series_number=4
        ),
        "thinnest_broken": write_series(
            root / "broken", chest_volume(60, 1.25, size=16), series_number=5
        ),
        "mr": write_series(root / "mr", chest_volume(80, 1.0, size=16), series_number=6),
    }
    (root / "broken" / "0010.dcm").unlink()  # a missing slice
    set_tag(sorted((root / "mr").glob("*.dcm")), "Modality", "MR")
    return {"root": root, "uids": uids}


def test_the_thinnest_complete_axial_ct_series_is_chosen(study: dict) -> None:
    choice = choose_series(study["root"])
    uids = study["uids"]
    assert choice.series_uid == uids["thin"]  # 2.5 mm beats 5 mm; 40 slices beat 30
    assert choice.candidate is not None and choice.candidate.n_slices == 40
    notes = "\n".join(choice.notes)
    assert "series 6 (MR, 80 slices): not CT" in notes
    assert "series 5 (CT, 59 slices): incomplete (missing slice(s)" in notes
    assert "series 4 (CT, 30 slices): not chosen (2.5 mm gap, 30 slices vs 2.5 mm, 40)" in notes
    assert "series 2 (CT, 20 slices): not chosen (5 mm gap" in notes


def test_a_series_uid_overrides_the_rules(study: dict) -> None:
    chosen = choose_series(study["root"], study["uids"]["thick"])
    assert chosen.series_uid == study["uids"]["thick"] and chosen.overridden
    with pytest.raises(DataError, match=r"no series with SeriesInstanceUID 1\.2\.3; found .*MR"):
        choose_series(study["root"], "1.2.3")


def test_a_folder_without_a_usable_ct_series_names_each_series(study: dict) -> None:
    with pytest.raises(DataError, match=r"no usable CT series: series 6 \(MR, 80 slices\): not CT"):
        choose_series(study["root"] / "mr")


def test_a_tilted_series_is_not_axial(tmp_path: Path) -> None:
    axial = chest_volume(20, 2.5, size=16)
    coronal = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # slice normal along y (posterior)
    write_series(tmp_path, Volume(axial.array, axial.spacing, axial.origin, coronal))
    with pytest.raises(DataError, match=r"not axial \(90\.0 degrees\)"):
        choose_series(tmp_path)
