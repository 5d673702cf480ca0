"""The JSON API's routers, one per concern; each handler calls one typed service function.

Every route requires a bearer token (or the page cookie) except `/health`; `Access` gives the
role each one needs.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from radlens import __version__
from radlens.service import worklist as wl
from radlens.service.access import Access
from radlens.service.auth import Principal
from radlens.service.files import FileStore
from radlens.service.imaging import ImageService
from radlens.service.ingest import IngestResult, ingest_upload
from radlens.service.nifti import NIFTI_FORM_FIELDS
from radlens.service.store import Database
from radlens.service.uploads import UploadLimits, read_upload_form

PNG = {"response_class": Response, "responses": {200: {"content": {"image/png": {}}}}}
UPLOAD_BODY = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    }
                    | {k: {"type": "string"} for k in NIFTI_FORM_FIELDS},
                }
            }
        }
    }
}


class AppServices(Protocol):
    """What the routers use of `radlens.service.app.Services`."""

    db: Database
    files: FileStore
    images: ImageService

    @property
    def limits(self) -> UploadLimits: ...

    def status(self) -> dict[str, Any]: ...


class ReportText(BaseModel):
    text: str


def health_router() -> APIRouter:
    """`/health`: open, for load balancers and the load test."""
    router = APIRouter(tags=["service"])

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    return router


def docs_router(access: Access) -> APIRouter:
    """The OpenAPI description and Swagger UI, behind a viewer token like the API itself."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    def openapi_schema(request: Request, _: Principal = Depends(access.viewer)) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @router.get("/docs")
    def swagger_docs(_: Principal = Depends(access.viewer)) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="radlens API")

    return router


def admin_router(services: AppServices, access: Access) -> APIRouter:
    """`/status` (studies per status, background services) and `/audit`: admins only."""
    router = APIRouter(tags=["service"])

    @router.get("/status")
    def status(_: Principal = Depends(access.admin)) -> dict[str, Any]:
        return services.status()

    @router.get("/audit")
    def audit(
        study_id: int | None = None, limit: int = 500, _: Principal = Depends(access.admin)
    ) -> list[dict]:
        return wl.audit_trail(services.db, study_id=study_id, limit=limit)

    return router


async def upload_study(services: AppServices, request: Request) -> IngestResult:
    """Read the multipart body, ingest it off the event loop, drop stale cached volumes."""
    form = await read_upload_form(request, services.limits.max_upload_bytes, NIFTI_FORM_FIELDS)
    result = await run_in_threadpool(
        ingest_upload, services.db, services.files, form.files, services.limits, form.fields
    )
    for study_id in result.study_ids:
        services.images.forget(study_id)
    return result


def uploads_router(services: AppServices, access: Access) -> APIRouter:
    """`POST /studies`: radiologists upload DICOM files, a zip of them, or one NIfTI."""
    router = APIRouter(tags=["studies"])

    @router.post("/studies", status_code=201, openapi_extra=UPLOAD_BODY)
    async def upload(request: Request, _: Principal = Depends(access.radiologist)) -> dict:
        """DICOM files (any number), one zip of them, or one NIfTI plus metadata fields."""
        return (await upload_study(services, request)).as_dict()

    return router


def studies_router(services: AppServices, access: Access) -> APIRouter:
    """The worklist and one study's detail (viewers)."""
    router = APIRouter(tags=["studies"])

    @router.get("/studies")
    def list_studies(
        limit: int = 200, status: str | None = None, _: Principal = Depends(access.viewer)
    ) -> list[dict]:
        """The worklist: critical findings first, then top model score, then arrival."""
        return wl.worklist(services.db, limit=limit, status=status)

    @router.get("/studies/{study_id}")
    def get_study(study_id: int, user: Principal = Depends(access.viewer)) -> dict:
        return wl.study_detail(services.db, study_id, user)

    return router


def images_router(images: ImageService, access: Access) -> APIRouter:
    """Slice and heatmap-overlay PNGs and the volume geometry for the viewer (viewers)."""
    router = APIRouter(tags=["images"])

    @router.get("/studies/{study_id}/geometry")
    def geometry(study_id: int, _: Principal = Depends(access.viewer)) -> dict:
        return images.geometry(study_id)

    @router.get("/studies/{study_id}/slices/{z}.png", **PNG)
    def slice_png(
        study_id: int, z: int, window: str = "lung", _: Principal = Depends(access.viewer)
    ) -> Response:
        return Response(images.slice_png(study_id, z, window), media_type="image/png")

    @router.get("/studies/{study_id}/heatmaps/{abnormality}/{z}.png", **PNG)
    def overlay_png(
        study_id: int, abnormality: str, z: int, _: Principal = Depends(access.viewer)
    ) -> Response:
        png = images.overlay_png(study_id, abnormality, z)
        return Response(png, media_type="image/png")

    return router


def reports_router(db: Database, access: Access) -> APIRouter:
    """Read (viewers), edit and sign (radiologists) a study's report."""
    router = APIRouter(tags=["reports"])

    @router.get("/studies/{study_id}/report")
    def get_report(study_id: int, _: Principal = Depends(access.viewer)) -> dict:
        return wl.get_report(db, study_id)

    @router.put("/studies/{study_id}/report")
    def put_report(
        study_id: int, body: ReportText, user: Principal = Depends(access.radiologist)
    ) -> dict:
        return wl.edit_report(db, study_id, body.text, user)

    @router.post("/studies/{study_id}/report/sign")
    def sign_report(study_id: int, user: Principal = Depends(access.radiologist)) -> dict:
        return wl.sign_report(db, study_id, user)

    @router.post("/studies/{study_id}/rescore")
    def rescore(study_id: int, user: Principal = Depends(access.radiologist)) -> dict:
        """Queue a study for scoring again (clears "incomplete"); audited."""
        return wl.rescore(db, study_id, user)

    return router


def api_routers(services: AppServices, access: Access) -> list[APIRouter]:
    """Every JSON router of the app, in the order their routes are matched."""
    return [
        docs_router(access),
        health_router(),
        admin_router(services, access),
        uploads_router(services, access),
        studies_router(services, access),
        images_router(services.images, access),
        reports_router(services.db, access),
    ]
