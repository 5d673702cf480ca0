"""radlens triage service: DICOM in, worklist out.

Modules (each one purpose): `settings` (RADLENS_* environment), `store` (SQLAlchemy models, Alembic
`migrate`), `files` (content-addressed blobs), `uploads` (size / zip guards), `ingest` (the one
ingest path: validate -> blobs -> one transaction -> visible), `nifti` (NIfTI uploads),
`dicom_node` (pynetdicom C-STORE/C-ECHO SCP), `scoring` (the `Scorer` protocol, `ModelScorer`),
`triage` (findings, urgency, draft report), `worker` (exactly-once background scoring),
`worklist` (typed functions behind the API), `imaging` (slice / overlay PNGs), `auth` (tokens,
roles), `app` (FastAPI factory, `serve`), `pages` (login, worklist and viewer pages), `demo`.
"""
