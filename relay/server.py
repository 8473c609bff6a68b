"""How relay runs its HTTP server: read timeouts, a connection cap, a memory budget for bodies.

aiohttp reads requests without a deadline of its own (its keep-alive timer only closes a
connection that is between requests), so a client sending its headers or its body a byte at
a time holds a connection, a file descriptor and a buffer for as long as it likes. Here:

- `GuardedHandler`, aiohttp's `RequestHandler` with three timers (`loop.call_later`): the
  headers of a request must be complete `header_timeout_s` after its first byte (for a new
  connection: after it was accepted), else the connection is closed; the body must be complete
  `body_timeout_s` after the headers, else the request's body stream fails with a 408 (the
  handler reading it answers 408 and the connection is closed); a kept-alive connection with
  no complete request `idle_timeout_s` after the previous answer is closed (aiohttp's own
  keep-alive timer). Beyond `max_connections` open connections a new one is answered 503 at
  once and closed, before any request is read.
- `serve()`, which listens with that handler instead of `web.TCPSite` and installs a loop
  exception handler that folds accept errors (EMFILE: out of file descriptors) into one log
  line per `ACCEPT_ERROR_LOG_EVERY_S` with a count, instead of a traceback each.
- `BodyBudget` and `read_body()`: the bytes of request bodies being received, all connections
  together, stay under `max_body_memory_bytes`; a body that would pass it is refused with
  503 and `Retry-After` (docs/operations.md, "Limits").
"""

from __future__ import annotations

import asyncio
import errno
import json
import resource
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from relay.config import ServerSettings

log = structlog.get_logger("relay.server")

ACCEPT_ERROR_LOG_EVERY_S = 10.0
BUSY_RETRY_AFTER_S = 1
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FD_MARGIN = 64  # descriptors relay needs besides client connections (store, API, logs)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The server's read timeouts (seconds) and connection cap; see the module doc."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    max_connections: int = 900

    @classmethod
    def from_settings(cls, server: ServerSettings) -> ServerLimits:
        return cls(header_timeout_s=server.header_timeout_s,
                   body_timeout_s=server.body_timeout_s,
                   idle_timeout_s=server.idle_timeout_s,
                   max_connections=server.max_connections)


class RateLimitedLog:
    """At most one warning per `every_s` per event name, carrying how many were folded in."""

    def __init__(self, every_s: float = ACCEPT_ERROR_LOG_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def event(self, name: str, **fields: Any) -> None:
        """Count one `name`; log (with the count since the last line) when the interval passed."""
        self._pending[name] = self._pending.get(name, 0) + 1
        now = self._clock()
        last = self._last.get(name)
        if last is not None and now - last < self._every_s:
            return
        log.warning(name, count=self._pending.pop(name), every_s=self._every_s, **fields)
        self._last[name] = now


class ConnectionGuard:
    """Counts a server's open connections against `limits.max_connections`; tallies refusals."""

    def __init__(self, limits: ServerLimits, events: RateLimitedLog | None = None) -> None:
        self.limits = limits
        self.events = events if events is not None else RateLimitedLog()
        self.active = 0
        self.counts: dict[str, int] = {}  # refused, header_timeout, body_timeout
        self.tasks: set[asyncio.Task[None]] = set()  # connections' handler tasks, awaited at exit

    def admit(self) -> bool:
        """Take a connection slot; False (and counted, logged at a bounded rate) when full."""
        if self.active >= self.limits.max_connections:
            self.tally("refused", limit=self.limits.max_connections)
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1

    def tally(self, what: str, **fields: Any) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.events.event(f"connection_{what}", **fields)

    def exception_handler(self, loop: asyncio.AbstractEventLoop,
                          context: dict[str, Any]) -> None:
        """The loop's exception handler: accept errors counted, everything else as asyncio does."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            self.events.event("accept_failed", error=errno.errorcode.get(exc.errno or 0, "?"),
                              open_connections=self.active)
            return
        loop.default_exception_handler(context)


def _busy_answer() -> bytes:
    body = json.dumps({"error": "too many open connections; retry later"}).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Retry-After: {BUSY_RETRY_AFTER_S}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


_BUSY_ANSWER = _busy_answer()


def request_timeout_error(timeout_s: float) -> web.HTTPRequestTimeout:
    """The 408 a handler reading a body that did not finish in time raises (connection closes)."""
    error = web.HTTPRequestTimeout(
        text=json.dumps({"error": f"request body not received within {timeout_s:g} s"}),
        content_type="application/json")
    error.force_close()
    return error


class GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol with header and body deadlines and the connection cap.

    Relies on these RequestHandler internals (aiohttp 3.14): `_waiter` is set while it waits
    for the next request, `_request_count` counts requests whose headers were parsed, and
    `_messages` holds (message, body stream) pairs not yet handled.
    """

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop,
                 guard: ConnectionGuard) -> None:
        # The app's handler_args (e.g. auto_decompress=False) reach every connection, as in
        # aiohttp's own Server.__call__; the idle timeout and no access log are ours.
        kwargs: dict[str, Any] = {**getattr(manager, "_kwargs", {}),
                                  "keepalive_timeout": guard.limits.idle_timeout_s,
                                  "access_log": None}  # None turns it off
        super().__init__(manager, loop=loop, **kwargs)
        self._guard = guard
        self._admitted = False
        self._timer: asyncio.TimerHandle | None = None
        self._heads_seen = 0  # _request_count when the header deadline was set
        self._reading_head = False
        self._body: StreamReader | None = None  # the body the body timer watches
        self._last_body: StreamReader | None = None  # the latest request's body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit():
            self._manager = None  # RequestHandler.connection_lost then does nothing
            self._force_close = True  # and data_received ignores what comes
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(_BUSY_ANSWER)
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        task = self._task_handler
        if task is not None:
            self._guard.tasks.add(task)
            task.add_done_callback(self._guard.tasks.discard)
        self._expect_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_timer()
        self._body = None
        if self._admitted:
            self._admitted = False
            self._guard.release()
        super().connection_lost(exc)
        # aiohttp leaves a body it was lingering over (reading the rest of a request already
        # answered) open when the client goes away; end it so the handler task ends now.
        last, self._last_body = self._last_body, None
        if last is not None and not last.is_eof():
            last.feed_eof()

    def data_received(self, data: bytes) -> None:
        waiting = self._waiter is not None and not self._waiter.done()
        starting = bool(waiting and not self._reading_head and data)
        if starting:  # the first byte of the next request on a kept-alive connection
            self._expect_head(timer=False)  # the timer only if the head is not all here
        super().data_received(data)
        if starting and self._reading_head and self._request_count == self._heads_seen:
            self._timer = self._loop.call_later(self._guard.limits.header_timeout_s,
                                                self._head_late)
        if self._reading_head and self._request_count > self._heads_seen:
            self._reading_head = False
            self._cancel_timer()
            body = self._messages[-1][1] if self._messages else None
            if isinstance(body, StreamReader):
                self._last_body = body
            if isinstance(body, StreamReader) and not body.is_eof():
                self._body = body
                self._timer = self._loop.call_later(self._guard.limits.body_timeout_s,
                                                    self._body_late)
        elif self._body is not None and self._body.is_eof():
            self._body = None
            self._cancel_timer()

    def _expect_head(self, *, timer: bool = True) -> None:
        """A request head is due from now on; `timer=False`: the caller sets the header
        deadline itself once it knows the head did not arrive whole (most heads do: no
        timer is made and cancelled per kept-alive request)."""
        self._cancel_timer()
        self._reading_head = True
        self._heads_seen = self._request_count
        if timer:
            self._timer = self._loop.call_later(self._guard.limits.header_timeout_s,
                                                self._head_late)

    def _head_late(self) -> None:
        self._timer = None
        if self._reading_head and self._request_count == self._heads_seen:
            self._guard.tally("header_timeout", timeout_s=self._guard.limits.header_timeout_s)
            self.force_close()

    def _body_late(self) -> None:
        self._timer = None
        body, self._body = self._body, None
        if body is None or body.is_eof():
            return
        self._guard.tally("body_timeout", timeout_s=self._guard.limits.body_timeout_s)
        current = self._current_request
        handling = current is not None and current.content is body
        if not handling and not any(queued is body for _, queued in self._messages):
            self.force_close()  # answered already, aiohttp was draining the rest: just close
            return
        self.close()  # read no more of this connection; close it once the 408 is written
        body.set_exception(request_timeout_error(self._guard.limits.body_timeout_s))
        body.feed_eof()  # nothing left to linger over: the connection ends with the answer

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(frozen=True, slots=True)
class RunningServer:
    """What `serve()` yields: the bound port and the connection guard (counts, for tests)."""

    port: int
    guard: ConnectionGuard


@asynccontextmanager
async def serve(app: web.Application, *, host: str, port: int, limits: ServerLimits,
                shutdown_timeout_s: float = 10.0, backlog: int = 128,
                events: RateLimitedLog | None = None) -> AsyncIterator[RunningServer]:
    """Run `app` on host:port (0: any free port) with `limits` until the block exits.

    On exit: stop listening, close idle connections, give in-flight requests up to
    `shutdown_timeout_s`, run the app's cleanup, await every connection's task (aiohttp
    cancels the late ones without awaiting them). OSError when the address cannot be bound.
    """
    _check_file_limit(limits.max_connections)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s,
                           handle_signals=False)
    await runner.setup()
    loop = asyncio.get_running_loop()
    guard = ConnectionGuard(limits, events)
    previous = loop.get_exception_handler()
    listener: asyncio.Server | None = None
    try:
        manager = runner.server
        assert manager is not None  # set by setup()
        loop.set_exception_handler(guard.exception_handler)
        listener = await loop.create_server(
            lambda: GuardedHandler(manager, loop=loop, guard=guard), host, port,
            backlog=backlog)
        bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
        yield RunningServer(port=bound, guard=guard)
    finally:
        if listener is not None:
            listener.close()
        await runner.cleanup()
        await asyncio.gather(*guard.tasks, return_exceptions=True)
        if listener is not None:
            await listener.wait_closed()
        loop.set_exception_handler(previous)


def _check_file_limit(max_connections: int) -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and max_connections + _FD_MARGIN > soft:
        log.warning("connection cap near the open-file limit", max_connections=max_connections,
                    nofile=soft, hint=f"raise LimitNOFILE above {max_connections + _FD_MARGIN} "
                                      "or lower server.max_connections")


# -- the memory budget for request bodies -----------------------------------------------------


class BodyBudget:
    """Bytes of request bodies being received, all connections together, against `limit`.

    `take(n)` reserves n bytes (False when they would pass the limit), `give_back(n)` returns
    them. Not thread-safe: one event loop owns it.
    """

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"a body budget must be positive, got {limit}")
        self.limit = limit
        self.in_use = 0
        self.peak = 0

    def take(self, n: int) -> bool:
        if self.in_use + n > self.limit:
            return False
        self.in_use += n
        self.peak = max(self.peak, self.in_use)
        return True

    def give_back(self, n: int) -> None:
        self.in_use -= n


BODY_BUDGET = web.AppKey("relay.body_budget", BodyBudget)


class BodyOverLimit(Exception):
    """The body is larger than the per-request limit (the caller answers 413)."""


def budget_exhausted() -> web.HTTPServiceUnavailable:
    """503 with Retry-After; the connection closes, so its unread rest is not kept."""
    error = web.HTTPServiceUnavailable(
        text=json.dumps({"error": "too many request bodies in flight; retry later"}),
        content_type="application/json", headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})
    error.force_close()
    return error


async def read_body(request: web.Request, *, limit: int, budget: BodyBudget) -> bytes:
    """The whole body, within `limit` bytes and the process's `budget`.

    A declared Content-Length is reserved before reading; a chunked body reserves as it
    grows. The reservation is given back when this returns or raises. Raises BodyOverLimit
    past `limit`, the 503 of `budget_exhausted()` past the budget, the 408 of
    `request_timeout_error()` when the body came too slowly (GuardedHandler), and a 400
    when the client hung up before the end (an answer nobody reads, but no traceback).
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyOverLimit(limit)
    held = 0
    try:
        if declared:
            if not budget.take(declared):
                raise budget_exhausted()
            held = declared
        if declared is not None:
            # The length is known and reserved: one read, no copy loop (aiohttp's parser
            # stops the body at Content-Length; a short body is a client that hung up).
            return await request.content.readexactly(declared)
        buf = bytearray()
        async for chunk in request.content.iter_any():
            buf += chunk
            if len(buf) > limit:
                raise BodyOverLimit(limit)
            if len(buf) > held:
                if not budget.take(len(buf) - held):
                    raise budget_exhausted()
                held = len(buf)
        return bytes(buf)
    except (ConnectionResetError, asyncio.IncompleteReadError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the connection closed before the body was complete"}),
            content_type="application/json") from None
    finally:
        budget.give_back(held)
