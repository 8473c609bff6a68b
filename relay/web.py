"""Webhook receivers, health and metrics endpoints, the one exception -> answer map and the
middleware that writes each delivery's canonical log line.

The decisions are values made elsewhere: relay.hosts parses and verifies a delivery,
relay.ingest decides what it stores and queues; this module reads the request, carries the
values to the store and answers. Answers and their precedence: 404 (source off), 413 (body
too large), 415 (content encoding or type), 401 (authenticity), 400 (shape), then 503 when
the store cannot take it (README.md "Operations"; docs/metrics.md lists the outcomes).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from relay.deployment import Deployment
from relay.events import Delivery, Source, WebhookError, event_kind_hint, parse_delivery
from relay.gatekeeper import CHECK_EVENTS
from relay.hosts import SOURCE_PATTERN
from relay.hosts.base import fold_headers
from relay.ingest import delivery_id_for, ingest
from relay.logs import log_event
from relay.server import BODY_BUDGET, BodyOverLimit, read_body
from relay.store import StoreError
from relay.typedefs import CLOCK, LIVE, METRICS, STORE, WORKER

__all__ = [
    "HANDLER_ARGS",
    "BodyTooLarge",
    "HTTPProblem",
    "add_routes",
    "delivery_id_for",
    "error_middleware",
    "read_capped",
    "status_for",
    "wake_worker",
]

log = structlog.get_logger("relay.web")

STORE_TIMEOUT_S = 8.0  # under GitHub's and GitLab's 10 s delivery timeout
READY_TIMEOUT_S = 2.0
IDENTITY = ("", "identity")  # the only Content-Encoding relay reads: no git host compresses
# aiohttp would inflate a gzip body as it arrives, and fail with a traceback on one that is
# not gzip: relay refuses any encoding itself (415, before reading the body).
HANDLER_ARGS: dict[str, Any] = {"auto_decompress": False}


class HTTPProblem(Exception):
    """An error answer with a status, a message for the `{"error": ...}` body and an outcome
    (the `outcome` label of relay_webhooks_received_total when it ends a delivery)."""

    outcome = "refused"

    def __init__(self, status: int, message: str, *, outcome: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        if outcome is not None:
            self.outcome = outcome


class BodyTooLarge(HTTPProblem):
    outcome = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body larger than max_body_bytes ({limit} bytes)")


@dataclass(frozen=True, slots=True)
class Answer:
    """What an exception becomes: HTTP status, `{"error": message}`, metric outcome."""

    status: int
    message: str
    outcome: str


def status_for(exc: BaseException) -> Answer:
    """The one place that maps an exception to its answer.

    An exception that knows its answer (HTTPProblem, WebhookError and its subclasses,
    relay.ingest.NothingToDeploy) carries status, message and outcome; a store that cannot
    write or does not answer in time is 503 (retry later, nothing stored); anything else 500.
    """
    if isinstance(exc, (HTTPProblem, WebhookError)):
        return Answer(exc.status, exc.message, exc.outcome)
    if isinstance(exc, StoreError):
        return Answer(503, "the store cannot take the request now; retry later", "store_error")
    if isinstance(exc, TimeoutError):
        return Answer(503, "the store did not answer in time; retry later", "store_error")
    return Answer(500, "internal error", "error")


@dataclass(slots=True)
class DeliveryLog:
    """The canonical `delivery` log line of one webhook request, filled in as it goes."""

    source: Source
    event: str
    headers: Mapping[str, str]  # the request's headers, names folded once (fold_headers)
    fields: dict[str, Any] = field(default_factory=dict)


# The webhook route's name, unique in the whole app: the embedded simulator has a route named
# "hook" of its own, which must not be taken for a delivery.
WEBHOOK_ROUTE = "relay-webhook"
_DELIVERY_LOG = web.RequestKey("delivery_log", DeliveryLog)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer every exception through `status_for`, and write one `delivery` line and one
    relay_webhooks_received_total count per webhook request, whatever its answer."""
    entry = _delivery_log(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # an aiohttp answer raised on the way (not expected)
        if entry is not None:
            entry.fields.setdefault("outcome", "error" if exc.status >= 500 else "malformed")
            _write_delivery_log(request, entry, exc.status, time.perf_counter() - started)
        raise
    except Exception as exc:  # noqa: BLE001 - mapped, logged, answered
        answer = status_for(exc)
        if answer.status == 500:
            log.exception("unhandled error", path=request.path)
        response = web.json_response({"error": answer.message}, status=answer.status)
        if isinstance(exc, BodyTooLarge) or getattr(exc, "close", False):
            response.force_close()  # the unread body is not worth reading
        if entry is not None:
            entry.fields.update(outcome=answer.outcome, error=answer.message)
            if answer.status == 503:  # say why: else bad input would look like an outage
                entry.fields["store_error"] = _store_error(exc)
    if entry is not None:
        _write_delivery_log(request, entry, response.status, time.perf_counter() - started)
    return response


def _delivery_log(request: web.Request) -> DeliveryLog | None:
    if request.match_info.route.name != WEBHOOK_ROUTE:
        return None
    source = Source(request.match_info["source"])
    headers = fold_headers(request.headers)
    entry = DeliveryLog(source, event_kind_hint(source, headers).value, headers)
    request[_DELIVERY_LOG] = entry
    return entry


def _write_delivery_log(
    request: web.Request, entry: DeliveryLog, status: int, duration_s: float
) -> None:
    outcome = entry.fields.pop("outcome", "error")
    _received(request.app[METRICS].webhooks_received, entry.source.value, entry.event,
              outcome).inc()
    level = ("error" if outcome == "store_error" else "warning"
             if outcome == "unauthorized" or status >= 500 else "info")
    log_event(_BOUND_LOG, "relay.web", level, "delivery", {
        "source": entry.source.value, "hook_event": entry.event, "outcome": outcome,
        "status": status, "duration_ms": round(duration_s * 1000, 2), **entry.fields})


# Outcomes an operator must see (docs/operations.md, "Logs"): a store that cannot write is an
# error; a refused signature is a warning (a wrong secret, or someone probing). The line is
# written by relay.logs.log_event (this list is its cache of the bound structlog logger).
_BOUND_LOG: list[Any] = []


# relay_webhooks_received_total's children, bound once per label set (labels() validates and
# locks on every call). Keyed by the counter, so each app's registry has its own.
_CHILDREN: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], Any]] = (
    weakref.WeakKeyDictionary())


def _received(counter: Any, source: str, event: str, outcome: str) -> Any:
    children = _CHILDREN.get(counter)
    if children is None:
        children = _CHILDREN[counter] = {}
    key = (source, event, outcome)
    child = children.get(key)
    if child is None:
        child = children[key] = counter.labels(source=source, event=event, outcome=outcome)
    return child


def _store_error(exc: BaseException) -> str:
    """The store's reason, for the log only (store errors name no secret: URLs are masked)."""
    if isinstance(exc, TimeoutError):
        return "store did not answer in time"
    return f"{type(exc).__name__}: {exc}"[:500]


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"/hooks/{{source:{SOURCE_PATTERN}}}", receive, name=WEBHOOK_ROUTE)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


# -- webhooks ---------------------------------------------------------------------------------


class EncodedBody(HTTPProblem):
    """A Content-Encoding other than identity: refused before the body is read."""

    outcome = "unsupported_media_type"
    close = True

    def __init__(self) -> None:
        super().__init__(415, "Content-Encoding is not supported: send the body uncompressed")


async def receive(request: web.Request) -> web.Response:
    """Verify, store durably, answer (README.md, "Operations"). Errors go to error_middleware."""
    entry = request[_DELIVERY_LOG]
    source = entry.source
    settings = request.app[LIVE].current
    conf = settings.sources.get(source)
    if conf is None:
        raise HTTPProblem(404, f"source {source.value} is not enabled in this relay",
                          outcome="disabled")
    limit = settings.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    if entry.headers.get("content-encoding", "").strip().lower() not in IDENTITY:
        raise EncodedBody()
    body = await read_capped(request, limit)
    now = request.app[CLOCK].now()
    delivery = parse_delivery(source, entry.headers, body, [s.encoded() for s in conf.secrets],
                              now=now, file_lists=settings.reads_file_lists)
    entry.event = delivery.event.value
    entry.fields.update(_log_fields(delivery))
    worker = request.app.get(WORKER)
    gates = worker.gatekeeper if worker is not None else None
    plan = ingest(delivery, body, settings.routes, now,
                  can_check=gates.checks_sources() if gates else frozenset(),
                  can_compare=gates.compare_sources() if gates else frozenset())
    entry.fields["delivery_id"] = plan.record.delivery_id
    entry.fields["outcome"] = "store_error"  # until the store has answered
    accepted = await _store_deadline().run(
        request.app[STORE].accept(plan.record, plan.deployments))
    entry.fields["deployments"] = [d.id for d in accepted.deployments]
    if accepted.duplicate:
        entry.fields["outcome"] = "duplicate"
        return _answer(200, accepted.delivery_id, duplicate=True, deps=accepted.deployments)
    if worker is not None and delivery.event_name.lower() in CHECK_EVENTS:
        worker.gatekeeper.poke()  # a commit's checks may have changed: look again now
        worker.wake()
    if plan.ignored:
        entry.fields.update(outcome="ignored", ignored=plan.ignored)
        return _json(200, {"delivery_id": accepted.delivery_id, "ignored": plan.ignored})
    entry.fields["outcome"] = "accepted"
    wake_worker(request.app, [d.cluster for d in accepted.deployments])
    return _answer(202, accepted.delivery_id, deps=accepted.deployments)


async def read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body: 413 past `limit`, 503 past the bodies-in-flight budget, 408 when slow."""
    try:
        return await read_body(request, limit=limit, budget=request.app[BODY_BUDGET])
    except BodyOverLimit:
        raise BodyTooLarge(limit) from None
    except (web.HTTPServiceUnavailable, web.HTTPRequestTimeout) as exc:
        entry = request.get(_DELIVERY_LOG)
        if entry is not None:  # relay.server's answers, already JSON: name them in the metric
            entry.fields["outcome"] = "busy" if exc.status == 503 else "timeout"
        raise


def wake_worker(app: web.Application, clusters: list[int] | None = None) -> None:
    """Tell this process's worker that deployments were queued (for `clusters`, if known)."""
    worker = app.get(WORKER)
    if worker is not None:
        worker.wake(clusters)


def _log_fields(delivery: Delivery) -> dict[str, Any]:
    push = delivery.push
    fields: dict[str, Any] = {"delivery_key": delivery.delivery_key}
    if push is not None:
        fields.update(repo=push.repository, ref=push.ref, commit=push.commit)
    return fields


def _answer(
    status: int, delivery_id: str, *, deps: tuple[Deployment, ...], duplicate: bool = False
) -> web.Response:
    body: dict[str, Any] = {"delivery_id": delivery_id}
    if duplicate:
        body["duplicate"] = True
    body["deployments"] = [
        {"id": d.id, "cluster": d.cluster, "action": d.action, "status": d.status.value}
        for d in deps
    ]
    return _json(status, body)


def _json(status: int, body: dict[str, Any]) -> web.Response:
    """A JSON answer encoded once, by orjson (web.json_response would use json.dumps)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


_T = TypeVar("_T")


class Deadlines:
    """One timer for every store call in flight instead of one `asyncio.timeout` each.

    `run(aw)` awaits `aw` in the current task; a tick every `tick_s` seconds (scheduled only
    while calls are in flight) cancels the tasks whose call started more than `timeout_s`
    ago, and `run` turns that cancellation into TimeoutError, as asyncio.timeout does. A call
    is thus given between `timeout_s` and `timeout_s + tick_s` seconds. A cancellation from
    elsewhere (shutdown) stays a cancellation.
    """

    def __init__(self, timeout_s: float, tick_s: float = 0.25) -> None:
        self.timeout_s, self.tick_s = timeout_s, tick_s
        self._waiting: dict[asyncio.Task[Any], float] = {}  # task -> its deadline (loop time)
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, aw: Awaitable[_T]) -> _T:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always awaited in a request's task
            async with asyncio.timeout(self.timeout_s):
                return await aw
        loop = asyncio.get_running_loop()
        self._waiting[task] = loop.time() + self.timeout_s
        if self._timer is None:
            self._timer = loop.call_later(self.tick_s, self._tick, loop)
        try:
            return await aw
        except asyncio.CancelledError:
            if task in self._expired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            del self._waiting[task]
            self._expired.discard(task)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        if self._waiting:
            self._timer = loop.call_later(self.tick_s, self._tick, loop)


_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = (
    weakref.WeakKeyDictionary())
_LAST: list[Any] = [None, None]  # (loop, its Deadlines): the common case without a weakref


def _store_deadline() -> Deadlines:
    """The store calls' Deadlines of the running loop (one per loop: its timer is the loop's)."""
    loop = asyncio.get_running_loop()
    if _LAST[0] is loop:
        deadlines: Deadlines = _LAST[1]
        return deadlines
    found = _DEADLINES.get(loop)
    if found is None:
        found = _DEADLINES[loop] = Deadlines(STORE_TIMEOUT_S)
    _LAST[:] = [loop, found]
    return found


# -- health and metrics -----------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        # A write probe: not ready while writes fail (full disk, database file removed).
        await asyncio.wait_for(request.app[STORE].ready(), READY_TIMEOUT_S)
    except (TimeoutError, StoreError) as exc:
        # The detail (which names the database) goes to the log, not to anonymous callers.
        log.warning("not ready", store_error=str(exc) or "store did not answer in time")
        return web.json_response({"status": "not ready", "store": "unavailable"}, status=503)
    if not _admin_caller(request):
        return web.json_response({"status": "ready"})
    try:  # the admin token's detail: the store's schema
        versions = await asyncio.wait_for(request.app[STORE].schema_versions(), READY_TIMEOUT_S)
    except (TimeoutError, StoreError):
        versions = []
    return web.json_response({"status": "ready", "detail": {
        "schema_version": max((v for v, _ in versions), default=None),
        "migrations": [{"version": v, "applied_at": at} for v, at in versions]}})


def _admin_caller(request: web.Request) -> bool:
    """True when the request carries `Authorization: Bearer <admin token>`."""
    token = request.app[LIVE].current.admin.token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    try:
        candidate = given.strip().encode("ascii")
    except UnicodeError:
        return False
    return (token is not None and scheme.lower() == "bearer" and bool(candidate)
            and token.matches(candidate))


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=payload)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
