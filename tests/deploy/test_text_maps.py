"""Sentence maps where they are shown: on a study volume (back on the study's own grid, outside
the run's crop zero) and as report.html's gallery of a zero-shot output (pointing game against
the masks, overlays inlined)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from _support.text_run import (
    pair_cohort_with_masks,
    train_2d_text_run,
    train_3d_text_run,
)

from radlens.cli import main
from radlens.data.volumes import Volume, load_volume, preprocess_volume
from radlens.deploy import TextMapper, write_text_map_gallery
from radlens.deploy.text_maps import _input_spacing
from radlens.errors import ConfigError, DataError, ModelError
from radlens.pretrain import sentence_region_map, zero_shot


@pytest.fixture(scope="module")
def run_3d(tmp_path_factory) -> Path:
    return train_3d_text_run(tmp_path_factory.mktemp("text3d"))


def test_a_volume_map_is_put_back_where_the_run_cropped_and_padded(run_3d) -> None:
    mapper = TextMapper(run_3d)
    rng = np.random.default_rng(1)
    hu = rng.normal(-800, 50, (16, 20, 12)).astype(np.float32)
    hu[4:10, 6:12, 2:8] = 40.0
    volume = Volume(hu, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    out = mapper.volume_map(volume, "right upper lobe mass")
    assert out.shape == (16, 20, 12) and out.dtype == np.float32
    # the run's 16^3 input: rows 20 -> 16 cropped from row 2 (MONAI: centre 10 - 8), columns
    # 12 -> 16 padded with 2 in front; so the map's [:, :, 2:14] lies on rows 2..17
    pixels = preprocess_volume(volume, window="lung", shape=(16, 16, 16))
    heat = sentence_region_map(mapper.run, pixels, "right upper lobe mass")
    np.testing.assert_allclose(out[:, 2:18, :], heat[:, :, 2:14], atol=1e-6)
    assert not out[:, :2].any() and not out[:, 18:].any()
    with pytest.raises(ConfigError, match="expected 1-200 characters"):
        mapper.volume_map(volume, "   ")


def test_the_input_pixel_size_follows_the_pad_fit_or_the_volume(tmp_path) -> None:
    data = SimpleNamespace(size=32)
    # a 64 x 48 radiograph of 0.5 mm pixels pad-fit to 32 px: 1 mm pixels
    row = pd.Series({"radiograph_pixel_mm": 0.5})
    assert _input_spacing(row, tmp_path / "x.png", data, (64, 48)) == (1.0, 1.0)
    assert _input_spacing(pd.Series({"pixel_mm": "2"}), tmp_path, data, (32, 32)) == (2.0, 2.0)
    for unknown in ({}, {"pixel_mm": "n/a"}, {"pixel_mm": -1.0}):
        assert _input_spacing(pd.Series(unknown), tmp_path, data, (32, 32)) is None
    # a volume: its own spacing (the pairs crop / pad, never resample)
    path = tmp_path / "ct.nii.gz"
    image = nib.Nifti1Image(np.zeros((8, 9, 10), np.int16), np.diag([0.7, 0.8, 2.5, 1.0]))
    nib.save(image, path)
    spacing = _input_spacing(pd.Series({}), path, data, (10, 9, 8))
    np.testing.assert_allclose(spacing, load_volume(path).spacing)
    assert sorted(spacing) == pytest.approx([0.7, 0.8, 2.5])


def test_unfit_text_runs_are_refused(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"--text-run .*nowhere: no such directory"):
        TextMapper(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"--text-run .*no checkpoint.pt"):
        TextMapper(tmp_path)


def test_zero_shot_report_has_the_sentence_map_gallery(tmp_path, capsys, monkeypatch) -> None:
    cohort = pair_cohort_with_masks(tmp_path / "cohort")
    run = train_2d_text_run(cohort, tmp_path / "run", epochs=2)
    with pytest.raises(ModelError, match="pretrained on 2D images"):
        TextMapper(run)
    out = tmp_path / "zs"
    # given relative paths, the output keeps absolute ones: evaluate works from any folder
    monkeypatch.chdir(tmp_path)
    zero_shot(Path("run"), Path("cohort/cohort.csv"), out, split="test",
              findings=["consolidation", "cardiomegaly"])  # fmt: skip
    summary = json.loads((out / "zeroshot.json").read_text())
    assert summary["cohort"] == str((cohort / "cohort.csv").resolve())
    assert summary["run"] == str(run.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # `radlens evaluate` of the zero-shot output draws the gallery into its report.html
    assert (
        main(["evaluate", str(out), "--split", "test", "--no-repredict", "--bootstrap", "0"]) == 0
    )
    assert "sentence maps: pointing game" in capsys.readouterr().out
    gallery = json.loads((out / "text_maps" / "text_maps.json").read_text())
    # every test image's masks scored; the first 12 overlays kept
    assert gallery["cases"] > 0 and len(gallery["gallery"]) == min(12, gallery["cases"])
    assert 0.0 <= gallery["pointing_game"] <= 1.0 and 0.0 < gallery["chance"] < 1.0
    assert gallery["hits"] == sum(f["hits"] for f in gallery["per_finding"].values())
    assert {c["finding"] for c in gallery["gallery"]} <= {"consolidation", "cardiomegaly"}
    assert (out / "text_maps" / gallery["gallery"][0]["file"]).is_file()
    html = (out / "report.html").read_text()
    assert 'id="text-maps"' in html and "Sentence → region maps" in html
    assert html.count('<figure><img alt="') == len(gallery["gallery"])
    assert "data:image/png;base64," in html
    first = gallery["gallery"][0]
    assert f"“{first['sentence']}”" in html
    # PNGs without a pixel size: no pointing within a distance, and the report says why
    assert gallery["cases_10mm"] == 0 and gallery["pointing_game_10mm"] is None
    assert "pixel size is unknown" in html
    # with a pixel_mm column: within 10 mm of 1000 mm pixels is the strict game; of 0.01 mm
    # pixels (10 mm = 1000 px) every peak is near its mask, and the chance is 1
    table = pd.read_csv(cohort / "cohort.csv")
    for pixel_mm, everywhere in ((1000.0, False), (0.01, True)):
        table.assign(pixel_mm=pixel_mm).to_csv(cohort / "cohort.csv", index=False)
        near = write_text_map_gallery(out)
        assert near["cases_10mm"] == near["cases"] and near["tolerance_mm"] == 10.0
        if everywhere:
            assert near["pointing_game_10mm"] == 1.0 and near["chance_10mm"] == 1.0
        else:
            assert near["hits_10mm"] == near["hits"] and near["chance_10mm"] == near["chance"]
        for finding, row in near["per_finding"].items():
            assert row["n"] == row["cases_10mm"] == gallery["per_finding"][finding]["n"]
    table.to_csv(cohort / "cohort.csv", index=False)
    # a run folder that is not a zero-shot output has no gallery; a cohort without masks is
    # refused by the gallery (and `radlens evaluate` says it skipped it)
    assert write_text_map_gallery(run) is None
    table = pd.read_csv(cohort / "cohort.csv").rename(columns={"masks": "other"})
    table.to_csv(cohort / "cohort.csv", index=False)
    with pytest.raises(DataError, match="no 'masks' column of masks"):
        write_text_map_gallery(out)
