"""Web pages: login, worklist and study viewer (Jinja2 templates + vanilla JS, no build step).

Pages authenticate with the session cookie (`radlens.service.access`); `/login` is the one page
open without a token, and an unauthenticated page request is redirected to it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from radlens import __version__
from radlens.service.access import COOKIE, Dependency
from radlens.service.auth import AuthError, Principal, authenticate
from radlens.service.lesions import study_lesions
from radlens.service.sessions import SessionCookies
from radlens.service.store import Database
from radlens.service.worklist import study_detail

WEB_DIR = Path(__file__).with_name("web")
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))


def static_files() -> StaticFiles:
    """The pages' scripts and styles, mounted at /static."""
    return StaticFiles(directory=str(WEB_DIR / "static"))


def auth_error_response(request: Request, exc: AuthError) -> Response:
    """A page request without a valid login goes to /login; anything else gets JSON."""
    wants_html = "text/html" in request.headers.get("accept", "")
    if wants_html and exc.status_code == 401 and request.method == "GET":
        return RedirectResponse("/login", status_code=303)
    return JSONResponse(
        {"detail": str(exc)}, status_code=exc.status_code, headers={"WWW-Authenticate": "Bearer"}
    )


def login(db: Database, sessions: SessionCookies, token: str) -> Response:
    """Set a session cookie (signed, expiring, naming the token) for a valid token; back to the
    login page otherwise."""
    try:
        user = authenticate(db, f"Bearer {token.strip()}")
    except AuthError:
        return RedirectResponse("/login?error=unknown+or+revoked+token", status_code=303)
    response = RedirectResponse("/", status_code=303)
    value = sessions.issue(user.token_id or 0)
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", max_age=sessions.max_age_s)
    return response


def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def study_page(
    db: Database,
    request: Request,
    study_id: int,
    user: Principal,
    features: dict[str, bool] | None = None,
) -> Response:
    """The viewer: slices, heatmaps, findings, report; with `features` "segmentation" the
    lesion candidates (contours, slice links), with "text_maps" the sentence-map box."""
    study = study_detail(db, study_id, user)
    can_edit = user.role.value in ("radiologist", "admin")
    context = {
        "user": user, "study": study, "version": __version__, "can_edit": can_edit,
        "features": dict(features or {}), "lesions": study_lesions(db, study_id),
    }  # fmt: skip
    return templates.TemplateResponse(request, "study.html", context)


def pages_router(
    db: Database,
    sessions: SessionCookies,
    viewer: Dependency,
    features: dict[str, bool] | None = None,
) -> APIRouter:
    """The HTML routes: /login, /logout, / (worklist) and /view/{study_id}."""
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, error: str = "") -> Response:
        context = {"error": error[:200], "version": __version__}
        return templates.TemplateResponse(request, "login.html", context)

    @router.post("/login")
    def login_form(token: str = Form(...)) -> Response:
        return login(db, sessions, token)

    router.add_api_route("/logout", logout, methods=["POST"])

    @router.get("/", response_class=HTMLResponse)
    def worklist_page(request: Request, user: Principal = Depends(viewer)) -> Response:
        context = {"user": user, "version": __version__}
        return templates.TemplateResponse(request, "worklist.html", context)

    @router.get("/view/{study_id}", response_class=HTMLResponse)
    def view(request: Request, study_id: int, user: Principal = Depends(viewer)) -> Response:
        return study_page(db, request, study_id, user, features)

    return router
