"""NIfTI reading/writing, MONAI preprocessing and the preprocessed-volume disk cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radlens.data.volumes.io import (
    Volume,
    load_nifti,
    load_volume,
    reorient_standard,
    series_geometry,
    volume_extent,
    write_dicom_series,
    write_nifti,
)
from radlens.data.volumes.preprocess import (
    WINDOWS,
    VolumeCache,
    fitted_spacing,
    prepare_ct_volume,
    preprocess_volume,
    window_channels,
)
from radlens.errors import ConfigError, DataError


def make_volume(shape: tuple[int, int, int] = (6, 14, 12)) -> Volume:
    rng = np.random.default_rng(7)
    return Volume(
        rng.integers(-1000, 1500, size=shape).astype(np.float32),
        spacing=(3.0, 0.9, 0.8),
        origin=(-40.0, -55.5, 12.0),
        metadata={"modality": "CT", "kernel": "B45f", "patient_id": "P9"},
    )


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz"])
def test_nifti_round_trip(tmp_path: Path, name: str) -> None:
    volume = make_volume()
    loaded = load_volume(write_nifti(volume, tmp_path / name))
    np.testing.assert_array_equal(loaded.array, volume.array)
    np.testing.assert_allclose(loaded.spacing, volume.spacing, rtol=1e-6)
    np.testing.assert_allclose(loaded.origin, volume.origin, atol=1e-5)
    np.testing.assert_allclose(loaded.direction, volume.direction, atol=1e-6)
    assert loaded.metadata["kernel"] == "B45f" and loaded.metadata["modality"] == "CT"
    # nibabel sees RAS+: voxel [0,0,0] at (-x, -y, z) of the LPS origin
    img = nib.load(tmp_path / name)
    np.testing.assert_allclose(img.affine[:3, 3], [40.0, 55.5, 12.0], atol=1e-5)
    assert img.shape == (12, 14, 6)


def test_dicom_and_nifti_twins_give_the_same_volume(tmp_path: Path) -> None:
    volume = make_volume()
    write_dicom_series(volume, tmp_path / "dcm", patient_id="P9")
    from_dicom = load_volume(tmp_path / "dcm")
    from_nifti = load_volume(write_nifti(from_dicom, tmp_path / "twin.nii.gz"))
    np.testing.assert_array_equal(from_nifti.array, from_dicom.array)
    np.testing.assert_allclose(from_nifti.origin, from_dicom.origin, atol=1e-5)
    np.testing.assert_allclose(from_nifti.spacing, from_dicom.spacing, rtol=1e-6)


def test_ras_canonical_nifti_is_converted_to_lps_standard_axial(tmp_path: Path) -> None:
    data = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)  # (i, j, k)
    affine = np.diag([0.7, 0.8, 2.5, 1.0])  # i -> R, j -> A, k -> S (RAS+)
    affine[:3, 3] = [10.0, 20.0, 30.0]
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "ras.nii.gz")
    volume = load_nifti(tmp_path / "ras.nii.gz")
    # LPS standard axial: x must run towards L (RAS -x), y towards P (RAS -y)
    np.testing.assert_array_equal(volume.array, data.transpose(2, 1, 0)[:, ::-1, ::-1])
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-9)
    assert volume.spacing == pytest.approx((2.5, 0.8, 0.7))
    # voxel [0,0,0] is RAS (10 + 4*0.7, 20 + 3*0.8, 30) -> LPS (-12.8, -22.4, 30)
    assert volume.origin == pytest.approx((-12.8, -22.4, 30.0))
    native = load_nifti(tmp_path / "ras.nii.gz", canonical=False)
    np.testing.assert_allclose(native.direction, np.diag([-1.0, -1.0, 1.0]), atol=1e-9)
    np.testing.assert_array_equal(reorient_standard(native).array, volume.array)


def test_bad_nifti_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"must end in \.nii or \.nii\.gz"):
        write_nifti(make_volume(), tmp_path / "vol.img")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), tmp_path / "t.nii")
    with pytest.raises(DataError, match=r"t\.nii: expected a 3-D image, got shape \(4, 4, 4, 2\)"):
        load_volume(tmp_path / "t.nii")
    (tmp_path / "broken.nii.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"broken\.nii\.gz: unreadable NIfTI"):
        load_volume(tmp_path / "broken.nii.gz")
    with pytest.raises(DataError, match=r"series_uid does not apply to NIfTI"):
        load_volume(tmp_path / "t.nii", series_uid="1.2")


def test_preprocess_identity_window_and_presets() -> None:
    volume = make_volume()
    np.testing.assert_array_equal(preprocess_volume(volume), volume.array[None])
    out = preprocess_volume(volume, window="lung")
    lo, hi = WINDOWS["lung"]
    expected = np.clip((volume.array - lo) / (hi - lo), 0, 1)[None]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (1, 6, 14, 12)
    np.testing.assert_allclose(
        preprocess_volume(volume, window=(-100, 100)),
        np.clip((volume.array + 100) / 200, 0, 1)[None],
        atol=1e-6,
    )
    with pytest.raises(ConfigError, match=r"unknown HU window 'lungs'.*did you mean 'lung'"):
        preprocess_volume(volume, window="lungs")
    with pytest.raises(ConfigError, match="lo < hi"):
        preprocess_volume(volume, window=(100, -100))
    with pytest.raises(ConfigError, match="target_spacing must be three positive"):
        preprocess_volume(volume, target_spacing=(1.0, 1.0))


def test_preprocess_resamples_reorients_and_crops() -> None:
    z = np.arange(10, dtype=np.float32)[:, None, None] * 100.0  # linear ramp along z
    volume = Volume(np.broadcast_to(z, (10, 8, 8)).copy(), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    out = preprocess_volume(volume, target_spacing=(1.0, 1.0, 1.0))
    assert out.shape[0] == 1 and 19 <= out.shape[1] <= 20 and out.shape[2:] == (8, 8)
    np.testing.assert_allclose(out[0, 2:-2, 4, 4], 50.0 * np.arange(2, out.shape[1] - 2), atol=1e-3)
    # the same patient stored flipped (x and z reversed) preprocesses to the same array
    flipped = Volume(
        volume.array[::-1, :, ::-1].copy(),
        volume.spacing,
        (7.0, 0.0, 18.0),
        np.diag([-1.0, 1.0, -1.0]),
    )
    np.testing.assert_array_equal(preprocess_volume(flipped), preprocess_volume(volume))
    cropped = preprocess_volume(volume, window=(0, 900), shape=(6, 12, 4))
    assert cropped.shape == (1, 6, 12, 4)
    assert np.all(cropped[0, :, :2] == 0) and np.all(cropped[0, :, -2:] == 0)  # padded rows
    np.testing.assert_allclose(cropped[0, :, 2, 0], np.arange(2, 8) * 100 / 900, atol=1e-6)
    again = preprocess_volume(volume, window=(0, 900), shape=(6, 12, 4))
    np.testing.assert_array_equal(cropped, again)


def test_cache_second_epoch_does_not_decode_dicom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dicom_series(make_volume(), tmp_path / "dcm", patient_id="P9")
    calls = {"n": 0}
    real_dcmread = pydicom.dcmread

    def counting_dcmread(*args: object, **kwargs: object) -> pydicom.Dataset:
        calls["n"] += 1
        return real_dcmread(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting_dcmread)
    cache = VolumeCache(tmp_path / "cache")
    params = {"target_spacing": (3.0, 1.8, 1.6), "window": "mediastinum", "shape": (6, 8, 8)}
    first = cache.get(tmp_path / "dcm", **params)
    assert calls["n"] == 6 and cache.misses == 1
    second = cache.get(tmp_path / "dcm", **params)
    assert calls["n"] == 6 and cache.hits == 1  # no DICOM decoded in the second epoch
    np.testing.assert_array_equal(first, second)
    assert first.shape == (1, 6, 8, 8)
    cache.get(tmp_path / "dcm", **{**params, "window": "lung"})  # other parameters: a miss
    assert calls["n"] == 12 and cache.misses == 2
    target = tmp_path / "dcm" / "0003.dcm"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    cache.get(tmp_path / "dcm", **params)  # a touched file: a miss
    assert calls["n"] == 18 and cache.misses == 3
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def test_cache_by_content_ignores_mtime(tmp_path: Path) -> None:
    write_nifti(make_volume(), tmp_path / "v.nii.gz")
    cache = VolumeCache(tmp_path / "cache", hash_contents=True)
    cache.get(tmp_path / "v.nii.gz", window="bone")
    os.utime(tmp_path / "v.nii.gz", ns=(1, 10**18))
    cache.get(tmp_path / "v.nii.gz", window="bone")
    assert (cache.hits, cache.misses) == (1, 1)
    (tmp_path / "cache" / f"{cache.key(tmp_path / 'v.nii.gz', window='bone')}.npy").write_bytes(
        b"corrupt"
    )
    cache.get(tmp_path / "v.nii.gz", window="bone")  # an unreadable entry is rebuilt
    assert cache.misses == 2
    with pytest.raises(DataError, match="no such file or folder to cache"):
        cache.get(tmp_path / "missing")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_nifti_round_trip_any_right_handed_orientation(seed: int) -> None:
    """Random rotation + spacing: NIfTI write/read keeps array and geometry, and the canonical
    reader equals `reorient_standard` of the original."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 2] *= -1
    volume = Volume(
        rng.normal(0, 200, (3, 4, 5)).astype(np.float32),
        tuple(rng.uniform(0.3, 4.0, 3)),
        tuple(rng.uniform(-200, 200, 3)),
        q,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = write_nifti(volume, Path(tmp) / "v.nii")
        native = load_nifti(path, canonical=False)
        standard = load_nifti(path)
    np.testing.assert_array_equal(native.array, volume.array)
    np.testing.assert_allclose(native.direction, q, atol=1e-5)
    np.testing.assert_allclose(native.origin, volume.origin, atol=1e-4)
    np.testing.assert_allclose(native.spacing, volume.spacing, rtol=1e-5)
    expected = reorient_standard(volume)
    np.testing.assert_array_equal(standard.array, expected.array)
    np.testing.assert_allclose(standard.origin, expected.origin, atol=1e-4)


def test_volume_extent_from_headers_matches_the_loaded_volume(tmp_path: Path) -> None:
    """Header-only extents (S, P, L) equal shape x spacing of the reoriented volume, also for a
    series stored with permuted, flipped axes."""
    direction = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # right-handed
    volume = Volume(make_volume((5, 7, 9)).array, (2.5, 1.5, 0.75), (3.0, -2.0, 1.0), direction)
    write_dicom_series(volume, tmp_path / "dcm", patient_id="P1")
    write_nifti(volume, tmp_path / "v.nii.gz")
    for source in (tmp_path / "dcm", tmp_path / "v.nii.gz"):
        loaded = load_volume(source)
        expected = np.array(loaded.shape) * np.array(loaded.spacing)
        np.testing.assert_allclose(volume_extent(source), expected, rtol=1e-6)
    shape_xyz, affine = series_geometry(tmp_path / "dcm")
    assert shape_xyz == (9, 7, 5)
    np.testing.assert_allclose(affine[:3, 3], volume.origin, atol=1e-4)
    with pytest.raises(DataError, match="no such file"):
        volume_extent(tmp_path / "missing.nii.gz")
    cache = VolumeCache(tmp_path / "cache")
    first = cache.extent(tmp_path / "v.nii.gz")
    assert len(list((tmp_path / "cache").glob("*.extent.json"))) == 1
    assert cache.extent(tmp_path / "v.nii.gz") == first


def test_prepare_ct_volume_is_preprocess_then_window_channels() -> None:
    volume = make_volume((6, 14, 12))
    hu = np.array([[[-1000.0, -600.0, -200.0, 400.0]]], dtype=np.float32)
    channels = window_channels(hu, [(-1000.0, -200.0), (-160.0, 240.0)])
    assert channels.dtype == np.uint8 and channels.shape == (2, 1, 1, 4)
    assert channels[0, 0, 0].tolist() == [0, 128, 255, 255]
    assert channels[1, 0, 0].tolist() == [0, 0, 0, 255]
    windows = [(-1000.0, 400.0)]
    out = prepare_ct_volume(volume, (8, 8, 8), (2.0, 1.0, 1.0), windows)
    hu = preprocess_volume(volume, target_spacing=(2.0, 1.0, 1.0), shape=(8, 8, 8))[0]
    np.testing.assert_array_equal(out, window_channels(hu, windows))
    # no spacing: the whole volume fitted into the shape
    assert fitted_spacing(volume, (6, 7, 6)) == pytest.approx((3.0, 1.8, 1.6))
    fitted = prepare_ct_volume(volume, (6, 7, 6), None, windows)
    hu = preprocess_volume(volume, target_spacing=(3.0, 1.8, 1.6), shape=(6, 7, 6))[0]
    np.testing.assert_array_equal(fitted, window_channels(hu, windows))
