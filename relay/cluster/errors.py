"""The one exception tree of the cluster API boundary, and the status -> exception ladder.

Every error carries the operation name (`endpoint`), the HTTP `status` (None when no answer
came), the platform's `code` and `msg` when the body was `{"code": ..., "msg": ...}`, and the
raw `body` (truncated). Nothing here ever holds the API token: requests are not kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Literal

BODY_LIMIT = 2000  # characters of a raw body kept on an error
_MSG_LIMIT = 300  # characters of a message shown by str()

UnavailableReason = Literal["refused", "connect-timeout", "timeout", "reset", "truncated"]


class ClusterApiError(Exception):
    """Base of every cluster API failure."""

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        endpoint: str,
        msg: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        body: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.msg = msg
        self.body = body[:BODY_LIMIT]
        super().__init__(endpoint, status, code, msg)

    @property
    def detail(self) -> str:
        """The error without its endpoint: `HTTP 400 code=4001: spec_id must be ...`."""
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        head = " ".join(parts)
        msg = _one_line(self.msg)
        return f"{head}: {msg}" if head and msg else head or msg

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ClientError(ClusterApiError):
    """A 4xx answer (other than 429), or a request relay refused to make as asked."""


class Unauthorized(ClientError):
    """401 or 403: the token is missing, wrong, or not allowed to do this."""


class NotFound(ClientError):
    """404: no such cluster (or path)."""


class RateLimited(ClusterApiError):
    """429: slow down; `retry_after` is the server's Retry-After in seconds, if it sent one."""

    retriable = True

    def __init__(self, endpoint: str, msg: str, *, retry_after: float | None = None,
                 status: int | None = 429, code: int | str | None = None,
                 body: str = "") -> None:
        super().__init__(endpoint, msg, status=status, code=code, body=body)
        self.retry_after = retry_after


class ServerError(ClusterApiError):
    """A 5xx answer."""

    retriable = True


class Unavailable(ClusterApiError):
    """No (complete) answer: refused, reset, timed out, or a truncated body.

    `reached` is False only when the request certainly never reached the server (the
    connection was never established), which is what makes a non-idempotent call safe to retry.
    """

    retriable = True

    def __init__(self, endpoint: str, msg: str, *, reason: UnavailableReason,
                 reached: bool) -> None:
        super().__init__(endpoint, msg)
        self.reason: UnavailableReason = reason
        self.reached = reached


class BadResponse(ClusterApiError):
    """A 2xx answer whose body is not JSON or not the documented shape."""


class ResponseTooLarge(BadResponse):
    """An answer (of any status) longer than the client's `max_response_bytes`.

    Reading stops at the limit and the connection is closed: the rest is never read.
    """

    def __init__(self, endpoint: str, *, limit: int, status: int) -> None:
        super().__init__(endpoint, f"answer larger than max_response_bytes ({limit} bytes)",
                         status=status)
        self.limit = limit


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MSG_LIMIT else flat[: _MSG_LIMIT - 3] + "..."


def platform_error(body: str) -> tuple[int | str | None, str | None]:
    """Read `{"code": ..., "msg": ...}` from an error body; (None, None) when it is not that."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict) or not ({"code", "msg"} & data.keys()):
        return None, None
    code = data.get("code")
    if not isinstance(code, int | str) or isinstance(code, bool):
        code = None if code is None else str(code)
    msg = data.get("msg")
    return code, None if msg is None else str(msg)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (RFC 9110 10.2.3: delay-seconds or an HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def error_for_status(endpoint: str, status: int, body: str,
                     headers: Mapping[str, str]) -> ClusterApiError:
    """Map a non-2xx answer to the tree (a 3xx is an error too: redirects are not followed)."""
    code, platform_msg = platform_error(body)
    msg = platform_msg if platform_msg is not None else (body.strip() or "(empty body)")
    if 300 <= status < 400:
        msg = f"redirect not followed ({msg})" if platform_msg else "redirect not followed"
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return RateLimited(endpoint, msg, retry_after=retry_after, code=code, body=body)
    return _class_for_status(status)(endpoint, msg, status=status, code=code, body=body)


def _class_for_status(status: int) -> type[ClusterApiError]:
    """The ladder: most specific status first."""
    if status in (401, 403):
        return Unauthorized
    if status == 404:
        return NotFound
    if 300 <= status < 500:
        return ClientError
    if status >= 500:
        return ServerError
    return BadResponse  # 1xx or another status no client should see
