"""Sentence maps where they are shown: on a study volume (back on the study's own grid, outside
the run's crop zero) and as report.html's gallery of a zero-shot output (pointing game against
the masks, overlays inlined)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _support.text_run import (
    pair_cohort_with_masks,
    train_2d_text_run,
    train_3d_text_run,
)

from radlens.cli import main
from radlens.data.volumes import Volume, preprocess_volume
from radlens.deploy import TextMapper, write_text_map_gallery
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


def test_unfit_text_runs_are_refused(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"--text-run .*nowhere: no such directory"):
        TextMapper(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"--text-run .*no checkpoint.pt"):
        TextMapper(tmp_path)


def test_zero_shot_report_has_the_sentence_map_gallery(tmp_path, capsys) -> None:
    cohort = pair_cohort_with_masks(tmp_path / "cohort")
    run = train_2d_text_run(cohort, tmp_path / "run", epochs=2)
    with pytest.raises(ModelError, match="pretrained on 2D images"):
        TextMapper(run)
    out = tmp_path / "zs"
    zero_shot(run, cohort / "cohort.csv", out, split="test",
              findings=["consolidation", "cardiomegaly"])  # fmt: skip
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
    # a run folder that is not a zero-shot output has no gallery; a cohort without masks is
    # refused by the gallery (and `radlens evaluate` says it skipped it)
    assert write_text_map_gallery(run) is None
    table = pd.read_csv(cohort / "cohort.csv").rename(columns={"masks": "other"})
    table.to_csv(cohort / "cohort.csv", index=False)
    with pytest.raises(DataError, match="no 'masks' column of masks"):
        write_text_map_gallery(out)
