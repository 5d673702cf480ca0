"""Issue 18 item 8: refused C-STORE instances are answered with a specific status and an Error
Comment (0000,0902) naming the reason; nothing refused is stored."""

from __future__ import annotations

from pathlib import Path

import pydicom
from _support.service import associate, write_series
from sqlalchemy import select

from radlens.service.dicom_node import DicomNode, refusal
from radlens.service.store import Study


def _send(node: DicomNode, ds: pydicom.Dataset) -> pydicom.Dataset:
    assoc = associate(node.port)
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()


def _instance(tmp_path: Path) -> pydicom.Dataset:
    _, paths = write_series(tmp_path / "series", seed=11)
    return pydicom.dcmread(paths[0])


def test_non_ct_instance_gets_a900_with_modality_comment(node, tmp_path) -> None:
    ds = _instance(tmp_path)
    ds.Modality = "MR"
    answer = _send(node, ds)
    assert answer.Status == 0xA900
    assert answer.ErrorComment == "not a CT image: Modality MR"
    with node.db.session() as session:
        assert session.scalar(select(Study)) is None


def test_invalid_ct_instance_gets_c000_with_reason(node, tmp_path) -> None:
    ds = _instance(tmp_path)
    del ds.PixelData
    answer = _send(node, ds)
    assert answer.Status == 0xC000
    assert answer.ErrorComment == "DICOM file has no pixel data"


def test_store_failure_gets_a700_out_of_resources(node, tmp_path, monkeypatch) -> None:
    def full(_data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(node.files, "put_bytes", full)
    answer = _send(node, _instance(tmp_path))
    assert answer.Status == 0xA700
    assert answer.ErrorComment == "cannot store the instance: No space left on device"


def test_valid_ct_instance_is_still_accepted(node, tmp_path) -> None:
    answer = _send(node, _instance(tmp_path))
    assert answer.Status == 0x0000 and "ErrorComment" not in answer


def test_refusal_comment_fits_an_lo() -> None:
    answer = refusal(0xC000, "unreadable dataset: " + "x\\y " * 40)
    assert len(answer.ErrorComment) == 64 and "\\" not in answer.ErrorComment
