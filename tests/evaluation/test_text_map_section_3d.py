"""A 3D image-text run's zero-shot output: `radlens evaluate` scores each CT mask's sentence map
(masks cropped / padded onto the run's input as the volumes were) and report.html shows 3D
montages (axial, coronal, sagittal) in the sentence -> region gallery."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _support.text_run import TINY
from PIL import Image

from radlens.cli import main
from radlens.data.volumes import Volume, write_nifti
from radlens.pretrain import PairData, PretrainOptions, pretrain_image_text, zero_shot

GRID = (20, 24, 16)  # (z, y, x): the run's 16^3 input crops z by 2 + 2 and y by 4 + 4
BLOCK = np.s_[8:14, 6:12, 4:10]  # inside the crop: 6^3 = 216 voxels on the input too


def _ct_cohort(root: Path, n: int = 10) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        hu = rng.normal(-800, 50, GRID).astype(np.float32)
        mass = i % 2 == 1
        masks = {}
        if mass:
            hu[BLOCK] = 40.0
            masks["mass@right_upper_lobe"] = np.zeros(GRID, bool)
            masks["mass@right_upper_lobe"][BLOCK] = True
        write_nifti(Volume(hu, (3.0, 2.0, 2.0), (0.0, 0.0, 0.0)), root / f"v{i}.nii.gz")
        np.savez_compressed(root / f"m{i}.npz", **masks)
        text = "FINDINGS: Right upper lobe mass." if mass else "FINDINGS: Lungs are clear."
        rows.append({"patient_id": f"p{i}", "study_id": f"s{i}", "nifti_path": f"v{i}.nii.gz",
                     "mask_path": f"m{i}.npz", "report_text": text, "true:mass": int(mass),
                     "split": "test" if i >= 6 else "train"})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "cohort.csv", index=False)
    return root


@pytest.mark.slow
def test_3d_zero_shot_report_shows_montages(tmp_path, capsys) -> None:
    cohort = _ct_cohort(tmp_path / "ct")
    opts = PretrainOptions(epochs=1, batch_size=6, device="cpu", precision="32-true", threads=1)
    run = tmp_path / "run"
    pretrain_image_text(cohort, run, data=PairData("nifti_path", shape=(16, 16, 16)), model=TINY,
                        options=opts, vocab_size=100)  # fmt: skip
    out = tmp_path / "zs"
    zero_shot(run, cohort / "cohort.csv", out, split="test", findings=["mass"], vocab="chest_ct")
    args = ["evaluate", str(out), "--split", "test", "--no-repredict", "--bootstrap", "0"]
    assert main(args) == 0
    assert "sentence maps: pointing game" in capsys.readouterr().out
    maps = json.loads((out / "text_maps" / "text_maps.json").read_text())
    assert maps["spatial_dims"] == 3 and maps["vocab"] == "chest_ct"
    assert maps["cases"] == 2 and len(maps["gallery"]) == 2  # test studies 7 and 9
    # the mask was cropped onto the input, not resized: 216 of 16^3 voxels
    assert maps["gallery"][0]["chance"] == pytest.approx(216 / 16**3)
    assert maps["gallery"][0]["sentence"] == "right upper lobe lung mass"
    with Image.open(out / "text_maps" / maps["gallery"][0]["file"]) as png:
        assert png.width > 2.5 * png.height  # three panels side by side
    html = (out / "report.html").read_text()
    assert '<div class="gallery wide">' in html and "3D montages: axial, coronal" in html
    assert html.count('<figure><img alt="right upper lobe lung mass"') == 2
