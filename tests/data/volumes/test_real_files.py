"""Real DICOM files (pydicom's test files and the pydicom-data package) decode to the right HU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from _support.shared import missing_data
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from radlens.data.volumes.io import load_volume
from radlens.errors import DataError


def _file(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        missing_data(f"pydicom test file {name} not available (pydicom-data not installed?)")
    return Path(path)


def _reference_hu(name: str) -> np.ndarray:
    """pydicom's own decoding + modality LUT (float64)."""
    ds = pydicom.dcmread(_file(name))
    return np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float64)


def test_ct_small_matches_pydicom_modality_lut() -> None:
    volume = load_volume(_file("CT_small.dcm"))
    ds = pydicom.dcmread(_file("CT_small.dcm"))
    np.testing.assert_array_equal(volume.array[0], _reference_hu("CT_small.dcm"))
    assert volume.array.min() < -800  # HU, not stored values (intercept -1024 applied)
    assert volume.spacing[1:] == pytest.approx([float(v) for v in ds.PixelSpacing])
    assert volume.origin == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert volume.metadata["modality"] == "CT"


@pytest.mark.parametrize(
    ("compressed", "uncompressed", "non_ct"),
    [
        ("693_J2KR.dcm", "693_UNCR.dcm", False),  # CT, JPEG 2000 lossless (openjpeg)
        ("MR2_J2KR.dcm", "MR2_UNCR.dcm", True),  # slope 3.77: float rescale
        ("MR_small_RLE.dcm", "MR_small.dcm", True),  # RLE lossless
        ("MR_small_jp2klossless.dcm", "MR_small.dcm", True),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", True),  # JPEG-LS (pylibjpeg-libjpeg)
        ("MR_small_bigendian.dcm", "MR_small.dcm", True),  # explicit VR big endian
        ("MR_small_implicit.dcm", "MR_small.dcm", True),  # implicit VR little endian
    ],
)
def test_compressed_equals_uncompressed_twin(
    compressed: str, uncompressed: str, non_ct: bool
) -> None:
    packed = load_volume(_file(compressed), allow_non_ct=non_ct, canonical=False)
    plain = load_volume(_file(uncompressed), allow_non_ct=non_ct, canonical=False)
    assert packed.metadata["transfer_syntax"] != plain.metadata["transfer_syntax"] or (
        compressed == uncompressed
    )
    np.testing.assert_array_equal(packed.array, plain.array)
    reference = _reference_hu(uncompressed)
    np.testing.assert_allclose(packed.array[0], reference, rtol=2e-7, atol=1e-3)
    assert packed.spacing == pytest.approx(plain.spacing)


def test_jpeg2000_lossy_ct_matches_its_decoded_twin_and_is_close_to_original() -> None:
    lossy = load_volume(_file("693_J2KI.dcm"))
    assert lossy.metadata["transfer_syntax"] == "1.2.840.10008.1.2.4.91"
    np.testing.assert_array_equal(lossy.array, load_volume(_file("693_UNCI.dcm")).array)
    original = load_volume(_file("693_UNCR.dcm")).array
    assert np.abs(lossy.array - original).mean() > 0  # lossy ...
    assert np.corrcoef(lossy.array.ravel(), original.ravel())[0, 1] > 0.95  # ... same image


def test_enhanced_multiframe_ct_uses_functional_groups() -> None:
    path = _file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.astype(np.float64)
    native = load_volume(path, canonical=False)
    # frame positions z = -159 (frame 1), -149 (frame 2); the normal of rows (-1,0,0) x cols
    # (0,1,0) is (0,0,-1), so ascending along it puts frame 2 first
    assert native.shape == (2, 512, 512)
    np.testing.assert_array_equal(native.array[0], frames[1] - 1024)
    np.testing.assert_array_equal(native.array[1], frames[0] - 1024)
    assert native.spacing == pytest.approx((10.0, 0.388672, 0.388672))
    assert native.origin == pytest.approx((99.5, -301.5, -149.0))
    np.testing.assert_allclose(native.direction, np.diag([-1.0, 1.0, -1.0]))
    standard = load_volume(path)  # reoriented: z ascending to S, x to L
    np.testing.assert_array_equal(standard.array[0], (frames[0] - 1024)[:, ::-1])
    np.testing.assert_allclose(standard.direction, np.eye(3))
    assert standard.origin == pytest.approx((99.5 - 511 * 0.388672, -301.5, -159.0))
    assert standard.metadata["sop_class_uid"] == pydicom.uid.EnhancedCTImageStorage


@pytest.mark.filterwarnings("ignore:End of file reached")
def test_real_bad_files_raise_data_error() -> None:
    with pytest.raises(DataError, match=r"MR_truncated\.dcm: truncated pixel data"):
        load_volume(_file("MR_truncated.dcm"), allow_non_ct=True)
    with pytest.raises(DataError, match=r"too_short\.dcm: no data set after the file meta"):
        load_volume(_file("emri_small_jpeg_2k_lossless_too_short.dcm"), allow_non_ct=True)
    with pytest.raises(DataError, match=r"MR_small\.dcm: modality 'MR', expected 'CT'"):
        load_volume(_file("MR_small.dcm"))
    with pytest.raises(DataError, match=r"SC_rgb\.dcm: 3 samples per pixel"):
        load_volume(_file("SC_rgb.dcm"), allow_non_ct=True)
    with pytest.raises(DataError, match=r"emri_small\.dcm: 10 frames but no per-frame"):
        load_volume(_file("emri_small.dcm"), allow_non_ct=True)
    with pytest.raises(DataError, match=r"JPEG2000\.dcm: missing ImagePositionPatient"):
        load_volume(_file("JPEG2000.dcm"), allow_non_ct=True)


def test_enhanced_multiframe_problems_name_the_frame(tmp_path: Path) -> None:
    ds = pydicom.dcmread(_file("eCT_Supplemental.dcm"))
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    ds.save_as(tmp_path / "no_position.dcm")
    with pytest.raises(DataError, match=r"no_position\.dcm frame 2: missing PlanePositionSequence"):
        load_volume(tmp_path / "no_position.dcm")
    ds = pydicom.dcmread(_file("eCT_Supplemental.dcm"))
    position = ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[
        0
    ].ImagePositionPatient = position.ImagePositionPatient
    ds.save_as(tmp_path / "same_place.dcm")
    with pytest.raises(DataError, match=r"duplicate slice position.*same_place\.dcm frame"):
        load_volume(tmp_path / "same_place.dcm")
