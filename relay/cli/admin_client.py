"""The CLI's client of a running relay's admin API, and the follower of one deployment.

`AdminApi.call` raises `ApiError` (relay answered an error: status and message) or
`Unreachable` (no answer: connection refused or reset, timeout). `follow_deployment` polls
until a final status and rides out a relay restart: while relay is unreachable or answers
5xx it reconnects with capped exponential backoff for up to `patience` seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp

# Final statuses (docs/operations.md, "Deployments"), `canceled` included.
FINAL = frozenset({"succeeded", "failed", "timed_out", "superseded", "skipped", "error",
                   "canceled"})
# The worker's reason for a deployment of the version the cluster already runs
# (relay.scheduling): with it, `skipped` means "nothing to do", a success.
ALREADY_RUNNING = "is already the cluster's version"
BACKOFF_START_S = 0.25
BACKOFF_CAP_S = 5.0


class AdminError(Exception):
    """The admin API answered an error, or could not be reached."""


class ApiError(AdminError):
    """relay answered with an error status; `status` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Unreachable(AdminError):
    """No answer from relay (refused, reset, timed out)."""


class AdminApi:
    """Calls on one aiohttp session that carries the admin token."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._s = session
        self.url = url

    async def call(self, method: str, path: str, body: Any = None,
                   query: dict[str, Any] | None = None) -> Any:
        """One request; the decoded JSON answer, or ApiError / Unreachable."""
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            path = f"{path}?{urlencode(given)}"
        try:
            async with self._s.request(method, self.url + path, json=body) as resp:
                text = await resp.text()
                data = _json(text)
                if resp.status >= 400:
                    msg = data.get("error") if isinstance(data, dict) else None
                    raise ApiError(f"{method} {path}: HTTP {resp.status}: "
                                   f"{msg or text.strip()[:200]}", resp.status)
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(f"relay at {self.url} is unreachable: "
                              f"{type(exc).__name__}: {exc}") from exc


def is_nothing_to_do(dep: dict[str, Any]) -> bool:
    """A deployment skipped because its version already runs there: an idempotent success."""
    return dep.get("status") == "skipped" and ALREADY_RUNNING in (dep.get("error") or "")


def succeeded(dep: dict[str, Any]) -> bool:
    return dep.get("status") == "succeeded" or is_nothing_to_do(dep)


async def follow_deployment(
    api: AdminApi, dep_id: int, interval: float, *, quiet: bool, patience: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    """Poll one deployment until it ends, printing each change of status or progress.

    Connection errors and 5xx answers (relay restarting) are retried with backoff from
    BACKOFF_START_S doubling to BACKOFF_CAP_S, for at most `patience` seconds in a row;
    then Unreachable is raised. A 4xx (e.g. 404) ends the follow at once with ApiError.
    """
    started = time.monotonic()
    last = None
    lost_at: float | None = None
    delay = BACKOFF_START_S
    while True:
        try:
            dep = await api.call("GET", f"/api/deployments/{dep_id}")
        except (Unreachable, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.status < 500:
                raise
            now = time.monotonic()
            if lost_at is None:
                lost_at = now
                if not quiet:
                    print(f"relay: lost contact ({exc}); reconnecting for up to "
                          f"{patience:g}s", file=sys.stderr, flush=True)
            if now - lost_at >= patience:
                raise Unreachable(f"gave up following deployment {dep_id} after "
                                  f"{patience:g}s without an answer: {exc}") from exc
            await sleep(min(delay, max(patience - (now - lost_at), 0.0)))
            delay = min(delay * 2, BACKOFF_CAP_S)
            continue
        if lost_at is not None and not quiet:
            print("relay: reconnected", file=sys.stderr, flush=True)
        lost_at, delay = None, BACKOFF_START_S
        line = f"{dep['status']}{_progress_suffix(dep)}"
        if line != last and not quiet:
            print(f"[{time.monotonic() - started:5.1f}s] deployment {dep_id} cluster "
                  f"{dep['cluster']}: {line}", flush=True)
            last = line
        if dep["status"] in FINAL:
            if not quiet:
                _print_outcome(dep)
            return dict(dep)
        await sleep(interval)


def _print_outcome(dep: dict[str, Any]) -> None:
    if is_nothing_to_do(dep):
        print(f"nothing to do: {dep['version']} already runs on cluster {dep['cluster']}")
    elif dep.get("error"):
        print(f"  {dep['error']}", file=sys.stdout if dep["status"] == "succeeded"
              else sys.stderr)


def _progress_suffix(dep: dict[str, Any]) -> str:
    text = progress_text(dep)
    return f" ({text})" if text else ""


def progress_text(dep: dict[str, Any]) -> str:
    p = dep.get("progress")
    if not p:
        return ""
    return (f"{p['replaced']}/{p['of']} containers replaced, "
            f"{p['running']}/{p['replicas']} running, cluster status {p['status']}")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
