"""Web pages: login, worklist and study viewer (Jinja2 templates + vanilla JS, no build step).

Browsers cannot send a bearer header on navigation or `<img>` loads, so pages use a cookie that
holds the same token (HttpOnly, SameSite=Strict). `/login` is the one page open without a token.
State-changing requests authenticated by cookie must carry `X-Requested-With: radlens` (the page
JS sends it; a cross-site form cannot), a second guard against CSRF beside SameSite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from radlens import __version__
from radlens.service.auth import AuthError, Principal, authenticate
from radlens.service.store import Database

COOKIE = "radlens_token"
WEB_DIR = Path(__file__).with_name("web")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))


def cookie_principal(db: Database, request: Request) -> Principal:
    """The principal from the session cookie (pages, images, the page's own API calls)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
    if request.method not in SAFE_METHODS and request.headers.get("x-requested-with") != "radlens":
        raise AuthError(
            "cookie-authenticated changes need the header X-Requested-With: radlens", 403
        )
    return authenticate(db, f"Bearer {token}")


def register_pages(app: FastAPI, db: Database, viewer: Callable[..., Principal]) -> None:
    """Add the static files and the HTML routes to `app`."""
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, error: str = "") -> Response:
        return templates.TemplateResponse(
            request, "login.html", {"error": error[:200], "version": __version__}
        )

    @app.post("/login", include_in_schema=False)
    def login(token: str = Form(...)) -> Response:
        try:
            authenticate(db, f"Bearer {token.strip()}")
        except AuthError:
            return RedirectResponse("/login?error=unknown+or+revoked+token", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if wants_html and exc.status_code == 401 and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        from fastapi.responses import JSONResponse

        return JSONResponse(
            {"detail": str(exc)},
            status_code=exc.status_code,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def worklist_page(request: Request, user: Principal = Depends(viewer)) -> Response:
        return templates.TemplateResponse(
            request, "worklist.html", {"user": user, "version": __version__}
        )

    @app.get("/view/{study_id}", response_class=HTMLResponse, include_in_schema=False)
    def study_page(request: Request, study_id: int, user: Principal = Depends(viewer)) -> Response:
        from radlens.service.worklist import study_detail

        study = study_detail(db, study_id, user)
        return templates.TemplateResponse(
            request,
            "study.html",
            {
                "user": user,
                "study": study,
                "version": __version__,
                "can_edit": user.role.value in ("radiologist", "admin"),
            },
        )
