"""One HTTP exchange with the cluster API, turned into bytes or an error of the tree.

The only module of relay/cluster that touches aiohttp's exceptions: they are mapped here and
never leak. Also `open_session()`, the session relay's commands and app use.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from relay.cluster.errors import (
    BadResponse,
    ClientError,
    ClusterApiError,
    ResponseTooLarge,
    Unavailable,
    error_for_status,
)
from relay.metrics import Metrics

DEFAULT_MAX_RESPONSE_BYTES = 16_777_216  # cluster_api.max_response_bytes
_READ_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Exchange:
    """What to send; `headers` may hold the token, so it is never shown."""

    endpoint: str
    method: str
    url: str
    timeout: aiohttp.ClientTimeout
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    params: Mapping[str, str] | None = None
    data: bytes | None = None
    skip_auto_headers: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # a longer answer is ResponseTooLarge


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


async def exchange(session: aiohttp.ClientSession, req: Exchange,
                   metrics: Metrics | None) -> Answer:
    """Send once; return a 2xx answer, raise the tree's error for anything else."""
    started = time.perf_counter()
    not_http: str | None = None
    try:
        status, headers, body = await _send(session, req)
    except aiohttp.InvalidURL as exc:
        _record(metrics, req.endpoint, "error", started)
        raise ClientError(req.endpoint, f"invalid URL: {exc}") from exc
    except ResponseTooLarge:
        _record(metrics, req.endpoint, "error", started)
        raise
    except aiohttp.ClientResponseError as exc:
        # Not HTTP (bad status line or headers). Its request_info holds our headers, token
        # included, and its repr shows them: keep the message only, raised outside this
        # block so that not even __context__ refers to it.
        not_http = exc.message
    except (aiohttp.ClientError, TimeoutError) as exc:
        _record(metrics, req.endpoint, "error", started)
        raise unavailable(req.endpoint, exc, req.timeout) from exc
    if not_http is not None:
        _record(metrics, req.endpoint, "error", started)
        raise BadResponse(req.endpoint, f"invalid HTTP response: {not_http}")
    _record(metrics, req.endpoint, str(status), started)
    if 200 <= status < 300:
        return Answer(status, body)
    raise error_for_status(req.endpoint, status, decode(body), headers)


async def _send(session: aiohttp.ClientSession, req: Exchange
                ) -> tuple[int, Mapping[str, str], bytes]:
    async with session.request(
        req.method, req.url, params=req.params, data=req.data, headers=dict(req.headers),
        timeout=req.timeout, allow_redirects=False,
        skip_auto_headers=req.skip_auto_headers or None,
    ) as resp:
        body = await _read_capped(resp, req.endpoint, req.max_bytes)
        return resp.status, resp.headers, body


async def _read_capped(resp: aiohttp.ClientResponse, endpoint: str, limit: int) -> bytes:
    """The answer's body, at most `limit` bytes (after decompression); ResponseTooLarge past it.

    A declared Content-Length over the limit is refused before reading; a longer body is
    refused as soon as it passes the limit. Either way the connection is closed, not drained.
    """
    if resp.content_length is not None and resp.content_length > limit:
        resp.close()
        raise ResponseTooLarge(endpoint, limit=limit, status=resp.status)
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_READ_CHUNK):
        buf += chunk
        if len(buf) > limit:
            resp.close()
            raise ResponseTooLarge(endpoint, limit=limit, status=resp.status)
    return bytes(buf)


def _record(metrics: Metrics | None, endpoint: str, code: str, started: float) -> None:
    if metrics is None:
        return
    metrics.api_requests.labels(endpoint=endpoint, code=code).inc()
    metrics.api_request_duration.labels(endpoint=endpoint).observe(time.perf_counter() - started)


def unavailable(endpoint: str, exc: BaseException,
                timeout: aiohttp.ClientTimeout) -> ClusterApiError:
    """Map an aiohttp/OS failure; a ladder, most specific class first.

    `reached=False` only when no connection was ever made, so the request cannot have been
    acted on.
    """
    limit = f" after {timeout.total:g}s" if timeout.total else ""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Unavailable(endpoint, f"connect timed out{limit}", reason="connect-timeout",
                           reached=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unavailable(endpoint, _connect_failure(exc), reason="refused", reached=False)
    if isinstance(exc, TimeoutError):
        return Unavailable(endpoint, f"timed out{limit}", reason="timeout", reached=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Unavailable(endpoint, "truncated response body", reason="truncated",
                           reached=True)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Unavailable(endpoint, "server closed the connection", reason="reset",
                           reached=True)
    if isinstance(exc, OSError):
        return Unavailable(endpoint, f"connection lost: {exc.strerror or exc}", reason="reset",
                           reached=True)
    return Unavailable(endpoint, f"connection failed: {type(exc).__name__}", reason="reset",
                       reached=True)


def _connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc.os_error, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(exc.os_error, socket.gaierror):
        return f"cannot resolve {exc.host}: {exc.os_error.strerror}"
    return f"cannot connect to {where}: {exc.os_error.strerror or type(exc.os_error).__name__}"


def decode(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def json_error(endpoint: str, status: int, body: bytes, exc: ValueError) -> BadResponse:
    """A 2xx whose body is not JSON: say where the JSON broke."""
    where = ""
    if isinstance(exc, json.JSONDecodeError):
        where = f" at line {exc.lineno} column {exc.colno}"
    return BadResponse(endpoint, f"invalid JSON{where}", status=status, body=decode(body))


def request_timeout(total_s: float, *, connect_s: float | None = None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s, sock_connect=connect_s or total_s)


@asynccontextmanager
async def open_session(*, limit: int = 32, limit_per_host: int = 16, trust_env: bool = False,
                       **kwargs: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with bounded connection pools and no environment proxies by default.

    No default headers: the client sets `Authorization` per API call, and a hook POST must
    carry only the headers it is given.
    """
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host,
                                     ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, trust_env=trust_env,
                                     timeout=aiohttp.ClientTimeout(total=None), **kwargs
                                     ) as session:
        yield session
