"""Sessions and CSRF tokens of the status page (pure: HMAC over values, no I/O).

A session is a signed cookie value `v1.<expires>.<sid>.<mac>`: `expires` in Unix seconds,
`sid` 16 random bytes (hex), `mac` HMAC-SHA256 over the rest with a key derived from the admin
token (HMAC(admin token, "relay-ui-session-v1")). So every replica that shares the token
accepts the session, and changing the token signs everybody out. The CSRF token of a form is
HMAC(key, "csrf:" + sid): a synchronizer token bound to the session (OWASP CSRF Prevention
Cheat Sheet, "Synchronizer token pattern" with an HMAC instead of server-side storage).
Before sign-in the form is bound the same way to a short-lived random `login` nonce cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "relay_ui_session"
LOGIN_COOKIE = "relay_ui_login"
SESSION_TTL_S = 12 * 3600  # a working day; sign in again after
LOGIN_TTL_S = 600
_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: its random id and when it ends (Unix seconds)."""

    sid: str
    expires: int


class Signer:
    """Issues and checks session cookies and CSRF tokens with one derived key.

    `key_material` is the admin token's bytes; it is never kept, only the derived key.
    """

    __slots__ = ("_key",)

    def __init__(self, key_material: bytes) -> None:
        self._key = hmac.new(key_material, b"relay-ui-session-v1", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Signer(<key hidden>)"

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self, *, now: float, ttl_s: int = SESSION_TTL_S) -> tuple[str, Session]:
        """A new cookie value and the session it names."""
        session = Session(sid=secrets.token_hex(16), expires=int(now) + ttl_s)
        body = f"{_VERSION}.{session.expires}.{session.sid}"
        return f"{body}.{self._mac(body)}", session

    def verify(self, value: str | None, *, now: float) -> Session | None:
        """The session a cookie value names, or None when it is missing, forged or expired."""
        if not value or len(value) > 200:
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            return None
        _, expires, sid, mac = parts
        try:
            body = f"{_VERSION}.{expires}.{sid}"
            if not hmac.compare_digest(self._mac(body), mac):
                return None
            ends = int(expires)
        except (ValueError, UnicodeEncodeError):
            return None
        return Session(sid=sid, expires=ends) if now < ends else None

    def csrf(self, bound_to: str) -> str:
        """The CSRF token of forms bound to `bound_to` (a session id or a login nonce)."""
        return self._mac(f"csrf:{bound_to}")

    def csrf_ok(self, bound_to: str | None, given: str | None) -> bool:
        """Whether `given` is the CSRF token for `bound_to` (constant-time)."""
        if not bound_to or not given or len(given) > 128:
            return False
        try:
            return hmac.compare_digest(self.csrf(bound_to), given)
        except (TypeError, UnicodeEncodeError):
            return False


def new_nonce() -> str:
    """A random value for the pre-sign-in cookie the sign-in form's CSRF token binds to."""
    return secrets.token_hex(16)
