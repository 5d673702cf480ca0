"""Radiograph decoding on real DICOM files (pydicom's test files and the pydicom-data package):
MONOCHROME1 inversion, windowing, modality / VOI LUTs, JPEG 2000 / JPEG-LS, colour, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from _support.shared import missing_data
from PIL import Image
from pydicom.data import get_testdata_file

from radlens.data.radiographs import decode as radiographs
from radlens.data.radiographs.decode import load_radiograph, read_radiograph, resize_image
from radlens.errors import DataError


def dcm(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        missing_data(f"DICOM test file {name} not installed (pydicom / pydicom-data)")
    return str(path)


def region(a: np.ndarray, y: int, x: int, r: int = 20) -> float:
    return float(a[y - r : y + r, x - r : x + r].mean())


def test_monochrome1_cr_leg_is_inverted() -> None:
    """RG3: a CR leg radiograph stored as MONOCHROME1 (10 bit, window 550/1024)."""
    path = dcm("RG3_UNCR.dcm")
    raw = pydicom.dcmread(path).pixel_array
    img = read_radiograph(path)
    assert img.shape == raw.shape == (1760, 1760) and img.dtype == np.float32
    # collimated border: stored 0 (minimum) -> displayed white; the air gap beside the leg
    # (direct exposure, high stored values) -> dark; bone in between and brighter than air
    assert region(raw, 880, 170) == 0 and region(img, 880, 170) == pytest.approx(1.0)
    assert region(raw, 880, 480) > 900 and region(img, 880, 480) < 0.2
    assert region(img, 344, 825) > 0.6
    assert np.corrcoef(img[::16, ::16].ravel(), raw[::16, ::16].ravel())[0, 1] < -0.95


def test_monochrome1_chest_anatomy() -> None:
    """RG1: a CR chest radiograph (MONOCHROME1, 15 bit): lungs darker than the abdomen/spine."""
    img = read_radiograph(dcm("RG1_UNCR.dcm"))
    lung, abdomen, spine = region(img, 500, 530), region(img, 1795, 540), region(img, 900, 920)
    assert lung < 0.6 < 0.85 < min(abdomen, spine)


def test_jpeg2000_lossless_equals_uncompressed_and_lossy_is_close() -> None:
    for base in ("RG1", "RG3"):
        ref = read_radiograph(dcm(f"{base}_UNCR.dcm"))
        np.testing.assert_array_equal(read_radiograph(dcm(f"{base}_J2KR.dcm")), ref)
        lossy = read_radiograph(dcm(f"{base}_J2KI.dcm"))
        assert np.abs(lossy - ref).mean() < 0.01 and not np.array_equal(lossy, ref)


def test_jpeg_ls_lossless_equals_uncompressed_and_near_lossless_decodes() -> None:
    ref = read_radiograph(dcm("MR_small.dcm"))
    np.testing.assert_array_equal(read_radiograph(dcm("MR_small_jpeg_ls_lossless.dcm")), ref)
    near = read_radiograph(dcm("JPEGLSNearLossless_16.dcm"))
    assert near.shape == (50, 10) and near.min() == 0 and near.max() == 1


def test_window_centre_width_applied_by_the_linear_formula() -> None:
    """MR_small: signed 16 bit, WindowCenter 600, WindowWidth 1600 (PS3.3 C.11.2.1.2.1)."""
    path = dcm("MR_small.dcm")
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    expected = np.clip((raw - 599.5) / 1599 + 0.5, 0, 1)
    np.testing.assert_allclose(read_radiograph(path), expected, atol=1e-6)


def test_rescale_without_window_maps_min_max(tmp_path: Path) -> None:
    path = dcm("CT_small.dcm")  # rescale slope 1, intercept -1024, no window
    raw = pydicom.dcmread(path).pixel_array.astype(np.float64)
    np.testing.assert_allclose(
        read_radiograph(path), (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-6
    )


def test_voi_lut_sequence_is_applied(tmp_path: Path) -> None:
    """vlut_04 carries an 8 -> 16 bit VOI LUT; replace its data by a non-linear curve."""
    ds = pydicom.dcmread(dcm("vlut_04.dcm"))
    item = ds.VOILUTSequence[0]
    assert list(item.LUTDescriptor) == [256, 0, 16]
    curve = np.round(65535 * (np.arange(256) / 255) ** 2).astype(np.int64)
    item.LUTData = curve.tolist()  # VR US, one value per entry
    out = tmp_path / "vlut_sq.dcm"
    ds.save_as(out)
    raw = ds.pixel_array.astype(np.int64)
    np.testing.assert_allclose(read_radiograph(out), curve[raw] / 65535, atol=1e-6)
    # untouched file: its own (identity) LUT over 0..65535
    np.testing.assert_allclose(read_radiograph(dcm("vlut_04.dcm")), raw / 255, atol=1e-6)


def test_modality_lut_sequence_is_applied(tmp_path: Path) -> None:
    """mlut_18 carries a 4096-entry modality LUT; an inverted LUT must invert the output."""
    ds = pydicom.dcmread(dcm("mlut_18.dcm"))
    item = ds.ModalityLUTSequence[0]
    assert list(item.LUTDescriptor) == [4096, -2048, 16]
    original = read_radiograph(dcm("mlut_18.dcm"))
    item.LUTData = [65535 - int(v) for v in item.LUTData]
    out = tmp_path / "mlut_inv.dcm"
    ds.save_as(out)
    np.testing.assert_allclose(read_radiograph(out), 1 - original, atol=1e-4)


def test_presentation_lut_shape_inverse_on_monochrome2(tmp_path: Path) -> None:
    ds = pydicom.dcmread(dcm("MR_small.dcm"))
    ds.PresentationLUTShape = "INVERSE"
    out = tmp_path / "inverse.dcm"
    ds.save_as(out)
    np.testing.assert_allclose(read_radiograph(out), 1 - read_radiograph(dcm("MR_small.dcm")))


def test_colour_dicom_and_multiframe() -> None:
    rgb = read_radiograph(dcm("US1_UNCR.dcm"), channels=3)
    assert rgb.shape == (480, 640, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_allclose(read_radiograph(dcm("US1_J2KR.dcm"), channels=3), rgb, atol=1e-6)
    gray = read_radiograph(dcm("US1_UNCR.dcm"))
    np.testing.assert_allclose(gray, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-5)
    palette = read_radiograph(dcm("OBXXXX1A.dcm"), channels=3)
    assert palette.shape == (600, 800, 3) and palette.max() <= 1
    with pytest.raises(DataError, match="has 10 frames; expected one radiograph"):
        read_radiograph(dcm("emri_small.dcm"))


def test_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not a png")
    with pytest.raises(DataError, match=r"notes\.png: not a readable image"):
        read_radiograph(bad)
    fake = tmp_path / "x.dcm"
    fake.write_bytes(b"\0" * 128 + b"DICM" + b"\1\2\3")
    with pytest.raises(DataError, match=r"x\.dcm"):
        read_radiograph(fake)


def test_png_bit_depths(tmp_path: Path) -> None:
    ramp8 = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
    Image.fromarray(ramp8).save(tmp_path / "r8.png")
    np.testing.assert_allclose(read_radiograph(tmp_path / "r8.png"), ramp8 / 255, atol=1e-6)
    ramp16 = (np.tile(np.arange(25, dtype=np.uint16), (4, 1)) * 100 + 1000).astype(np.uint16)
    Image.fromarray(ramp16).save(tmp_path / "r16.png")
    out = read_radiograph(tmp_path / "r16.png")
    np.testing.assert_allclose(out, (ramp16 - 1000) / 2400, atol=1e-6)
    Image.fromarray(np.stack([ramp8, ramp8 * 0, ramp8 * 0], -1)).save(tmp_path / "red.jpg")
    assert read_radiograph(tmp_path / "red.jpg", channels=3).shape == (4, 25, 3)


def test_resize_modes() -> None:
    img = np.ones((100, 50), np.float32)
    padded = resize_image(img, 28, fit="pad")
    assert padded.shape == (28, 28) and padded.dtype == np.uint8
    assert padded[:, :6].max() == 0 and padded[:, 8:20].min() == 255  # centred, black sides
    assert resize_image(img, 28, fit="stretch").min() == 255
    tall = np.zeros((100, 50), np.float32)
    tall[:25] = 1  # top quarter bright: centre crop (rows 25..75) drops it
    assert resize_image(tall, 16, fit="crop").max() == 0
    with pytest.raises(DataError, match="fit 'zoom' is not one of"):
        resize_image(img, 28, fit="zoom")  # type: ignore[arg-type]


def test_cache_second_load_does_not_decode(tmp_path: Path, monkeypatch) -> None:
    src = Path(dcm("RG3_J2KR.dcm"))
    copy = tmp_path / "renamed.dcm"
    copy.write_bytes(src.read_bytes())
    calls: list[Path] = []
    real = radiographs.read_radiograph

    def counting(path, *, channels=1):
        calls.append(Path(path))
        return real(path, channels=channels)

    monkeypatch.setattr(radiographs, "read_radiograph", counting)
    first = load_radiograph(src, 64, cache_dir=tmp_path / "c")
    assert first.shape == (64, 64) and len(calls) == 1
    again = load_radiograph(copy, 64, cache_dir=tmp_path / "c")  # same bytes, other name
    np.testing.assert_array_equal(again, first)
    assert len(calls) == 1
    load_radiograph(src, 32, cache_dir=tmp_path / "c")  # other size: decoded again
    load_radiograph(src, 64, fit="crop", cache_dir=tmp_path / "c")
    assert len(calls) == 3
    assert len(list((tmp_path / "c").rglob("*.npy"))) == 3
