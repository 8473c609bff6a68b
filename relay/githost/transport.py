"""One HTTP exchange with a git host, retried by the policy, mapped to the error tree.

The only module of relay/githost that touches aiohttp's exceptions. The token lives in the
headers built per call by the client and is never kept on a value, logged, or put in an
error: error messages come from the answer body, with the token masked should a host ever
echo it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
import structlog
from yarl import URL

from relay import __version__
from relay.githost.errors import (
    BadResponse,
    GitHostError,
    RateLimited,
    Unavailable,
    class_for_status,
)
from relay.githost.ratelimit import rate_limit_of
from relay.githost.retry import OnRetry, RetryPolicy, RetryPredicate, always, retrying
from relay.secret import Secret

log = structlog.get_logger("relay.githost")

USER_AGENT = f"relay/{__version__}"
_BODY_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer (2xx, or a 304 the caller asked for)."""

    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


class Transport:
    """Sends a host's API calls: base URL, auth header, timeout, retries, error mapping."""

    def __init__(self, session: aiohttp.ClientSession, *, host: str, base_url: str,
                 token: Secret, auth: Callable[[Secret], Mapping[str, str]],
                 accept: str = "application/json",
                 extra_headers: Mapping[str, str] | None = None,
                 request_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.time,
                 on_retry: OnRetry | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{host} api.url must be an http(s) URL, got {base_url!r}")
        if request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {request_timeout_s}")
        self.host = host
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._token = token
        self._auth = auth
        self._headers = {"Accept": accept, "User-Agent": USER_AGENT, **(extra_headers or {})}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s,
                                              sock_connect=request_timeout_s)
        self._retry = retry if retry is not None else RetryPolicy()
        self._clock = clock
        self._on_retry = on_retry

    def __repr__(self) -> str:
        return f"Transport(host={self.host!r}, base_url={self.base_url!r})"

    async def call(self, operation: str, method: str, path: str, *,
                   body: Mapping[str, Any] | None = None,
                   params: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None,
                   may_retry: RetryPredicate = always,
                   not_modified_ok: bool = False) -> Reply:
        """Send `method path` (already percent-encoded) until it succeeds or the policy stops.

        Returns a 2xx (or, with `not_modified_ok`, a 304) reply; raises the tree's error.
        """
        sent = {**self._headers, **(headers or {})}  # the token is added in _once only
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode()
        url = URL(self.base_url + path, encoded=True)
        if params:
            url = url.with_query(params)

        async def attempt() -> Reply:
            return await self._once(operation, method, url, sent, data, not_modified_ok)

        controller = retrying(self._retry, may_retry, self._log_retry)
        return await controller(attempt)

    async def json(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        """`call`, then decode the body as JSON (BadResponse if it is not)."""
        reply = await self.call(operation, method, path, **kwargs)
        return decode_json(self.host, operation, reply)

    async def _once(self, operation: str, method: str, url: URL, headers: Mapping[str, str],
                    data: bytes | None, not_modified_ok: bool) -> Reply:
        try:
            # The token goes straight into the request: no local variable of any frame holds
            # it, so a traceback rendered with its locals cannot show it.
            async with self._session.request(method, url,
                                             headers={**headers, **self._auth(self._token)},
                                             data=data, timeout=self._timeout,
                                             allow_redirects=False) as resp:
                body = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except aiohttp.ClientResponseError as exc:
            # Its request_info holds our headers (the token): keep only the message.
            message = exc.message
            raise BadResponse(self.host, operation, f"invalid HTTP response: {message}") \
                from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._unavailable(operation, exc) from exc
        if 200 <= status < 300 or (status == 304 and not_modified_ok):
            return Reply(status, answer_headers, body)
        raise self._error(operation, status, answer_headers, body)

    def _error(self, operation: str, status: int, headers: Mapping[str, str],
               body: bytes) -> GitHostError:
        msg = self._mask(host_message(body))
        limit = rate_limit_of(status, headers, now=self._clock(), message=msg)
        if limit is not None:
            return RateLimited(self.host, operation, msg, status=status,
                               retry_after=limit.wait_s)
        if 300 <= status < 400:
            msg = f"redirect not followed ({msg})"
        return class_for_status(status)(self.host, operation, msg, status=status)

    def _unavailable(self, operation: str, exc: BaseException) -> Unavailable:
        """A ladder, most specific first; `reached=False` only when no connection was made."""
        limit = f" after {self._timeout.total:g} s"
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return Unavailable(self.host, operation, f"connect timed out{limit}",
                               reason="connect-timeout", reached=False)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return Unavailable(self.host, operation,
                               f"cannot connect to {exc.host}:{exc.port}",
                               reason="refused", reached=False)
        if isinstance(exc, TimeoutError):
            return Unavailable(self.host, operation, f"timed out{limit}", reason="timeout",
                               reached=True)
        if isinstance(exc, aiohttp.ClientPayloadError):
            return Unavailable(self.host, operation, "truncated response body",
                               reason="truncated", reached=True)
        return Unavailable(self.host, operation,
                           f"connection lost ({type(exc).__name__})", reason="reset",
                           reached=True)

    def _mask(self, text: str) -> str:
        secret = self._token.reveal()
        return text.replace(secret, "***") if secret else text

    def _log_retry(self, error: GitHostError, attempt: int, wait_s: float) -> None:
        log.info("githost_retry", host=self.host, operation=error.operation, attempt=attempt,
                 wait_s=round(wait_s, 3), error=str(error))
        if self._on_retry is not None:
            self._on_retry(error, attempt, wait_s)


def host_message(body: bytes) -> str:
    """The host's words from an error body: `message` (GitHub, GitLab, Gitea), GitHub's
    `errors[].message`/`code`, GitLab's `error`; else the start of the raw body."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:_BODY_LIMIT] or "(empty body)"
    if not isinstance(data, dict):
        return text.strip()[:_BODY_LIMIT]
    parts = [_flatten(data.get("message") or data.get("error") or "")]
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors[:5]:
            if isinstance(item, dict):
                parts.append(str(item.get("message") or item.get("code") or ""))
            else:
                parts.append(str(item))
    return ": ".join(p for p in parts if p) or text.strip()[:_BODY_LIMIT]


def _flatten(value: Any) -> str:
    """GitLab's `message` may be a mapping of field -> [problems]."""
    if isinstance(value, dict):
        return "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                         for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return str(value)


def decode_json(host: str, operation: str, reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise BadResponse(host, operation, "answer is not JSON", status=reply.status) from None


class HostClient:
    """What the three host clients share: one Transport built from the same arguments, and a
    repr that names the base URL (never the token). A subclass sets `host`,
    `supports_deployments`, `auth` (the token -> headers function) and, when its API wants
    them, `accept` and `extra_headers`."""

    host: ClassVar[str]
    supports_deployments: ClassVar[bool]
    accept: ClassVar[str] = "application/json"
    extra_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: Secret, *,
                 request_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 on_retry: OnRetry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._http = Transport(
            session, host=self.host, base_url=base_url, token=token, auth=type(self).auth,
            accept=self.accept, extra_headers=dict(self.extra_headers),
            request_timeout_s=request_timeout_s, retry=retry, on_retry=on_retry, clock=clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._http.base_url!r})"

    @staticmethod
    def auth(token: Secret) -> Mapping[str, str]:
        """The request headers that carry `token` (each host has its own scheme)."""
        raise NotImplementedError

