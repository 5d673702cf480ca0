"""`load_image_folder`: labels CSV + image folder -> ArrayDataset split by patient."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from radlens.data.radiographs import decode as radiographs
from radlens.data.radiographs.folder import load_image_folder
from radlens.data.splits import assign_splits
from radlens.errors import ConfigError, DataError


def _folder(tmp_path: Path, n_patients: int = 30, per_patient: int = 2) -> tuple[Path, list[dict]]:
    images = tmp_path / "imgs"
    (images / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for p in range(n_patients):
        for k in range(per_patient):
            name = f"sub/p{p:02d}_{k}.png"
            Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(images / name)
            rows.append({"file": name, "PID": f"patient-{p:02d}", "finding": "pneumonia"
                         if (p + k) % 2 else "normal", "grade": str((p + k) % 3)})  # fmt: skip
    return images, rows


def _csv(tmp_path: Path, rows: list[dict], name: str = "labels.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_binary_folder_split_by_patient(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path)
    for extra in ("RG3_J2KR.dcm", "MR_small_jpeg_ls_lossless.dcm"):
        shutil.copy(get_testdata_file(extra, download=False), images / extra)
        rows.append({"file": extra, "PID": "patient-dcm", "finding": "normal", "grade": "1"})
    csv = _csv(tmp_path, rows)
    ds = load_image_folder(images, csv, image_column="file", patient_column="PID",
                           label_columns=["finding"], size=28, seed=3,
                           cache_dir=tmp_path / "cache")  # fmt: skip
    assert ds.task == "binary" and ds.label_names == ("normal", "pneumonia")
    assert sum(ds.size(s) for s in ds.splits) == len(rows) == 62
    expected = assign_splits([r["PID"] for r in rows], seed=3)
    for split in ds.splits:
        assert ds.images[split].dtype == np.uint8 and ds.images[split].shape[1:] == (28, 28)
        assert {expected[p] for p in ds.patient_ids[split]} <= {split}
        for img_id, label in zip(ds.ids[split], ds.labels[split][:, 0], strict=True):
            row = next(r for r in rows if r["file"] == img_id)
            assert label == ("normal", "pneumonia").index(row["finding"])
    assert len({p for s in ds.splits for p in ds.patient_ids[s]}) == 31
    assert set(ds.splits) == {"train", "val", "test"} and ds.size("train") > ds.size("test")


def test_task_inference(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    kw = {"image_column": "file", "patient_column": "PID", "size": 16,
          "cache_dir": tmp_path / "c"}  # fmt: skip
    csv = _csv(tmp_path, rows)
    multi = load_image_folder(images, csv, label_columns=["grade"], **kw)
    assert multi.task == "multi-class" and multi.label_names == ("grade=0", "grade=1", "grade=2")
    ordinal = load_image_folder(images, csv, label_columns=["grade"], task="ordinal-regression",
                                **kw)  # fmt: skip
    assert ordinal.task == "ordinal-regression"
    for i, row in enumerate(rows):
        row.pop("grade"), row.pop("finding")
        row["effusion"] = "" if i % 5 == 0 else str(i % 2)
        row["nodule"] = str((i // 2) % 2)
    ml = load_image_folder(images, _csv(tmp_path, rows, "ml.csv"), **kw)  # all other columns
    assert ml.task == "multi-label" and ml.label_names == ("effusion", "nodule")
    labels = np.concatenate([ml.labels[s] for s in ml.splits])
    assert np.isnan(labels[:, 0]).sum() == 10 and not np.isnan(labels[:, 1]).any()
    with pytest.raises(DataError, match=r"task 'binary' needs 2 classes but column 'grade' has 3"):
        load_image_folder(images, csv, label_columns=["grade"], task="binary", **kw)
    with pytest.raises(DataError, match=r"task 'multi-class' takes one label column, got 2"):
        load_image_folder(images, _csv(tmp_path, rows, "ml.csv"), task="multi-class", **kw)


def test_label_errors(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    kw = {"image_column": "file", "patient_column": "PID", "size": 16,
          "cache_dir": tmp_path / "c"}  # fmt: skip
    rows[3]["finding"] = ""
    with pytest.raises(DataError, match=r"label column 'finding' is blank on line\(s\) 5"):
        load_image_folder(images, _csv(tmp_path, rows), label_columns=["finding"], **kw)
    rows[3]["finding"] = "normal"
    rows[4]["grade"] = "2"
    for r in rows:
        r["a"], r["b"] = "1", "0"
    rows[7]["b"] = "-1"
    with pytest.raises(DataError, match=r"multi-label column 'b' line 9 has '-1'; expected 0, 1"):
        load_image_folder(images, _csv(tmp_path, rows), label_columns=["a", "b"], **kw)
    with pytest.raises(
        DataError, match=r"no column 'pid' \(--patient-column\); did you mean 'PID'"
    ):
        load_image_folder(images, _csv(tmp_path, rows), image_column="file",
                          patient_column="pid")  # fmt: skip
    with pytest.raises(DataError, match=r"label column\(s\) \['findings'\] not found"):
        load_image_folder(images, _csv(tmp_path, rows), label_columns=["findings"], **kw)
    rows[5]["PID"] = ""
    with pytest.raises(DataError, match=r"empty patient id \('PID'\) on line\(s\) 7"):
        load_image_folder(images, _csv(tmp_path, rows), label_columns=["finding"], **kw)
    rows[5]["PID"] = "x"
    rows[6]["file"] = rows[2]["file"]
    with pytest.raises(DataError, match=r"1 image\(s\) listed more than once"):
        load_image_folder(images, _csv(tmp_path, rows), label_columns=["finding"], **kw)
    with pytest.raises(ConfigError, match="sum to"):
        load_image_folder(images, _csv(tmp_path, rows[:5] + rows[7:]), label_columns=["finding"],
                          fractions=(0.5, 0.5, 0.5), **kw)  # fmt: skip
    with pytest.raises(DataError, match=r"labels file .*nope\.csv does not exist"):
        load_image_folder(images, tmp_path / "nope.csv", patient_column="PID")


def test_missing_and_unreadable_images_in_one_error(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (images / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 20)
    rows += [{"file": n, "PID": "z", "finding": "normal", "grade": "0"}
             for n in ("broken.png", "broken.dcm")]  # fmt: skip
    for i in range(12):
        rows.append({"file": f"gone_{i}.png", "PID": f"q{i}", "finding": "normal", "grade": "0"})
    with pytest.raises(DataError) as err:
        load_image_folder(images, _csv(tmp_path, rows), image_column="file", patient_column="PID",
                          label_columns=["finding"], size=16, cache_dir=tmp_path / "c")  # fmt: skip
    message = str(err.value)
    assert "14 of 64 images" in message and "(12 missing, 2 unreadable)" in message
    assert "gone_0.png (missing)" in message and "and 4 more" in message
    assert "broken.dcm (" in message and "gone_9.png" not in message
    assert "broken.png (not a readable image" in message


def test_split_column_and_leakage(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=6, per_patient=2)
    for i, r in enumerate(rows):
        r["split"] = ("train", "val", "test")[(i // 2) % 3]
        r["site"] = "A" if i < 6 else "B"
    kw = {"image_column": "file", "patient_column": "PID", "size": 16,
          "label_columns": ["finding"], "split_column": "split", "site_column": "site",
          "cache_dir": tmp_path / "c"}  # fmt: skip
    ds = load_image_folder(images, _csv(tmp_path, rows), **kw)
    assert {s: ds.size(s) for s in ds.splits} == {"train": 4, "val": 4, "test": 4}
    assert ds.extra["site"]["train"].tolist() == ["A", "A", "B", "B"]
    rows[1]["split"] = "test"  # patient-00 now in train and test
    with pytest.raises(DataError, match=r"patient leakage: 1 of 6 patients .*test/train: 1"):
        load_image_folder(images, _csv(tmp_path, rows), **kw)


def test_second_load_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    csv = _csv(tmp_path, rows)
    kw = {"image_column": "file", "patient_column": "PID", "label_columns": ["finding"],
          "size": 24, "cache_dir": tmp_path / "cache"}  # fmt: skip
    first = load_image_folder(images, csv, **kw)
    monkeypatch.setattr(radiographs, "read_radiograph",
                        lambda *a, **k: pytest.fail("decoded again despite the cache"))  # fmt: skip
    second = load_image_folder(images, csv, **kw)
    for split in first.splits:
        np.testing.assert_array_equal(first.images[split], second.images[split])


def test_a_word_in_a_number_column_is_an_error_not_a_class(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    kw = {"image_column": "file", "patient_column": "PID", "size": 16,
          "cache_dir": tmp_path / "c", "label_columns": ["pneumonia"]}  # fmt: skip
    for i, r in enumerate(rows):
        r["pneumonia"] = str(i % 2)
    rows[6]["pneumonia"] = "yes"  # the typo: line 8 of the CSV
    csv = _csv(tmp_path, rows)
    with pytest.raises(
        DataError,
        match=r"label column 'pneumonia' has 1 value\(s\) outside the inferred values 0, 1: "
        r"line 8: 'yes'; .*--label-values",
    ):
        load_image_folder(images, csv, **kw)
    # declared classes: the same typo, now named against the declared set
    with pytest.raises(
        DataError, match=r"'pneumonia' has 1 value\(s\) outside the declared values 0, 1: line 8"
    ):
        load_image_folder(images, csv, label_values=["0", "1"], **kw)
    rows[6]["pneumonia"] = "2"  # numbers only: caught when the classes are declared
    csv = _csv(tmp_path, rows)
    assert load_image_folder(images, csv, **kw).task == "multi-class"
    with pytest.raises(DataError, match=r"outside the declared values 0, 1: line 8: '2'"):
        load_image_folder(images, csv, label_values=["0", "1"], **kw)
    # declared ordinal grades keep their order, even a grade no row has
    ds = load_image_folder(images, csv, label_values=["0", "1", "2", "3"], **kw)
    assert ds.task == "multi-class"
    assert ds.label_names == ("pneumonia=0", "pneumonia=1", "pneumonia=2", "pneumonia=3")
    with pytest.raises(DataError, match=r"--label-values 0,0 for column 'pneumonia'"):
        load_image_folder(images, csv, label_values=["0", "0"], **kw)


def test_a_user_folder_is_user_data_with_a_fingerprint(tmp_path: Path) -> None:
    images, rows = _folder(tmp_path, n_patients=50, per_patient=1)
    kw = {"image_column": "file", "patient_column": "PID", "size": 16,
          "label_columns": ["finding"]}  # fmt: skip
    ds = load_image_folder(images, _csv(tmp_path, rows), **kw)
    assert ds.official is False
    fingerprint = ds.extra["data_fingerprint"]
    assert len(fingerprint) == 64
    assert ds.extra["data_note"] == (
        f"user data: {images} (50 files, fingerprint sha256:{fingerprint[:16]})"
    )
    assert load_image_folder(images, _csv(tmp_path, rows), **kw).extra["data_fingerprint"] == (
        fingerprint
    )
    Image.fromarray(np.zeros((50, 30), np.uint8)).save(images / rows[0]["file"])  # one file edited
    changed = load_image_folder(images, _csv(tmp_path, rows), **kw).extra["data_fingerprint"]
    assert changed != fingerprint
