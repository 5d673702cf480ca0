"""The page login's session cookie: signed, expiring, and naming a token rather than holding it.

The cookie is `<token id>.<expiry, unix s>.<HMAC-SHA256>` signed with the service's session key
(`RADLENS_SESSION_SECRET`, else a random key kept in `<service dir>/session.key`). It lasts
`RADLENS_SESSION_MAX_AGE_S` (8 h by default); each request also checks that the token is not
revoked and its user not disabled, so `radlens user revoke` / `disable` end open sessions too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from radlens.service.auth import AuthError
from radlens.service.settings import Settings

KEY_FILE = "session.key"
_COOKIE_RE = re.compile(r"([0-9]{1,18})\.([0-9]{1,18})\.([0-9a-f]{64})")


def session_key(settings: Settings) -> bytes:
    """The signing key: the configured secret, else the service dir's key file (made once)."""
    if settings.session_secret:
        return settings.session_secret.encode("utf-8")
    path = Path(settings.service_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic; a concurrent first start keeps the key that won
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode("utf-8")


@dataclass
class SessionCookies:
    """Issues and checks session cookie values; `clock` is replaceable for tests."""

    key: bytes
    max_age_s: int
    clock: Callable[[], float] = field(default=time.time)

    def sign(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode("utf-8"), hashlib.sha256).hexdigest()

    def issue(self, token_id: int) -> str:
        """The cookie value for a login with token `token_id`, valid for `max_age_s`."""
        payload = f"{token_id}.{int(self.clock()) + self.max_age_s}"
        return f"{payload}.{self.sign(payload)}"

    def token_id(self, value: str) -> int:
        """The token id of a valid, unexpired cookie value; AuthError (401) otherwise."""
        match = _COOKIE_RE.fullmatch(value)
        if match is None:
            raise AuthError("invalid session cookie; log in again")
        token_id, expires, signature = match.groups()
        if not hmac.compare_digest(signature, self.sign(f"{token_id}.{expires}")):
            raise AuthError("invalid session cookie; log in again")
        if int(expires) <= self.clock():
            raise AuthError("session expired; log in again")
        return int(token_id)
