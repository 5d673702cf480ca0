"""Pull a study from a PACS: DIMSE (C-FIND + C-GET or C-MOVE, pynetdicom) or DICOMweb
(QIDO-RS + WADO-RS, dicomweb-client); `radlens fetch` drives it.

- `find_study`: C-FIND at STUDY level (Study Root) for one Study Instance UID.
- `get_study`: C-GET; the PACS sends the instances back on the same association (we take the
  Storage SCP role for every storage class), so no inbound port or AE registration is needed:
  the default.
- `move_study`: C-MOVE to our own Storage SCP, started for the transfer on `move_port`; the PACS
  must know our AE title (host + port) as a destination, as C-MOVE always requires.
- `fetch_dicomweb`: QIDO-RS search for the study, then WADO-RS retrieve of all its instances.
Each instance is written to `out_dir/<SOPInstanceUID>.dcm` (temp file + rename). A missing study,
an unreachable peer or a failed retrieve is a ServiceError naming the peer and the status;
`ingest_fetched` puts the CT images into the radlens store (the ingest path every upload takes)
and skips the study's other objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from radlens.errors import ServiceError
from radlens.service.dicom_address import DicomAddress
from radlens.service.files import FileStore
from radlens.service.ingest import IngestResult, ingest_dicom_files
from radlens.service.instances import not_ct_reason
from radlens.service.store import Database

log = logging.getLogger(__name__)
FIND_FIELDS = ("PatientID", "StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
PENDING = (0xFF00, 0xFF01)
METHODS = ("get", "move", "dicomweb")


@dataclass
class FetchResult:
    """What a fetch wrote: the study, the method, the files, and the C-FIND / QIDO answer."""

    study_uid: str
    method: str
    files: list[Path] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "study_uid": self.study_uid,
            "method": self.method,
            "n_files": len(self.files),
            "found": self.found,
        }


def write_instance(ds: Dataset, out_dir: Path) -> Path:
    """`ds` as `out_dir/<SOPInstanceUID>.dcm`, through a temp file and a rename."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{ds.SOPInstanceUID}.dcm"
    tmp = out_dir / f".tmp-{ds.SOPInstanceUID}.dcm"
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)
    return path


def _associate(ae: AE, peer: DicomAddress, **kwargs):
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title, **kwargs)
    if not assoc.is_established:
        raise ServiceError(
            f"{peer}: association refused or no answer (check the AE title, host and port, "
            f"and that the PACS accepts our AE title {ae.ae_title!r})"
        )
    return assoc


def _study_query(study_uid: str, with_fields: bool = True) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    if with_fields:
        for name in FIND_FIELDS:
            setattr(query, name, "")
    return query


def _final_status(responses) -> Dataset | None:
    """The last non-pending status of a C-GET / C-MOVE response stream (None: no answer)."""
    final = None
    for status, _identifier in responses:
        if not (status and status.Status in PENDING):
            final = status
    return final


def _check_final(status: Dataset | None, what: str, peer: DicomAddress) -> None:
    code = getattr(status, "Status", None)
    if code not in (0x0000, 0xB000):  # success, or warning: some sub-operations failed
        comment = getattr(status, "ErrorComment", "") if status else "no response"
        shown = "none" if code is None else hex(code)
        raise ServiceError(f"{what} from {peer} failed: status {shown} {comment}".rstrip())


def find_study(
    peer: DicomAddress, study_uid: str, *, calling_ae: str = "RADLENS", timeout_s: float = 30.0
) -> dict[str, str]:
    """C-FIND (Study Root, STUDY level): the study's matched keys; ServiceError if none."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = _associate(ae, peer)
    matches, final = [], None
    try:
        for status, identifier in assoc.send_c_find(
            _study_query(study_uid), StudyRootQueryRetrieveInformationModelFind
        ):
            if status and status.Status in PENDING and identifier is not None:
                matches.append(identifier)
            else:
                final = status
    finally:
        assoc.release()
    _check_final(final, "C-FIND", peer)
    if not matches:
        raise ServiceError(f"{peer} has no study with StudyInstanceUID {study_uid}")
    return {name: str(matches[0].get(name, "")) for name in FIND_FIELDS}


def _store_handler(out_dir: Path, written: list[Path]):
    def on_store(event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        written.append(write_instance(ds, out_dir))
        return 0x0000

    return on_store


def get_study(
    peer: DicomAddress,
    study_uid: str,
    out_dir: Path,
    *,
    calling_ae: str = "RADLENS",
    timeout_s: float = 60.0,
) -> list[Path]:
    """C-GET the whole study into `out_dir` on one association; the files written."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for context in StoragePresentationContexts[:120]:  # <= 128 contexts in all
        ae.add_requested_context(context.abstract_syntax)
        roles.append(build_role(context.abstract_syntax, scp_role=True))
    written: list[Path] = []
    handlers = [(evt.EVT_C_STORE, _store_handler(out_dir, written))]
    assoc = _associate(ae, peer, ext_neg=roles, evt_handlers=handlers)
    try:
        responses = assoc.send_c_get(
            _study_query(study_uid, False), StudyRootQueryRetrieveInformationModelGet
        )
        _check_final(_final_status(responses), "C-GET", peer)
    finally:
        assoc.release()
    return written


def move_study(
    peer: DicomAddress,
    study_uid: str,
    out_dir: Path,
    *,
    calling_ae: str = "RADLENS",
    move_host: str = "127.0.0.1",
    move_port: int = 11113,
    timeout_s: float = 60.0,
) -> list[Path]:
    """C-MOVE the study to our own Storage SCP (`calling_ae` at `move_host:move_port`, which
    the PACS must know as a destination); the files written."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    ae.supported_contexts = StoragePresentationContexts
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    written: list[Path] = []
    handlers = [(evt.EVT_C_STORE, _store_handler(out_dir, written))]
    server = ae.start_server((move_host, move_port), block=False, evt_handlers=handlers)
    try:
        assoc = _associate(ae, peer)
        try:
            responses = assoc.send_c_move(
                _study_query(study_uid, False),
                calling_ae,
                StudyRootQueryRetrieveInformationModelMove,
            )
            final = _final_status(responses)
        finally:
            assoc.release()
    finally:
        server.shutdown()
    _check_final(final, "C-MOVE", peer)
    return written


def fetch_dimse(
    peer: DicomAddress,
    study_uid: str,
    out_dir: Path,
    *,
    method: str = "get",
    calling_ae: str = "RADLENS",
    move_port: int = 11113,
) -> FetchResult:
    """C-FIND the study, then C-GET (`method="get"`) or C-MOVE (`"move"`) it into `out_dir`."""
    found = find_study(peer, study_uid, calling_ae=calling_ae)
    if method == "get":
        files = get_study(peer, study_uid, out_dir, calling_ae=calling_ae)
    elif method == "move":
        files = move_study(peer, study_uid, out_dir, calling_ae=calling_ae, move_port=move_port)
    else:
        raise ServiceError(f"fetch method {method!r}: expected 'get' or 'move'")
    log.info("fetched %d instance(s) of %s from %s by C-%s", len(files), study_uid, peer, method)
    return FetchResult(study_uid, f"C-{method.upper()}", files, found)


def fetch_dicomweb(url: str, study_uid: str, out_dir: Path, *, timeout_s: float = 60.0):
    """QIDO-RS search for the study at `url` (the DICOMweb root), then WADO-RS retrieve it."""
    from dicomweb_client.api import DICOMwebClient  # requests is slow to import

    client = DICOMwebClient(url.rstrip("/"), timeout=timeout_s)
    try:
        found = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
        if not found:
            raise ServiceError(f"{url} (QIDO-RS) has no study with StudyInstanceUID {study_uid}")
        datasets = client.retrieve_study(study_uid)
    except ServiceError:
        raise
    except Exception as exc:  # requests' HTTP and connection errors
        raise ServiceError(f"DICOMweb fetch of {study_uid} from {url}: {exc}") from exc
    match = Dataset.from_json(found[0])
    keys = {name: str(match.get(name, "")) for name in FIND_FIELDS}
    files = [write_instance(ds, out_dir) for ds in datasets]
    return FetchResult(study_uid, "DICOMweb", files, keys)


def ingest_fetched(
    db: Database, files: FileStore, paths: Iterable[Path]
) -> tuple[IngestResult, list[str]]:
    """Put the fetched CT images into the radlens store (validated like every upload, source
    "fetch"); other objects of the study (an SR, a Parametric Map, ...) are skipped: the
    result and the skipped files, each as "name: reason"."""
    uploads, skipped = [], []
    for path in paths:
        reason = not_ct_reason(pydicom.dcmread(path, stop_before_pixels=True))
        if reason:
            skipped.append(f"{path.name}: {reason}")
        else:
            uploads.append((path.name, path.read_bytes()))
    if not uploads:
        raise ServiceError(f"no CT image among the fetched files (skipped: {skipped[:3]})")
    return ingest_dicom_files(db, files, uploads, source="fetch"), skipped
