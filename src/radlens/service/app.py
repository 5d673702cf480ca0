"""FastAPI application factory: the routers (OpenAPI at /docs), error handling, and background
services (DICOM node, scoring worker).

`create_app` only wires: the routes are `radlens.service.routes` (JSON API) and
`radlens.service.pages` (HTML); what a caller may do is `radlens.service.access`. What the
service seeds into an empty store, or which run it falls back to, is passed in by the caller
(`radlens serve --demo` passes the demo's), never imported from above.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from radlens import __version__
from radlens.deploy import DetectorScorer, LesionFinders, SegmentationScorer, TextMapper
from radlens.errors import DataError, RadlensError
from radlens.service import worklist as wl
from radlens.service.access import make_access
from radlens.service.auth import AuthError
from radlens.service.dicom_address import parse_dicom_address
from radlens.service.dicom_node import DicomNode
from radlens.service.fhir import fhir_router
from radlens.service.files import FileStore, sweep_leftovers
from radlens.service.imaging import ImageService, LesionImages
from radlens.service.pages import auth_error_response, pages_router, static_files
from radlens.service.routes import api_routers
from radlens.service.scoring import Scorer, load_scorer
from radlens.service.send_results import ResultSender
from radlens.service.sessions import SessionCookies, session_key
from radlens.service.settings import Settings
from radlens.service.store import Database, utcnow
from radlens.service.text_maps import StudyTextMaps
from radlens.service.uploads import UploadLimits
from radlens.service.viewer_routes import lesions_router, text_maps_router
from radlens.service.worker import Worker

log = logging.getLogger(__name__)
#: Fills a fresh store at start-up (e.g. the demo's synthetic patients); called with the
#: service's database and file store before the DICOM node and the worker start.
Seeder = Callable[[Database, FileStore], object]


def _lesion_finder(settings: Settings) -> SegmentationScorer | LesionFinders | None:
    """The segmentation run alone, or it and the detector runs merged (`LesionFinders`), or
    None."""
    finders: list = []
    if settings.seg_run is not None:
        finders.append(SegmentationScorer(settings.seg_run, threshold=settings.seg_threshold))
    for run in settings.detector_runs:
        finders.append(DetectorScorer(run, threshold=settings.detector_threshold))
    if not settings.detector_runs:
        return finders[0] if finders else None
    return LesionFinders(finders)


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
    # `--seg-run` / `--detector-run`: lesion candidates at scoring time (None: the viewer says
    # there are none)
    segmenter: SegmentationScorer | LesionFinders | None = None
    text_mapper: TextMapper | None = None  # `--text-run`: the viewer's sentence maps
    lesion_images: LesionImages = field(init=False)
    text_maps: StudyTextMaps = field(init=False)

    def __post_init__(self) -> None:
        self.lesion_images = LesionImages(self.db, self.files)
        self.text_maps = StudyTextMaps(self.images, self.text_mapper)

    @classmethod
    def build(cls, settings: Settings, *, loader: Callable | None = None) -> Services:
        """The services of `settings`; a segmentation, detector or image-text run they name is
        loaded first, so a missing or unfit one stops the start with its reason (ModelError)."""
        segmenter = _lesion_finder(settings)
        mapper = TextMapper(settings.text_run) if settings.text_run is not None else None
        db = Database(settings.resolved_database_url)
        files = FileStore(settings.resolved_storage_dir)
        images = ImageService(db, files, loader=loader)
        return cls(settings, db, files, images, segmenter=segmenter, text_mapper=mapper)

    @property
    def features(self) -> dict[str, bool]:
        """What the viewer can show besides slices and heatmaps."""
        return {"segmentation": self.segmenter is not None, "text_maps": self.text_maps.configured}

    @property
    def limits(self) -> UploadLimits:
        s = self.settings
        return UploadLimits(
            s.max_upload_bytes, s.max_zip_uncompressed_bytes, s.max_zip_ratio, s.max_zip_entries
        )

    def status(self) -> dict[str, Any]:
        """Studies per status and which background services run (`GET /status`)."""
        return {
            "studies": wl.counts(self.db),
            "worker": self.worker is not None,
            "dicom_port": self.node.port if self.node else None,
        }

    def configured_scorer(self, fallback_run: Path | None = None) -> Scorer | None:
        """The scorer the settings name (`load_scorer`); when they name none, a ModelScorer of
        `fallback_run` if it loads (a stale fallback run leaves the service unscored)."""
        s = self.settings
        if s.scorer or s.model_run is not None or fallback_run is None:
            return load_scorer(s.scorer, s.model_run)
        try:
            return load_scorer("", fallback_run)
        except RadlensError as exc:
            log.warning("run %s unusable (%s); serving unscored", fallback_run, exc)
            return None

    def start_background(
        self,
        scorer: Scorer | None = None,
        *,
        seed: Seeder | None = None,
        fallback_run: Path | None = None,
    ) -> None:
        """Sweep what killed processes left (`sweep_leftovers`), seed an empty store (`seed`),
        then start the DICOM node and the scoring worker as the settings ask; `scorer` defaults
        to `configured_scorer(fallback_run)`."""
        s = self.settings
        sweep_leftovers(self.files)
        if seed is not None:
            seed(self.db, self.files)
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
            scorer = self.configured_scorer(fallback_run)
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
                fitness=s.fitness_in_force(),
                on_scored=self.result_sender(),
                segmenter=self.segmenter,
            )
            self.worker.start()
            self._resend_unsent()

    def _resend_unsent(self) -> None:
        """In the background: send the results a stopped process left unsent (studies scored
        before now; the worker sends what it scores from now on)."""
        sender = self.result_sender()
        if sender is not None:
            started = utcnow()
            threading.Thread(
                target=sender.resend_unsent, args=(started,), name="radlens-resend", daemon=True
            ).start()

    def result_sender(self) -> ResultSender | None:
        """The after-scoring C-STORE of the DICOM results (`settings.send_results`), or None."""
        s = self.settings
        if not s.send_results:
            return None
        address = parse_dicom_address(s.send_results, option="send_results")
        return ResultSender(self.db, self.files, address, calling_ae=s.ae_title)

    def stop_background(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


def status_of(exc: RadlensError) -> int:
    """The HTTP status of a radlens error: its `status_code`, else 422 for bad data, else 400."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    return 422 if isinstance(exc, DataError) else 400


async def radlens_error(_request: Request, exc: RadlensError) -> Response:
    """A radlens error as `{"detail": message}` with its HTTP status."""
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))


async def auth_error(request: Request, exc: AuthError) -> Response:
    """401/403 with `WWW-Authenticate: Bearer`; a page request goes to /login instead."""
    return auth_error_response(request, exc)


def lifespan_of(
    services: Services, start: bool, seed: Seeder | None, fallback_run: Path | None
) -> Callable:
    """The app's lifespan: start the background services (if `start`), stop them at exit."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if start:
            await run_in_threadpool(
                lambda: services.start_background(seed=seed, fallback_run=fallback_run)
            )
        try:
            yield
        finally:
            if start:
                await run_in_threadpool(services.stop_background)

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    start_background: bool = False,
    seed: Seeder | None = None,
    fallback_run: Path | None = None,
) -> FastAPI:
    """The radlens web app; `start_background` also seeds the store with `seed` and runs the
    DICOM node and the worker (scoring with `fallback_run` when the settings name no model)."""
    services = services or Services.build(settings or Settings.from_env())
    app = FastAPI(
        title="radlens triage service",
        version=__version__,
        lifespan=lifespan_of(services, start_background, seed, fallback_run),
        docs_url=None,  # served by routes.docs_router behind auth: all but /health need a token
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    app.add_exception_handler(RadlensError, radlens_error)
    app.add_exception_handler(AuthError, auth_error)
    sessions = SessionCookies(session_key(services.settings), services.settings.session_max_age_s)
    app.state.sessions = sessions
    access = make_access(services.db, sessions)
    for router in api_routers(services, access):
        app.include_router(router)
    app.include_router(fhir_router(services.db, access))
    seg = services.segmenter is not None
    app.include_router(lesions_router(services.db, services.lesion_images, seg, access))
    app.include_router(text_maps_router(services.text_maps, access))
    app.mount("/static", static_files(), name="static")
    app.include_router(pages_router(services.db, sessions, access.viewer, services.features))
    return app


def serve(
    settings: Settings, *, seed: Seeder | None = None, fallback_run: Path | None = None
) -> None:
    """`radlens serve`: API + DICOM node + worker in one process, until interrupted."""
    import uvicorn

    log.info("radlens service starting: %s", settings.safe_summary())
    app = create_app(settings, start_background=True, seed=seed, fallback_run=fallback_run)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="info")
