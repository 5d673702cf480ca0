"""DICOM C-STORE / C-ECHO node (pynetdicom) feeding the same ingest path as uploads.

Durability: each received instance is validated, its file written (temp file, fsync, rename,
folder fsync) and its row committed in its own short transaction (SQLite with
`synchronous=FULL`) before the C-STORE Success is answered; Success therefore means the instance
survives a crash or a stop at any later moment. A file whose row was never committed was never
acknowledged; the start-up sweep (`reconcile_store`, run before the port opens) removes it.

An instance that fails validation is answered with a failure status whose Error Comment
(0000,0902) names the reason (0xA900 for a non-CT image, 0xC000 for an unreadable or invalid one,
0xC409 for a patient identity conflict with its study, 0xA700 when it cannot be stored), and is
never stored. A study is `incomplete` (listed, never scored) while an association is sending
into it; the release request completes it (committed before the release is answered). An
association that ends without a release (an A-ABORT, a dropped connection, a crash of this
server) leaves it incomplete until a later association that is released normally adds to it
(senders retry a transfer that was not released), or someone asks a rescore.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.pdu_primitives import A_RELEASE
from pynetdicom.sop_class import (
    CTImageStorage,
    EnhancedCTImageStorage,
    Verification,
)

from radlens.errors import RadlensError, ServiceError
from radlens.service.files import FileStore
from radlens.service.identity import IdentityConflict
from radlens.service.ingest import (
    StoredInstance,
    commit_instances,
    finish_association,
    reconcile_store,
)
from radlens.service.instances import meta_from_dataset, not_ct_reason
from radlens.service.store import Database

log = logging.getLogger(__name__)
STATUS_SUCCESS = 0x0000
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_NOT_SOP_CLASS = 0xA900  # Error: Data Set does not match SOP Class
#: Error (Cannot understand, 0xCxxx processing failure): the instance's patient identity
#: conflicts with its study's; the Error Comment names both identities
STATUS_IDENTITY_CONFLICT = 0xC409
ERROR_COMMENT_MAX = 64  # (0000,0902) Error Comment is an LO: at most 64 characters
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old modalities)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.5",  # RLE lossless
]


def refusal(status: int, comment: str) -> Dataset:
    """A C-STORE failure status with an Error Comment (0000,0902) naming the reason."""
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = " ".join(comment.replace("\\", "/").split())[:ERROR_COMMENT_MAX]
    return answer


@dataclass
class _Association:
    """What one association stored: study ids and how many new instances."""

    studies: set[int] = field(default_factory=set)
    new_instances: int = 0


class DicomNode:
    """A Storage SCP + Verification SCP on (host, port) with AE title and calling-AE allow-list."""

    def __init__(
        self,
        db: Database,
        files: FileStore,
        *,
        ae_title: str = "RADLENS",
        host: str = "127.0.0.1",
        port: int = 11112,
        allowed_calling_aes: tuple[str, ...] = (),
    ) -> None:
        self.db, self.files = db, files
        self.host, self.port = host, port
        self.ae = AE(ae_title=ae_title)
        self.ae.require_called_aet = True
        if allowed_calling_aes:
            self.ae.require_calling_aet = list(allowed_calling_aes)
        self.ae.maximum_pdu_size = 0
        self.ae.network_timeout = 60
        self.ae.add_supported_context(Verification)
        for sop in (CTImageStorage, EnhancedCTImageStorage):
            self.ae.add_supported_context(sop, TRANSFER_SYNTAXES)
        self._server = None
        self._assocs: dict[int, _Association] = {}
        self._lock = threading.Lock()

    def _state(self, assoc) -> _Association:
        with self._lock:
            return self._assocs.setdefault(id(assoc), _Association())

    def _on_echo(self, event) -> int:
        return STATUS_SUCCESS

    def _on_store(self, event) -> int | Dataset:
        name = f"C-STORE from {event.assoc.requestor.ae_title}"
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            reason = not_ct_reason(ds)
            if reason:
                log.warning("refused an instance: not a CT image: %s", reason)
                return refusal(STATUS_NOT_SOP_CLASS, f"not a CT image: {reason}")
            meta = meta_from_dataset(ds, name)
        except RadlensError as exc:
            log.warning("refused an instance: %s", exc)
            return refusal(STATUS_CANNOT_UNDERSTAND, str(exc).removeprefix(f"{name}: "))
        except Exception as exc:  # undecodable dataset
            log.warning("refused an undecodable instance: %s", type(exc).__name__)
            return refusal(
                STATUS_CANNOT_UNDERSTAND, f"unreadable dataset: {type(exc).__name__}: {exc}"
            )
        return self._store(event, meta)

    def _store(self, event, meta) -> int | Dataset:
        """Write the file, commit its row, and only then answer Success (see the docstring)."""
        try:
            data = bytes(event.encoded_dataset(include_meta=True))
            sha = self.files.put_bytes(data)
        except OSError as exc:
            log.error("cannot write a received instance: %s", exc)
            reason = exc.strerror or type(exc).__name__
            return refusal(STATUS_OUT_OF_RESOURCES, f"cannot store the instance: {reason}")
        try:
            result = commit_instances(
                self.db,
                [StoredInstance(sha, len(data), meta)],
                "dicom",
                audit=False,
                receiving=True,
            )
        except IdentityConflict as exc:
            detail = exc.detail
            return refusal(
                STATUS_IDENTITY_CONFLICT,
                f"PatientID {detail['instance_key']} conflicts with study's {detail['study_key']}",
            )
        except RadlensError as exc:  # e.g. its series belongs to another study
            log.warning("refused an instance: %s", exc)
            return refusal(STATUS_CANNOT_UNDERSTAND, str(exc))
        except Exception as exc:  # database down or full: not stored, so not acknowledged
            log.error("cannot index a received instance: %s", type(exc).__name__, exc_info=True)
            kind = type(exc).__name__  # not str(exc): SQL parameters may hold patient data
            return refusal(STATUS_OUT_OF_RESOURCES, f"cannot index the instance: {kind}")
        state = self._state(event.assoc)
        state.studies.update(result.study_ids)
        state.new_instances += result.new_instances
        return STATUS_SUCCESS

    def _on_acse_recv(self, event) -> None:
        """A release request: the studies are complete, committed before the release is
        answered (a crash after the answer cannot leave an acknowledged study incomplete)."""
        primitive = event.primitive
        if isinstance(primitive, A_RELEASE) and primitive.result is None:
            self._finish(event.assoc, complete=True)

    def _on_end(self, event) -> None:
        self._finish(event.assoc, complete=False)  # no-op after a release

    def _finish(self, assoc, *, complete: bool) -> None:
        with self._lock:
            state = self._assocs.pop(id(assoc), None)
        if state is None or not state.studies:
            return
        try:
            finish_association(
                self.db, sorted(state.studies), state.new_instances, complete=complete
            )
        except Exception:
            log.exception("cannot record the end of an association")

    def start(self) -> None:
        """Reconcile the store with the index (`reconcile_store`), then listen in background
        threads."""
        reconcile_store(self.db, self.files)
        handlers = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ACSE_RECV, self._on_acse_recv),
            (evt.EVT_ABORTED, self._on_end),
            (evt.EVT_CONN_CLOSE, self._on_end),
        ]
        try:
            self._server = self.ae.start_server(
                (self.host, self.port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot listen for DICOM on {self.host}:{self.port}: {exc} "
                "(set RADLENS_DICOM_PORT to a free port)"
            ) from exc
        self.port = self._server.server_address[1]
        log.info("DICOM node %s listening on %s:%d", self.ae.ae_title, self.host, self.port)

    @property
    def address(self) -> tuple[str, int] | None:
        """The (host, port) the node listens on; None until started."""
        return None if self._server is None else tuple(self._server.server_address[:2])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
