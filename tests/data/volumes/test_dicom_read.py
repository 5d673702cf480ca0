"""DICOM series round trip, slice ordering and every bad input the reader must reject."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.data.volumes.dicom_geometry import Slice, check_and_order
from radlens.data.volumes.io import (
    Volume,
    list_series,
    load_dicom_series,
    load_volume,
    reorient_standard,
    write_dicom_series,
)
from radlens.errors import DataError


def make_volume(seed: int = 0, shape: tuple[int, int, int] = (8, 24, 20)) -> Volume:
    rng = np.random.default_rng(seed)
    array = rng.integers(-1024, 2000, size=shape).astype(np.float32)
    return Volume(
        array=array,
        spacing=(2.5, 0.8, 0.7),
        origin=(-20.0, -30.5, -100.25),
        metadata={
            "kernel": "B30f",
            "manufacturer": "ACME",
            "model": "Scan 9",
            "institution": "Site A",
            "patient_age": 63,
            "patient_sex": "F",
        },
    )


@pytest.fixture
def series(tmp_path: Path) -> tuple[Volume, Path, list[Path]]:
    volume = make_volume()
    folder = tmp_path / "series"
    paths = write_dicom_series(
        volume, folder, patient_id="P001", study_uid="1.2.3.4", series_description="axial"
    )
    return volume, folder, paths


def _edit(path: Path, **changes: object) -> None:
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(path)


def test_round_trip_identical_hu_and_geometry(series: tuple[Volume, Path, list[Path]]) -> None:
    volume, folder, paths = series
    assert len(paths) == volume.shape[0]
    loaded = load_volume(folder)
    np.testing.assert_array_equal(loaded.array, volume.array)
    assert loaded.array.dtype == np.float32
    np.testing.assert_allclose(loaded.spacing, volume.spacing, atol=1e-6)
    np.testing.assert_allclose(loaded.origin, volume.origin, atol=1e-6)
    np.testing.assert_allclose(loaded.direction, np.eye(3), atol=1e-9)
    meta = loaded.metadata
    assert meta["modality"] == "CT" and meta["patient_id"] == "P001"
    assert meta["study_uid"] == "1.2.3.4" and meta["kernel"] == "B30f"
    assert meta["series_description"] == "axial" and meta["n_slices"] == 8
    assert (meta["model"], meta["institution"], meta["patient_age"], meta["patient_sex"]) == (
        "Scan 9",
        "Site A",
        "063Y",
        "F",
    )
    ds = pydicom.dcmread(paths[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.pixel_array.dtype == np.int16 and float(ds.RescaleIntercept) == -1024


def test_round_trip_fractional_hu_to_rescale_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    volume = Volume(rng.normal(0, 300, (4, 10, 12)), (1.0, 0.5, 0.5), (0.0, 0.0, 0.0))
    write_dicom_series(volume, tmp_path, patient_id="P", rescale_slope=0.25)
    loaded = load_volume(tmp_path)
    assert np.abs(loaded.array - volume.array).max() <= 0.125 + 1e-4
    assert float(pydicom.dcmread(tmp_path / "0001.dcm").RescaleSlope) == 0.25


def test_shuffled_names_and_instance_numbers_load_in_spatial_order(
    series: tuple[Volume, Path, list[Path]],
) -> None:
    volume, folder, paths = series
    rng = random.Random(3)
    numbers = list(range(1, len(paths) + 1))
    rng.shuffle(numbers)
    names = [f"x{rng.randrange(10**6):06d}_{i}.dcm" for i in range(len(paths))]
    rng.shuffle(names)
    for path, number, name in zip(paths, numbers, names, strict=True):
        _edit(path, InstanceNumber=number)
        path.rename(folder / name)
    np.testing.assert_array_equal(load_volume(folder).array, volume.array)


def test_rotated_and_flipped_orientations_round_trip(tmp_path: Path) -> None:
    angle = np.radians(30)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    base = make_volume(2)
    rotated = Volume(base.array, base.spacing, base.origin, rot)
    write_dicom_series(rotated, tmp_path / "rot", patient_id="P")
    back = load_volume(tmp_path / "rot", canonical=False)
    np.testing.assert_array_equal(back.array, base.array)
    np.testing.assert_allclose(back.direction, rot, atol=1e-6)
    # x and z flipped (right-handed): the canonical reader restores standard axial indexing
    flipped = Volume(base.array, base.spacing, base.origin, np.diag([-1.0, 1.0, -1.0]))
    write_dicom_series(flipped, tmp_path / "flip", patient_id="P")
    standard = load_volume(tmp_path / "flip")
    expected = reorient_standard(flipped)
    np.testing.assert_array_equal(standard.array, base.array[::-1, :, ::-1])
    np.testing.assert_array_equal(standard.array, expected.array)
    np.testing.assert_allclose(standard.origin, expected.origin, atol=1e-6)
    np.testing.assert_allclose(standard.direction, np.eye(3), atol=1e-9)


def test_missing_slice(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    paths[4].unlink()
    with pytest.raises(DataError, match=r"missing slice.*0004\.dcm.*0006\.dcm.*about 1 slice"):
        load_volume(folder)


def test_uneven_spacing_from_edited_position(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    ds = pydicom.dcmread(paths[3])
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    _edit(paths[3], ImagePositionPatient=[x, y, z + 1.0])
    with pytest.raises(DataError, match=r"uneven slice spacing.*0004\.dcm"):
        load_volume(folder)
    # a looser tolerance accepts it (and the spacing is the median gap)
    assert load_volume(folder, spacing_tolerance=0.5).spacing[0] == pytest.approx(2.5)


def test_duplicate_position(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    _edit(paths[5], ImagePositionPatient=pydicom.dcmread(paths[4]).ImagePositionPatient)
    with pytest.raises(DataError, match=r"duplicate slice position.*0005\.dcm.*0006\.dcm"):
        load_volume(folder)


def test_non_ct_modality_needs_flag(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    _edit(paths[2], Modality="MR")
    with pytest.raises(DataError, match=r"0003\.dcm: modality 'MR', expected 'CT'"):
        load_volume(folder)
    assert load_volume(folder, allow_non_ct=True).shape == (8, 24, 20)


def test_mixed_rows(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    ds = pydicom.dcmread(paths[6])
    ds.PixelData = ds.pixel_array[:16].tobytes()
    ds.Rows = 16
    ds.save_as(paths[6])
    with pytest.raises(DataError, match=r"0007\.dcm: 16x20 pixels .* 24x20 \(mixed image sizes\)"):
        load_volume(folder)


def test_mixed_pixel_spacing(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    _edit(paths[1], PixelSpacing=[0.9, 0.7])
    with pytest.raises(DataError, match=r"0002\.dcm: PixelSpacing .*mixed pixel spacing"):
        load_volume(folder)


def test_gantry_tilt(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    for k, path in enumerate(paths):  # each slice shifts in y: 15 degree tilt
        x, y, z = (float(v) for v in pydicom.dcmread(path).ImagePositionPatient)
        _edit(path, ImagePositionPatient=[x, y + k * 2.5 * np.tan(np.radians(15)), z])
    with pytest.raises(DataError, match=r"gantry tilt.*15\.00 deg.*not orthogonal"):
        load_volume(folder)


def test_truncated_file(series: tuple[Volume, Path, list[Path]]) -> None:
    _, folder, paths = series
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[:-300])
    with pytest.raises(DataError, match=r"0004\.dcm: truncated pixel data"):
        load_volume(folder)
    paths[3].write_bytes(data[:700])  # cut inside the header
    with pytest.raises(DataError, match=r"0004\.dcm: missing .*truncated"):
        load_volume(folder)


def test_non_dicom_files(series: tuple[Volume, Path, list[Path]]) -> None:
    volume, folder, _ = series
    (folder / "notes.txt").write_text("scanned on Tuesday")
    (folder / "DICOMDIR").write_bytes(b"\x00" * 10)
    (folder / ".DS_Store").write_bytes(b"junk")
    np.testing.assert_array_equal(load_volume(folder).array, volume.array)  # skipped by name
    (folder / "extra.dcm").write_text("this is not DICOM\n" * 20)
    with pytest.raises(DataError, match=r"extra\.dcm: not a DICOM file"):
        load_volume(folder)


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    first, second = make_volume(0), make_volume(1, shape=(5, 24, 20))
    common = {"patient_id": "P", "study_uid": "1.2.3"}
    write_dicom_series(
        first, tmp_path / "a", series_uid="1.2.3.1", series_description="lung", **common
    )
    write_dicom_series(
        second,
        tmp_path / "b",
        series_uid="1.2.3.2",
        series_description="soft",
        series_number=2,
        **common,
    )
    infos = list_series(tmp_path)
    assert [(s.series_uid, s.n_files, s.description) for s in infos] == [
        ("1.2.3.1", 8, "lung"),
        ("1.2.3.2", 5, "soft"),
    ]
    with pytest.raises(DataError, match=r"holds 2 series.*1\.2\.3\.1 \(CT, 'lung', 8 files\)"):
        load_dicom_series(tmp_path)
    np.testing.assert_array_equal(load_dicom_series(tmp_path, "1.2.3.2").array, second.array)
    with pytest.raises(DataError, match=r"no series with SeriesInstanceUID '9\.9'.*1\.2\.3\.2"):
        load_dicom_series(tmp_path, series_uid="9.9")


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no DICOM files found"):
        load_volume(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        load_volume(tmp_path / "nope")


def test_writer_rejects_bad_options(tmp_path: Path) -> None:
    volume = make_volume()
    with pytest.raises(DataError, match=r"'ConvolutionKernal' is not a DICOM keyword.*Kernel"):
        write_dicom_series(volume, tmp_path, patient_id="P", extra={"ConvolutionKernal": "B"})
    with pytest.raises(DataError, match="does not fit int16"):
        write_dicom_series(
            Volume(np.full((2, 4, 4), 40000.0), (1, 1, 1), (0, 0, 0)), tmp_path, patient_id="P"
        )
    with pytest.raises(DataError, match="study_date '2026-01-01' is not a YYYYMMDD"):
        write_dicom_series(volume, tmp_path, patient_id="P", study_date="2026-01-01")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 30),
    gap=st.floats(0.3, 6.0),
    permutation_seed=st.integers(0, 10**6),
)
def test_ordering_is_by_position_along_normal(
    seed: int, n: int, gap: float, permutation_seed: int
) -> None:
    """Any orientation, any file order: slices come back ascending along row x col."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    row, col = q[:, 0], q[:, 1]
    normal = np.cross(row, col)
    start = rng.normal(0, 100, 3)
    slices = [
        Slice(
            path=Path(f"{k}.dcm"),
            frame=0,
            position=start + k * gap * normal,
            row_dir=row,
            col_dir=col,
            pixel_spacing=(0.7, 0.7),
            rows=8,
            cols=8,
            slope=1.0,
            intercept=0.0,
            thickness=None,
        )
        for k in range(n)
    ]
    shuffled = slices[:]
    random.Random(permutation_seed).shuffle(shuffled)
    ordered, spacing = check_and_order(shuffled)
    assert [s.path.name for s in ordered] == [f"{k}.dcm" for k in range(n)]
    assert spacing == pytest.approx(gap, rel=1e-9)


def test_threaded_reading_matches_serial(tmp_path: Path) -> None:
    volume = make_volume(4, shape=(24, 16, 12))
    paths = write_dicom_series(volume, tmp_path, patient_id="P")
    threaded = load_volume(tmp_path, workers=3)
    np.testing.assert_array_equal(threaded.array, volume.array)
    paths[20].write_bytes(paths[20].read_bytes()[:-100])
    with pytest.raises(DataError, match=r"0021\.dcm: truncated pixel data"):
        load_volume(tmp_path, workers=3)
