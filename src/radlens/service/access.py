"""Who is calling: the bearer header or the page cookie, and the role each route needs.

Browsers cannot send a bearer header on navigation or `<img>` loads, so pages use a session cookie
(`radlens.service.sessions`: signed, expiring, naming the login's token; HttpOnly,
SameSite=Strict). State-changing requests authenticated by cookie
must carry `X-Requested-With: radlens` (the page JS sends it; a cross-site form cannot), a second
guard against CSRF beside SameSite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from radlens.service.auth import AuthError, Principal, authenticate, authenticate_token_id
from radlens.service.sessions import SessionCookies
from radlens.service.store import Database, Role

COOKIE = "radlens_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BEARER = HTTPBearer(auto_error=False, description="radlens token from `radlens user add`")

Dependency = Callable[..., Principal]


def cookie_principal(db: Database, sessions: SessionCookies, request: Request) -> Principal:
    """The principal from the session cookie (pages, images, the page's own API calls)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
    if request.method not in SAFE_METHODS and request.headers.get("x-requested-with") != "radlens":
        raise AuthError(
            "cookie-authenticated changes need the header X-Requested-With: radlens", 403
        )
    return authenticate_token_id(db, sessions.token_id(cookie))


def check_role(user: Principal, role: Role) -> Principal:
    """`user` when their role reaches `role`, else AuthError 403."""
    if not user.allows(role):
        raise AuthError(f"role {user.role.value!r} may not do this; needs {role.value!r}", 403)
    return user


@dataclass(frozen=True)
class Access:
    """FastAPI dependencies giving the caller when their role reaches viewer / radiologist /
    admin (each route names the one it needs)."""

    viewer: Dependency
    radiologist: Dependency
    admin: Dependency


def make_access(db: Database, sessions: SessionCookies) -> Access:
    """The role dependencies of an app whose users live in `db` (pages: `sessions` cookies)."""

    def principal(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(BEARER),
    ) -> Principal:
        if credentials is not None:
            return authenticate(db, f"{credentials.scheme} {credentials.credentials}")
        return cookie_principal(db, sessions, request)

    def require(role: Role) -> Dependency:
        def dependency(user: Principal = Depends(principal)) -> Principal:
            return check_role(user, role)

        return dependency

    return Access(require(Role.VIEWER), require(Role.RADIOLOGIST), require(Role.ADMIN))
