"""`radlens volume series|info|convert` on written DICOM series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radlens.cli import main
from radlens.data.volumes.io import Volume, load_volume, write_dicom_series


def _write(folder: Path, series_uid: str, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    volume = Volume(rng.integers(-1000, 1000, (4, 10, 8)), (2.0, 0.5, 0.5), (1.0, 2.0, 3.0))
    write_dicom_series(
        volume,
        folder,
        patient_id="SECRET-ID",
        series_uid=series_uid,
        series_description="axial lung",
    )
    return volume


def test_volume_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    volume = _write(tmp_path / "s", "1.2.826.0.1.1")
    assert main(["volume", "series", str(tmp_path)]) == 0
    assert "1.2.826.0.1.1\tCT\taxial lung\tfiles=4\tslices=4" in capsys.readouterr().out
    assert main(["volume", "info", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert info["shape_zyx"] == [4, 10, 8] and info["spacing_zyx_mm"] == [2.0, 0.5, 0.5]
    assert info["hu_min"] == float(volume.array.min()) and info["modality"] == "CT"
    assert "SECRET-ID" not in out  # no patient identifiers printed
    target = tmp_path / "out" / "v.nii.gz"
    assert main(["volume", "convert", str(tmp_path / "s"), str(target)]) == 0
    np.testing.assert_array_equal(load_volume(target).array, volume.array)


def test_volume_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "a", "1.2.826.0.1.1")
    _write(tmp_path / "b", "1.2.826.0.1.2", seed=1)
    assert main(["volume", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds 2 series" in err and "Traceback" not in err
    assert main(["volume", "info", str(tmp_path), "--series-uid", "1.2.826.0.1.2"]) == 0
    assert main(["volume", "convert", str(tmp_path / "a"), str(tmp_path / "x.img")]) == 2
    assert "must end in .nii or .nii.gz" in capsys.readouterr().err
