"""report.html's sentence -> region section: text_maps.json read, PNGs inlined (others skipped),
3D runs' montages flagged for the wide gallery, bad JSON named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.errors import EvaluationError
from radlens.evaluation import TEXT_MAPS_DIR, TEXT_MAPS_JSON, text_map_section


def _write(run: Path, content: dict) -> Path:
    folder = run / TEXT_MAPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TEXT_MAPS_JSON).write_text(json.dumps(content))
    return folder


def test_no_json_no_section(tmp_path) -> None:
    assert text_map_section(tmp_path) is None


def test_figures_inlined_and_3d_flagged(tmp_path) -> None:
    gallery = [{"file": "a.png", "sentence": "mass"}, {"file": "b.txt"}, {"file": "../c.png"},
               {"file": "missing.png"}]  # fmt: skip
    folder = _write(tmp_path, {"gallery": gallery, "per_finding": {"mass": {"n": 1}, "a": {}},
                               "spatial_dims": 3})  # fmt: skip
    Image.fromarray(np.zeros((4, 12), np.uint8)).save(folder / "a.png")
    (folder / "b.txt").write_text("not a png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "c.png")  # outside the folder
    out = text_map_section(tmp_path)
    assert [f["file"] for f in out["figures"]] == ["a.png"]
    assert out["figures"][0]["data_uri"].startswith("data:image/png;base64,")
    assert [name for name, _ in out["per_finding_rows"]] == ["a", "mass"]
    assert out["montage"] and out["view"].startswith("3D montages: axial, coronal and sagittal")
    _write(tmp_path, {"gallery": [], "spatial_dims": 2})
    flat = text_map_section(tmp_path)
    assert not flat["montage"] and flat["view"].startswith("2D overlays")


def test_bad_json_is_named(tmp_path) -> None:
    folder = _write(tmp_path, {})
    (folder / TEXT_MAPS_JSON).write_text("{oops")
    with pytest.raises(EvaluationError, match=r"text_maps\.json is not valid JSON"):
        text_map_section(tmp_path)
