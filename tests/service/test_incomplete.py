"""Issue 18 item 8: an association the sender aborts leaves its study `incomplete`: listed, not
scored, until a later association that is released normally completes it."""

from __future__ import annotations

import time

import pydicom
from _support.service import TinyNetScorer, associate, write_series
from sqlalchemy import func, select

from radlens.service.auth import Principal, add_user
from radlens.service.dicom_node import DicomNode
from radlens.service.store import Database, Instance, Role, Study, StudyStatus, User
from radlens.service.worker import Worker
from radlens.service.worklist import audit_trail, rescore, worklist


def _associate(node: DicomNode):
    return associate(node.port)


def _study(node: DicomNode, incomplete: bool) -> Study:
    """The one study once its `incomplete` mark is as expected (the node records the end of an
    association on its own thread)."""
    deadline = time.monotonic() + 10
    while True:
        with node.db.session() as session:
            study = session.scalar(select(Study))
            if study.incomplete == incomplete or time.monotonic() > deadline:
                return study
        time.sleep(0.05)


def test_aborted_association_leaves_the_study_incomplete(node, tmp_path) -> None:
    _, paths = write_series(tmp_path / "s", seed=3, shape=(6, 16, 16))
    datasets = [pydicom.dcmread(p) for p in paths]
    assoc = _associate(node)
    for ds in datasets[:3]:
        assert assoc.send_c_store(ds).Status == 0x0000
    assoc.abort()  # the sender gives up mid-transfer
    assert _study(node, incomplete=True).incomplete
    assert worklist(node.db)[0]["incomplete"] is True
    worker = Worker(node.db, node.files, TinyNetScorer(), completion_timeout_s=0)
    assert worker.run_once() == 0  # not scored while incomplete
    assoc = _associate(node)  # the sender tries again and finishes
    for ds in datasets:
        assert assoc.send_c_store(ds).Status == 0x0000
    assoc.release()
    with node.db.session() as session:
        assert session.scalar(select(func.count(Instance.id))) == 6
    assert not _study(node, incomplete=False).incomplete
    assert worker.run_once() == 1
    assert _study(node, incomplete=False).status == StudyStatus.SCORED


def test_explicit_rescore_clears_incomplete(node, tmp_path) -> None:
    _, paths = write_series(tmp_path / "s", seed=4, shape=(4, 16, 16))
    assoc = _associate(node)
    assert assoc.send_c_store(pydicom.dcmread(paths[0])).Status == 0x0000
    assoc.abort()
    study = _study(node, incomplete=True)
    assert study.incomplete
    worker = Worker(node.db, node.files, TinyNetScorer(), completion_timeout_s=0)
    assert worker.run_once() == 0
    user = Principal(user_id=add_user_id(node.db), name="rad", role=Role.RADIOLOGIST)
    assert rescore(node.db, study.id, user)["status"] == "pending"
    assert worker.run_once() == 1
    assert _study(node, incomplete=False).status == StudyStatus.SCORED
    assert [e["action"] for e in audit_trail(node.db, study_id=study.id)].count("rescore") == 1


def add_user_id(db) -> int:
    add_user(db, "rad", "radiologist")
    with db.session() as session:
        return session.scalar(select(User.id).where(User.name == "rad"))


def test_success_means_the_row_is_committed_before_release(node, tmp_path) -> None:
    _, paths = write_series(tmp_path / "s", seed=5, shape=(2, 16, 16))
    ds = pydicom.dcmread(paths[0])
    assoc = _associate(node)
    try:
        assert assoc.send_c_store(ds).Status == 0x0000
        other = Database(node.db.url)  # another connection sees it while the association is open
        try:
            with other.session() as session:
                row = session.scalar(select(Instance).where(Instance.sop_uid == ds.SOPInstanceUID))
            assert row is not None and node.files.exists(row.sha256)
        finally:
            other.dispose()
    finally:
        assoc.release()


def test_a_study_is_not_scorable_while_its_association_is_open(node, tmp_path) -> None:
    """Instances are committed one by one, but the study stays incomplete (never claimed by the
    worker) until the association is released; a crash before release leaves it incomplete."""
    _, paths = write_series(tmp_path / "s", seed=6, shape=(2, 16, 16))
    worker = Worker(node.db, node.files, TinyNetScorer(), completion_timeout_s=0)
    assoc = _associate(node)
    try:
        assert assoc.send_c_store(pydicom.dcmread(paths[0])).Status == 0x0000
        with node.db.session() as session:
            (study,) = session.scalars(select(Study)).all()
            assert study.visible and study.incomplete
        assert worker.claim_next() is None  # half-received: not scored
        assert assoc.send_c_store(pydicom.dcmread(paths[1])).Status == 0x0000
    finally:
        assoc.release()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the release is handled in the node's thread
        with node.db.session() as session:
            if not session.scalars(select(Study)).one().incomplete:
                break
        time.sleep(0.05)
    assert worker.claim_next() is not None
