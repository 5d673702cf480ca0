"""radlens triage service: DICOM in, worklist out.

Modules (each one purpose): `settings` (RADLENS_* environment), `store` (SQLAlchemy models, Alembic
`migrate`), `files` (content-addressed blobs), `uploads` (size / zip guards, the multipart form),
`instances` (the instance record, DICOM parsing), `ingest` (the one ingest path: validate ->
blobs -> one transaction -> visible), `nifti` (NIfTI uploads), `dicom_node` (pynetdicom
C-STORE/C-ECHO SCP), `scoring` (the `Scorer` protocol, `ModelScorer` driven by the run's plan),
`triage` (predictions -> `radlens.reports.triage`, draft report), `worker` (exactly-once
background scoring), `worklist` (typed functions behind the API), `imaging` (slice / overlay
PNGs), `auth` (tokens, roles), `access` (who is calling, role dependencies), `routes` (the JSON
API's routers), `pages` (login, worklist and viewer pages), `app` (FastAPI factory, `serve`).
"""

from radlens.service.app import Seeder, serve
from radlens.service.auth import add_user, list_users, revoke_tokens, set_user_active
from radlens.service.files import FileStore
from radlens.service.ingest import IngestResult, ingest_dicom_files
from radlens.service.settings import Settings
from radlens.service.store import Database, Study

__all__ = [
    "Database",
    "FileStore",
    "IngestResult",
    "Seeder",
    "Settings",
    "Study",
    "add_user",
    "ingest_dicom_files",
    "list_users",
    "revoke_tokens",
    "serve",
    "set_user_active",
]
