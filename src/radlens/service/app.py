"""FastAPI application factory: JSON API (OpenAPI at /docs), auth, and background services.

Handlers only parse the request and call typed functions in the service modules. Every route
requires a bearer token except `/health`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from radlens import __version__
from radlens.errors import DataError, RadlensError
from radlens.service import worklist as wl
from radlens.service.auth import AuthError, Principal, authenticate
from radlens.service.dicom_node import DicomNode
from radlens.service.files import FileStore
from radlens.service.imaging import ImageService
from radlens.service.ingest import ingest_upload
from radlens.service.pages import cookie_principal, register_pages
from radlens.service.settings import Settings
from radlens.service.store import Database, Role
from radlens.service.uploads import UploadError, UploadLimits
from radlens.service.worker import Worker

log = logging.getLogger(__name__)
NIFTI_FORM_FIELDS = (
    "patient_id",
    "patient_name",
    "study_uid",
    "study_date",
    "study_description",
    "accession",
    "modality",
)


@dataclass
class Services:
    """Everything a request handler may use; built once per app."""

    settings: Settings
    db: Database
    files: FileStore
    images: ImageService
    worker: Worker | None = None
    node: DicomNode | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, loader: Callable | None = None) -> Services:
        db = Database(settings.resolved_database_url)
        files = FileStore(settings.resolved_storage_dir)
        return cls(settings, db, files, ImageService(db, files, loader=loader))

    @property
    def limits(self) -> UploadLimits:
        s = self.settings
        return UploadLimits(
            s.max_upload_bytes, s.max_zip_uncompressed_bytes, s.max_zip_ratio, s.max_zip_entries
        )

    def start_background(self, scorer=None) -> None:
        """Start the DICOM node and the scoring worker as the settings ask."""
        from radlens.service.scoring import load_scorer

        s = self.settings
        if s.demo_patients:
            from radlens.demos.service_seed import seed_demo

            seed_demo(self.db, self.files, s.service_dir, n_patients=s.demo_patients)
        if s.enable_dicom and self.node is None:
            self.node = DicomNode(
                self.db,
                self.files,
                ae_title=s.ae_title,
                host=s.dicom_host,
                port=s.dicom_port,
                allowed_calling_aes=s.allowed_calling_aes,
            )
            self.node.start()
        if scorer is None:
            model_run = s.model_run
            if model_run is None and not s.scorer and s.demo_patients:
                from radlens.demos.service_seed import find_demo_run

                model_run = find_demo_run()
                try:  # a stale demo run must not keep the demo from being served
                    scorer = load_scorer(s.scorer, model_run)
                except RadlensError as exc:
                    log.warning("demo run %s unusable (%s); serving unscored", model_run, exc)
            else:
                scorer = load_scorer(s.scorer, model_run)
        if s.enable_worker and scorer is not None and self.worker is None:
            self.worker = Worker(
                self.db,
                self.files,
                scorer,
                completion_timeout_s=s.completion_timeout_s,
                claim_lease_s=s.claim_lease_s,
                poll_s=s.worker_poll_s,
                threshold=s.finding_threshold,
                loader=self.images.loader,
            )
            self.worker.start()

    def stop_background(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


class ReportText(BaseModel):
    text: str


_bearer = HTTPBearer(auto_error=False, description="radlens token from `radlens user add`")


def _status_of(exc: RadlensError) -> int:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    return 422 if isinstance(exc, DataError) else 400


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    start_background: bool = False,
) -> FastAPI:
    """The radlens web app; `start_background` also runs the DICOM node and worker."""
    services = services or Services.build(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start_background:
            await run_in_threadpool(services.start_background)
        try:
            yield
        finally:
            if start_background:
                await run_in_threadpool(services.stop_background)

    app = FastAPI(
        title="radlens triage service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below behind auth: every route but /health needs a token
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services

    @app.exception_handler(RadlensError)
    async def _radlens_error(_request: Request, exc: RadlensError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        return JSONResponse({"detail": str(exc)}, status_code=_status_of(exc), headers=headers)

    def principal(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        if credentials is not None:
            return authenticate(services.db, f"{credentials.scheme} {credentials.credentials}")
        return cookie_principal(services.db, request)

    def require(role: Role) -> Callable[..., Principal]:
        def dependency(user: Principal = Depends(principal)) -> Principal:
            if not user.allows(role):
                raise AuthError(
                    f"role {user.role.value!r} may not do this; needs {role.value!r}", 403
                )
            return user

        return dependency

    viewer, radiologist, admin = (require(r) for r in (Role.VIEWER, Role.RADIOLOGIST, Role.ADMIN))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(_: Principal = Depends(viewer)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger_docs(_: Principal = Depends(viewer)) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="radlens API")

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/status", tags=["service"])
    def status(_: Principal = Depends(admin)) -> dict[str, Any]:
        return {
            "studies": wl.counts(services.db),
            "worker": services.worker is not None,
            "dicom_port": services.node.port if services.node else None,
        }

    @app.post(
        "/studies",
        status_code=201,
        tags=["studies"],
        openapi_extra={
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["files"],
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                }
                            }
                            | {k: {"type": "string"} for k in NIFTI_FORM_FIELDS},
                        }
                    }
                }
            }
        },
    )
    async def upload_study(request: Request, user: Principal = Depends(radiologist)) -> dict:
        """DICOM files (any number), one zip of them, or one NIfTI plus metadata fields."""
        limit = services.settings.max_upload_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit + 1_000_000:
            raise UploadError(
                f"upload of {length} bytes exceeds the limit of {limit} bytes "
                "(RADLENS_MAX_UPLOAD_BYTES)",
                413,
            )
        form = await request.form(max_files=100_000, max_fields=50)
        uploads: list[tuple[str, bytes]] = []
        fields: dict[str, str] = {}
        total = 0
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                total += len(data)
                if total > limit:
                    raise UploadError(
                        f"upload exceeds the limit of {limit} bytes (RADLENS_MAX_UPLOAD_BYTES)", 413
                    )
                uploads.append((value.filename or key, data))
            elif key in NIFTI_FORM_FIELDS:
                fields[key] = str(value)
        await form.close()
        if not uploads:
            raise UploadError("no files in the upload; send multipart field 'files'", 400)
        result = await run_in_threadpool(
            ingest_upload, services.db, services.files, uploads, services.limits, fields
        )
        for study_id in result.study_ids:
            services.images.forget(study_id)
        return result.as_dict()

    @app.get("/studies", tags=["studies"])
    def list_studies(
        limit: int = 200, status: str | None = None, _: Principal = Depends(viewer)
    ) -> list[dict]:
        """The worklist: critical findings first, then top model score, then arrival."""
        return wl.worklist(services.db, limit=limit, status=status)

    @app.get("/studies/{study_id}", tags=["studies"])
    def get_study(study_id: int, user: Principal = Depends(viewer)) -> dict:
        return wl.study_detail(services.db, study_id, user)

    @app.get("/studies/{study_id}/geometry", tags=["images"])
    def geometry(study_id: int, _: Principal = Depends(viewer)) -> dict:
        return services.images.geometry(study_id)

    @app.get(
        "/studies/{study_id}/slices/{z}.png",
        tags=["images"],
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    def slice_png(
        study_id: int, z: int, window: str = "lung", _: Principal = Depends(viewer)
    ) -> Response:
        return Response(services.images.slice_png(study_id, z, window), media_type="image/png")

    @app.get(
        "/studies/{study_id}/heatmaps/{abnormality}/{z}.png",
        tags=["images"],
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    def overlay_png(
        study_id: int, abnormality: str, z: int, _: Principal = Depends(viewer)
    ) -> Response:
        png = services.images.overlay_png(study_id, abnormality, z)
        return Response(png, media_type="image/png")

    @app.get("/studies/{study_id}/report", tags=["reports"])
    def get_report(study_id: int, _: Principal = Depends(viewer)) -> dict:
        return wl.get_report(services.db, study_id)

    @app.put("/studies/{study_id}/report", tags=["reports"])
    def put_report(study_id: int, body: ReportText, user: Principal = Depends(radiologist)) -> dict:
        return wl.edit_report(services.db, study_id, body.text, user)

    @app.post("/studies/{study_id}/report/sign", tags=["reports"])
    def sign_report(study_id: int, user: Principal = Depends(radiologist)) -> dict:
        return wl.sign_report(services.db, study_id, user)

    @app.get("/audit", tags=["service"])
    def audit(
        study_id: int | None = None, limit: int = 500, _: Principal = Depends(admin)
    ) -> list[dict]:
        return wl.audit_trail(services.db, study_id=study_id, limit=limit)

    register_pages(app, services.db, require(Role.VIEWER))
    return app


def serve(settings: Settings) -> None:
    """`radlens serve`: API + DICOM node + worker in one process, until interrupted."""
    import uvicorn

    log.info("radlens service starting: %s", settings.safe_summary())
    app = create_app(settings, start_background=True)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="info")
