"""Loading MedMNIST npz files: MD5 verification, official flag, and every validation error."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from _support.medmnist import make_arrays, official_md5, write_npz
from _support.shared import missing_data

from radlens.data.medmnist.load import get_info, load_medmnist, resolve_data_dir
from radlens.errors import DataError

UNOFFICIAL = "pneumoniamnist_UNOFFICIAL_trainsubset.npz"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path / "cache"))


def test_resolve_data_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RADLENS_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("RADLENS_DATA_DIR")
    assert resolve_data_dir() == Path.home() / ".radlens" / "data"


@pytest.mark.parametrize(
    ("name", "size"), [("pneumoniamnist", 28), ("chestmnist", 28), ("dermamnist", 64),
                       ("retinamnist", 28), ("nodulemnist3d", 28), ("organmnist3d", 64)],
)  # fmt: skip
def test_official_file_loads_as_official(
    name: str, size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = get_info(name)
    arrays = make_arrays(name, size)
    md5 = write_npz(tmp_path / info.file_name(size), arrays)
    official_md5(monkeypatch, name, size, md5)
    ds = load_medmnist(name, size, data_dir=tmp_path)
    assert ds.official and ds.task == info.task and ds.label_names == info.label_names
    assert ds.spatial_dims == (3 if info.is_3d else 2) and ds.n_channels == info.n_channels
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(ds.images[split], arrays[f"{split}_images"])
        assert ds.images[split].dtype == np.uint8
        assert ds.labels[split].dtype == np.float32
        np.testing.assert_array_equal(ds.labels[split], arrays[f"{split}_labels"])
        assert ds.ids[split][1] == f"{split}-000001"
        np.testing.assert_array_equal(ds.patient_ids[split], ds.ids[split])


def test_md5_mismatch_names_file_expected_and_actual(tmp_path: Path) -> None:
    path = tmp_path / "breastmnist.npz"
    actual = write_npz(path, make_arrays("breastmnist"))
    expected = get_info("breastmnist").md5(28)
    with pytest.raises(
        DataError, match=rf"breastmnist.npz has MD5 {actual}, expected .*{expected}"
    ):
        load_medmnist("breastmnist", data_dir=tmp_path)
    ds = load_medmnist("breastmnist", data_dir=tmp_path, verify=False)
    assert not ds.official and ds.size("train") == 12


def test_labels_of_shape_n_accepted(tmp_path: Path) -> None:
    arrays = make_arrays("bloodmnist")
    arrays = {k: (v[:, 0] if k.endswith("labels") else v) for k, v in arrays.items()}
    write_npz(tmp_path / "flat.npz", arrays)
    ds = load_medmnist("bloodmnist", data_file=tmp_path / "flat.npz")
    assert ds.labels["train"].shape == (12, 1) and not ds.official


def test_missing_file_points_to_fetch_and_near_files(tmp_path: Path) -> None:
    (tmp_path / "octmnist_old.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"octmnist_64.npz not found .*radlens data fetch octmnist "
                       r"--size 64.*octmnist_old.npz"):  # fmt: skip
        load_medmnist("octmnist", 64, data_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_medmnist("octmnist", data_file=tmp_path / "nope.npz")
    with pytest.raises(DataError, match="did you mean 'octmnist'"):
        load_medmnist("octmnst", data_dir=tmp_path)
    with pytest.raises(DataError, match="no size 128"):
        load_medmnist("synapsemnist3d", 128, data_dir=tmp_path)


def _bad(tmp_path: Path, name: str, **changes: np.ndarray | None) -> Path:
    arrays = make_arrays(name)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = tmp_path / f"{name}_bad.npz"
    write_npz(path, arrays)
    return path


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("pneumoniamnist", {"val_labels": None}, r"missing key\(s\) val_labels"),
        ("pneumoniamnist", {"train_images": np.zeros((12, 28, 28), np.float32)},
         r"train_images has dtype float32, expected uint8"),
        ("pneumoniamnist", {"test_images": np.zeros((6, 28, 28, 3), np.uint8)},
         r"test_images has shape \(6, 28, 28, 3\), expected \(N, 28, 28\)"),
        ("pathmnist", {"val_images": np.zeros((4, 28, 28), np.uint8)},
         r"val_images has shape \(4, 28, 28\), expected \(N, 28, 28, 3\)"),
        ("pneumoniamnist", {"train_images": np.zeros((12, 64, 64), np.uint8)},
         r"expected \(N, 28, 28\) for pneumoniamnist at size 28"),
        ("nodulemnist3d", {"train_images": np.zeros((12, 28, 28), np.uint8)},
         r"expected \(N, 28, 28, 28\)"),
        ("pneumoniamnist", {"train_labels": np.zeros((11, 1), np.uint8)},
         r"train_labels has shape \(11, 1\), expected \(12,\) or \(12, 1\)"),
        ("pneumoniamnist", {"test_labels": np.full((6, 1), 2, np.uint8)},
         r"class index out of range \[2, 2\]; pneumoniamnist has 2 classes"),
        ("retinamnist", {"val_labels": np.array([[0], [1], [5], [4]], np.int64)},
         r"out of range \[0, 5\]; retinamnist has 5 classes"),
        ("pneumoniamnist", {"val_labels": np.zeros((4, 1), np.float32)},
         r"val_labels has dtype float32, expected an integer"),
        ("chestmnist", {"train_labels": np.zeros((12, 13), np.uint8)},
         r"train_labels has shape \(12, 13\), expected \(12, 14\)"),
        ("chestmnist", {"test_labels": np.full((6, 14), 2, np.uint8)},
         r"multi-label values must be 0 or 1"),
    ],
)  # fmt: skip
def test_invalid_arrays_raise_specific_errors(
    tmp_path: Path, name: str, changes: dict[str, np.ndarray | None], message: str
) -> None:
    path = _bad(tmp_path, name, **changes)
    with pytest.raises(DataError, match=message):
        load_medmnist(name, data_file=path)


def test_corrupt_and_truncated_npz(tmp_path: Path) -> None:
    not_zip = tmp_path / "not_zip.npz"
    not_zip.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(DataError, match=r"not_zip.npz is not a readable .npz"):
        load_medmnist("pneumoniamnist", data_file=not_zip)
    good = tmp_path / "good.npz"
    write_npz(good, make_arrays("pneumoniamnist"))
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        truncated = tmp_path / f"truncated_{cut}.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(DataError, match=r"is not a readable .npz \(zip\) archive"):
            load_medmnist("pneumoniamnist", data_file=truncated, verify=False)


def test_md5_is_cached_by_path_size_mtime(tmp_path: Path, monkeypatch) -> None:
    from radlens.data import download

    path = tmp_path / "big.bin"
    path.write_bytes(b"\1" * (download.CHUNK + 5))
    first = download.file_md5(path)
    assert first == hashlib.md5(path.read_bytes()).hexdigest()
    calls = []
    monkeypatch.setattr(download, "_md5_of", lambda p: calls.append(p) or "0" * 32)
    assert download.file_md5(path) == first and calls == []  # served from the sidecar
    path.write_bytes(b"\2" * (download.CHUNK + 6))  # size/mtime change -> hashed again
    assert download.file_md5(path) == "0" * 32 and len(calls) == 1


def test_real_unofficial_pneumoniamnist(medmnist_dir: Path, tmp_path: Path) -> None:
    src = medmnist_dir / UNOFFICIAL
    if not src.is_file():
        missing_data(f"{src} not present")
    with pytest.raises(DataError, match=r"pneumoniamnist.npz not found .*" + UNOFFICIAL):
        load_medmnist("pneumoniamnist", data_dir=medmnist_dir)
    ds = load_medmnist("pneumoniamnist", data_file=src)
    assert not ds.official
    assert ds.extra["md5"] == "f5b994ec7c2fe8bc81ae15cbab7c3df8"
    assert {s: ds.size(s) for s in ds.splits} == {"train": 3882, "val": 524, "test": 624}
    assert ds.images["test"].shape == (624, 28, 28) and ds.images["test"].dtype == np.uint8
    counts = {s: np.bincount(ds.labels[s][:, 0].astype(int)).tolist() for s in ds.splits}
    assert counts == {"train": [388, 3494], "val": [135, 389], "test": [234, 390]}
    # under the official name its MD5 gives it away; --no-verify loads it as unofficial
    shutil.copy(src, tmp_path / "pneumoniamnist.npz")
    with pytest.raises(DataError, match="expected the official 28209eda62fecd6e6a2d98b1501bb15f"):
        load_medmnist("pneumoniamnist", data_dir=tmp_path)
    ds2 = load_medmnist("pneumoniamnist", data_dir=tmp_path, verify=False)
    assert not ds2.official and ds2.size("train") == 3882
