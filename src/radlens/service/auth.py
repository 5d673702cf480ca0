"""Users, bearer tokens (stored only as sha256 hashes) and roles viewer < radiologist < admin."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from radlens.core import suggest
from radlens.errors import ServiceError
from radlens.service.store import AuditEvent, Database, Role, Token, User, utcnow

ROLE_ORDER = {Role.VIEWER: 0, Role.RADIOLOGIST: 1, Role.ADMIN: 2}
TOKEN_PREFIX = "rl_"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


class AuthError(ServiceError):
    """Missing, unknown or revoked token (HTTP 401) or a role too low (HTTP 403)."""

    def __init__(self, message: str, status_code: int = 401) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    name: str
    role: Role
    token_id: int | None = None

    def allows(self, needed: Role) -> bool:
        return ROLE_ORDER[self.role] >= ROLE_ORDER[needed]


def parse_role(value: str) -> Role:
    """A role from its name; ServiceError with a did-you-mean otherwise."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = [r.value for r in Role]
        hint = suggest(value, names)
        raise ServiceError(f"unknown role {value!r}, expected one of {names}{hint}") from None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(db: Database, name: str, role: Role | str) -> str:
    """Create a user (or a new token for an existing one with the same role); return the token.

    The token is shown to the caller once; only its sha256 is stored.
    """
    if not _NAME_RE.match(name):
        raise ServiceError(
            f"user name {name[:40]!r} must be 1-128 characters of letters, digits, '_.@-'"
        )
    role = parse_role(role) if isinstance(role, str) else role
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            user = User(name=name, role=role)
            session.add(user)
            session.flush()
        elif user.role != role:
            raise ServiceError(
                f"user {name!r} exists with role {user.role.value!r}, not {role.value!r}"
            )
        session.add(Token(user_id=user.id, token_hash=hash_token(token)))
        session.add(AuditEvent(user_id=None, action="token_created", detail={"user": user.id}))
    return token


def list_users(db: Database) -> list[dict[str, object]]:
    """Users with their role and number of active tokens (no token material)."""
    with db.session() as session:
        rows = []
        for user in session.scalars(select(User).order_by(User.id)):
            n_tokens = len(
                session.scalars(
                    select(Token.id).where(Token.user_id == user.id, Token.revoked_at.is_(None))
                ).all()
            )
            rows.append(
                {
                    "id": user.id,
                    "name": user.name,
                    "role": user.role.value,
                    "active": user.active,
                    "tokens": n_tokens,
                    "created_at": user.created_at.isoformat(),
                }
            )
        return rows


def user_named(session, name: str) -> User:
    """The user called `name`; ServiceError with a did-you-mean otherwise."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        hint = suggest(name, list(session.scalars(select(User.name))))
        raise ServiceError(f"no user named {name!r}{hint}")
    return user


def revoke_tokens(db: Database, name: str) -> int:
    """Revoke every active token of a user (and so their page sessions); return how many."""
    with db.session() as session:
        user = user_named(session, name)
        tokens = session.scalars(
            select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))
        ).all()
        for token in tokens:
            token.revoked_at = utcnow()
        detail = {"user": user.id, "tokens": len(tokens)}
        session.add(AuditEvent(user_id=None, action="tokens_revoked", detail=detail))
        return len(tokens)


def set_user_active(db: Database, name: str, active: bool) -> None:
    """Enable or disable a user; a disabled user's tokens and sessions stop authenticating."""
    with db.session() as session:
        user = user_named(session, name)
        user.active = active
        action = "user_enabled" if active else "user_disabled"
        session.add(AuditEvent(user_id=None, action=action, detail={"user": user.id}))


def principal_of(user: User, token: Token) -> Principal:
    """The caller behind `token`; AuthError when it is revoked or its user disabled."""
    if token.revoked_at is not None:
        raise AuthError("token revoked")
    if not user.active:
        raise AuthError(f"user {user.name!r} is disabled")
    return Principal(user_id=user.id, name=user.name, role=user.role, token_id=token.id)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise AuthError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token.strip()


def authenticate(db: Database, authorization: str | None) -> Principal:
    """The principal for an `Authorization: Bearer <token>` header value."""
    digest = hash_token(bearer_token(authorization))
    with db.session() as session:
        row = session.execute(
            select(User, Token)
            .join(Token, Token.user_id == User.id)
            .where(Token.token_hash == digest)
        ).first()
        if row is None:
            raise AuthError("unknown token")
        return principal_of(*row)


def authenticate_token_id(db: Database, token_id: int) -> Principal:
    """The principal of a page session naming token `token_id` (`radlens.service.sessions`)."""
    with db.session() as session:
        row = session.execute(
            select(User, Token).join(Token, Token.user_id == User.id).where(Token.id == token_id)
        ).first()
        if row is None:
            raise AuthError("unknown session token; log in again")
        return principal_of(*row)
