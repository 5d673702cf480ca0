"""radlens triage service: DICOM in, worklist out.

Modules (each one purpose): `settings` (RADLENS_* environment), `store` (SQLAlchemy models, Alembic
`migrate`), `files` (content-addressed blobs), `uploads` (size / zip guards, the multipart form),
`instances` (the instance record, DICOM parsing), `ingest` (the one ingest path: validate ->
blobs -> one transaction -> visible), `nifti` (NIfTI uploads), `dicom_node` (pynetdicom
C-STORE/C-ECHO SCP), `scoring` (the `Scorer` protocol, `ModelScorer` driven by the run's plan),
`triage` (predictions -> `radlens.reports.triage`, draft report), `worker` (exactly-once
background scoring), `worklist` (typed functions behind the API), `imaging` (slice / overlay
PNGs), `auth` (tokens, roles), `access` (who is calling, role dependencies), `routes` (the JSON
API's routers), `pages` (login, worklist and viewer pages), `app` (FastAPI factory, `serve`);
results back to the PACS: `results_codes` + `results_dicom` (highdicom SR TID 1500 + Grad-CAM
Parametric Maps), `send_results` (C-STORE them after scoring), `fhir` (read-only FHIR R4 views);
pulling: `dicom_address` (AE@HOST:PORT), `pacs_pull` (C-FIND + C-GET/C-MOVE, DICOMweb);
viewer extras: `lesions` (the segmentation run's candidates stored with the scores), `text_maps`
(sentence maps of an image-text run), `viewer_routes` (their JSON and PNG routes).
"""

from radlens.service.app import Seeder, serve
from radlens.service.auth import add_user, list_users, revoke_tokens, set_user_active
from radlens.service.dicom_address import DicomAddress, parse_dicom_address
from radlens.service.files import FileStore
from radlens.service.ingest import IngestResult, ingest_dicom_files
from radlens.service.pacs_pull import FetchResult, fetch_dicomweb, fetch_dimse, ingest_fetched
from radlens.service.results_dicom import study_results_datasets
from radlens.service.send_results import ResultSender, send_datasets
from radlens.service.settings import Settings
from radlens.service.store import Database, Study

__all__ = [
    "Database",
    "DicomAddress",
    "FetchResult",
    "FileStore",
    "IngestResult",
    "ResultSender",
    "Seeder",
    "Settings",
    "Study",
    "add_user",
    "fetch_dicomweb",
    "fetch_dimse",
    "ingest_dicom_files",
    "ingest_fetched",
    "list_users",
    "parse_dicom_address",
    "revoke_tokens",
    "send_datasets",
    "serve",
    "set_user_active",
    "study_results_datasets",
]
