"""Webhook receivers, health and metrics endpoints, and the one exception -> status map."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from relay.config import Route
from relay.deployment import Deployment, NewDeployment
from relay.events import Delivery, Source, WebhookError, event_kind_hint, parse_delivery
from relay.routing import lookup
from relay.store import NewDelivery, StoreError
from relay.typedefs import CLOCK, METRICS, SETTINGS, STORE, WORKER

log = structlog.get_logger("relay.web")

STORE_TIMEOUT_S = 8.0  # under GitHub's and GitLab's 10 s delivery timeout
READY_TIMEOUT_S = 2.0
_SAFE_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")


class HTTPProblem(Exception):
    """An error answer with a status and a message for the `{"error": ...}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTooLarge(HTTPProblem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body larger than max_body_bytes ({limit} bytes)")


def status_for(exc: Exception) -> tuple[int, str]:
    """The one place that maps an exception to an HTTP status and message (a ladder)."""
    if isinstance(exc, HTTPProblem):
        return exc.status, exc.message
    if isinstance(exc, WebhookError):
        return exc.status, exc.message
    if isinstance(exc, StoreError):
        return 503, "the store cannot take the request now; retry later"
    if isinstance(exc, asyncio.TimeoutError):
        return 503, "the store did not answer in time; retry later"
    return 500, "internal error"


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped, logged, answered
        status, message = status_for(exc)
        if status == 500:
            log.exception("unhandled error", path=request.path)
        response = web.json_response({"error": message}, status=status)
        if isinstance(exc, BodyTooLarge):
            response.force_close()
        return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/hooks/{source:github|gitlab|gitea}", receive, name="hook")
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


# -- webhooks ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    event: str = "other"
    outcome: str = "malformed"


async def receive(request: web.Request) -> web.Response:
    """Verify, store durably, answer: CONTRACT section 4."""
    started = time.perf_counter()
    source = Source(request.match_info["source"])
    result = _Outcome(event=event_kind_hint(source, request.headers).value)
    fields: dict[str, Any] = {}
    status = 500
    try:
        response = await _receive(request, source, result, fields)
        status = response.status
        return response
    except Exception as exc:
        status, message = status_for(exc)
        if isinstance(exc, (WebhookError, HTTPProblem)):
            result.outcome = getattr(exc, "outcome", result.outcome)
        fields["error"] = message
        raise
    finally:
        request.app[METRICS].webhooks_received.labels(
            source=source.value, event=result.event, outcome=result.outcome
        ).inc()
        log.info(
            "delivery", source=source.value, hook_event=result.event, outcome=result.outcome,
            status=status, duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **fields,
        )


async def _receive(
    request: web.Request, source: Source, result: _Outcome, fields: dict[str, Any]
) -> web.Response:
    settings = request.app[SETTINGS]
    conf = settings.sources.get(source)
    if conf is None:
        result.outcome = "disabled"
        raise HTTPProblem(404, f"source {source.value} is not enabled in this relay")
    body = await read_capped(request, settings.server.max_body_bytes, result)
    delivery = parse_delivery(source, request.headers, body, [s.encoded() for s in conf.secrets],
                              now=request.app[CLOCK].now())
    result.event = delivery.event.value
    fields.update(_log_fields(delivery))
    push = delivery.push
    routes = lookup(settings.routes, push) if push is not None and not delivery.ignored else ()
    ignored = delivery.ignored or (None if routes else _no_route_reason(delivery))
    record = _record(delivery, body, request.app[CLOCK].now(), ignored)
    fields["delivery_id"] = record.delivery_id
    planned = [] if ignored else [_planned(delivery, route) for route in routes]
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            accepted = await request.app[STORE].accept(record, planned)
    except (TimeoutError, StoreError):
        result.outcome = "store_error"
        raise
    fields["deployments"] = [d.id for d in accepted.deployments]
    if accepted.duplicate:
        result.outcome = "duplicate"
        return _answer(200, accepted.delivery_id, duplicate=True, deps=accepted.deployments)
    if ignored:
        result.outcome = "ignored"
        fields["ignored"] = ignored
        return web.json_response({"delivery_id": accepted.delivery_id, "ignored": ignored})
    result.outcome = "accepted"
    wake_worker(request.app, [d.cluster for d in accepted.deployments])
    return _answer(202, accepted.delivery_id, deps=accepted.deployments)


async def read_capped(request: web.Request, limit: int, result: _Outcome) -> bytes:
    """Read the body, refusing it (413) as soon as it exceeds `limit`, chunked or not."""
    if request.content_length is not None and request.content_length > limit:
        result.outcome = "too_large"
        raise BodyTooLarge(limit)
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            result.outcome = "too_large"
            raise BodyTooLarge(limit)
    return bytes(buf)


def wake_worker(app: web.Application, clusters: list[int] | None = None) -> None:
    """Tell this process's worker that deployments were queued (for `clusters`, if known)."""
    worker = app.get(WORKER)
    if worker is not None:
        worker.wake(clusters)


def delivery_id_for(source: Source, key: str) -> str:
    """relay's id of a delivery: readable and stable for the same (source, key)."""
    if _SAFE_KEY.fullmatch(key):
        return f"{source.value}-{key}"
    return f"{source.value}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}"


def _record(delivery: Delivery, body: bytes, now: Any, ignored: str | None) -> NewDelivery:
    push = delivery.push
    return NewDelivery(
        delivery_id=delivery_id_for(delivery.source, delivery.delivery_key),
        source=delivery.source.value,
        delivery_key=delivery.delivery_key,
        event=delivery.event.value,
        event_name=delivery.event_name,
        received_at=now,
        content_type=delivery.content_type,
        headers=delivery.forward_headers,
        body=body,
        repo=push.repository if push else None,
        ref=push.ref if push else None,
        before=push.before if push else None,
        after=push.after if push else None,
        commit=push.commit if push else None,
        head_commit_at=push.head_commit.timestamp if push and push.head_commit else None,
        ignored=ignored,
    )


def _planned(delivery: Delivery, route: Route) -> NewDeployment:
    push = delivery.push
    assert push is not None
    return NewDeployment(
        cluster=route.cluster,
        action=route.action,
        version=push.commit,
        source=delivery.source,
        repo=push.repository,
        ref=push.ref,
        before=push.before,
        head_commit_at=push.head_commit.timestamp if push.head_commit else None,
        route_index=route.index,
        forced=push.forced,
    )


def _no_route_reason(delivery: Delivery) -> str:
    push = delivery.push
    assert push is not None
    return f"no route matches {push.repository} {push.ref}"


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
    return web.json_response(body, status=status)


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
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=payload)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
