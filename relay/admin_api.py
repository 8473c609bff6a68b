"""The admin API (`/api/*`, docs/admin.md): bearer-token protected, JSON in and out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from relay import admin_input as check
from relay.admin_input import MAX_ID, InputError
from relay.config import Action, Route
from relay.deployment import Deployment, DeploymentStatus, NewDeployment, iso
from relay.events import Source
from relay.gatekeeper import pause_of
from relay.gates.holds import ActiveHold, Pause, UpcomingHold, active_holds, next_holds
from relay.gates.release import RefusalKind, refuse_manual
from relay.ingest import redelivery
from relay.openapi import openapi_document
from relay.routing import explain, verdicts_to_json
from relay.settings import Settings
from relay.store import StoredDelivery
from relay.store.admin_reads import DeliveryFilter, DeploymentFilter, decode_cursor
from relay.store.base import Conflict, NotFound
from relay.typedefs import CLOCK, LIVE, METRICS, SETTINGS, STORE, WORKER
from relay.web import HTTPProblem, wake_worker

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIST_LIMIT = check.MAX_LIST_LIMIT
audit_log = structlog.get_logger("relay.audit")


def add_routes(app: web.Application) -> None:
    app.middlewares.append(api_errors)
    app.router.add_get("/api/openapi.json", _guard(get_openapi))
    app.router.add_get("/api/deployments", _guard(list_deployments))
    app.router.add_post("/api/deployments", _guard(create_deployment))
    app.router.add_get("/api/deployments/{id}", _guard(get_deployment))
    app.router.add_get("/api/deliveries", _guard(list_deliveries))
    app.router.add_get("/api/deliveries/{delivery_id}", _guard(get_delivery))
    app.router.add_post("/api/deliveries/{delivery_id}/redeliver", _guard(redeliver))
    app.router.add_get("/api/routes/explain", _guard(explain_routes))
    app.router.add_post("/api/deployments/{id}/cancel", _guard(cancel_deployment))
    app.router.add_post("/api/clusters/{id}/pause", _guard(pause_cluster))
    app.router.add_post("/api/clusters/{id}/resume", _guard(resume_cluster))
    app.router.add_get("/api/holds", _guard(list_holds))
    app.router.add_get("/api/quarantine", _guard(list_quarantine))
    app.router.add_delete("/api/quarantine/{cluster}/{version}", _guard(clear_quarantine))


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api, answer every error as `{"error": ...}` JSON, aiohttp's own 404/405 too."""
    try:
        return await handler(request)
    except InputError as exc:
        raise HTTPProblem(400, exc.message) from exc
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        message = {404: f"no such path: {request.path}",
                   405: f"method {request.method} not allowed on {request.path}"}.get(
                       exc.status, exc.reason)
        response = web.json_response({"error": message}, status=exc.status)
        for header in ("Allow", "Retry-After"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response


def _guard(handler: Handler) -> Handler:
    """Require `Authorization: Bearer <admin token>` (compared in constant time)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        token = request.app[LIVE].current.admin.token
        if token is None:
            raise HTTPProblem(404, "the admin API is off: set the variable admin.token_env names")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        try:
            candidate = given.strip().encode("ascii")  # a token is ASCII; \xff never matches
        except UnicodeError:
            candidate = b""
        if scheme.lower() != "bearer" or not candidate or not token.matches(candidate):
            raise HTTPProblem(401, "missing or wrong admin token (Authorization: Bearer ...)")
        return await handler(request)

    return guarded


async def get_openapi(request: web.Request) -> web.Response:
    check.check_query(request.query, allowed=())
    return web.json_response(openapi_document())


async def list_deployments(request: web.Request) -> web.Response:
    """`GET /api/deployments`: filtered, newest first; `next` is the next page's `before_id`."""
    q = request.query
    check.check_query(q, allowed=("cluster", "status", "repo", "kind", "since", "limit",
                                  "before_id"))
    limit = check.limit_value(q.get("limit"))
    query = DeploymentFilter(
        cluster=check.int_value(q["cluster"], "cluster") if "cluster" in q else None,
        status=_status_param(q["status"]) if "status" in q else None,
        repo=check.text_value(q["repo"], "repo") if "repo" in q else None,
        kind=check.kind_value(q["kind"]) if "kind" in q else None,
        since=check.since_value(q["since"]) if "since" in q else None,
        before_id=check.int_value(q["before_id"], "before_id") if "before_id" in q else None,
        limit=limit + 1,
    )
    deps = await request.app[STORE].query_deployments(query)
    page = deps[:limit]
    return web.json_response({"deployments": [deployment_json(d) for d in page],
                              "next": page[-1].id if len(deps) > limit else None})


async def get_deployment(request: web.Request) -> web.Response:
    check.check_query(request.query, allowed=())
    dep_id = _int_param(request.match_info["id"], "deployment id")
    dep = await request.app[STORE].get_deployment(dep_id)
    if dep is None:
        raise HTTPProblem(404, f"deployment {dep_id} not found")
    return web.json_response(deployment_json(dep))


async def create_deployment(request: web.Request) -> web.Response:
    """Queue a deliberate deployment (never skipped for being older: that is a rollback).

    The action is the first route's for that cluster unless given; a cluster no route names
    is 404; a short SHA is expanded against the versions relay knows for that cluster.
    """
    check.check_query(request.query, allowed=())
    body = check.json_object(await request.read(),
                             allowed=("cluster", "version", "action", "override_hold", "reason"))
    cluster = body.get("cluster")
    if isinstance(cluster, bool) or not isinstance(cluster, int) or not 0 < cluster <= MAX_ID:
        raise HTTPProblem(400, "'cluster' must be a positive integer")
    version = check.version_value(body.get("version"))
    action = body.get("action")
    if action is not None and (not isinstance(action, str)
                               or action not in {a.value for a in Action}):
        raise HTTPProblem(400, "'action' must be 'version' or 'hook'")
    route = _route_for(request.app[LIVE].current.routes, cluster)
    store = request.app[STORE]
    override, reason = await _hold_override(request, body, cluster, route.repo)
    known = await store.known_versions(cluster, version) if check.is_short_sha(version) else ()
    expansion = check.expand_version(version, known)
    planned = NewDeployment(cluster=cluster, action=Action(action) if action else route.action,
                            version=expansion.version, manual=True, route_index=route.index,
                            override_reason=reason if override else None)
    dep = await store.enqueue(planned, now=request.app[CLOCK].now())
    wake_worker(request.app)
    audit(request, "deploy", deployment_id=dep.id, cluster=cluster, version=dep.version,
          deploy_action=dep.action, override_hold=override, override_reason=dep.override_reason)
    answer = deployment_json(dep)
    if expansion.expanded_from is not None:
        answer["expanded_from"] = expansion.expanded_from
    return web.json_response(answer, status=202)


async def list_deliveries(request: web.Request) -> web.Response:
    """`GET /api/deliveries`: newest first; `next` is the `cursor` of the next page."""
    q = request.query
    check.check_query(q, allowed=("source", "repo", "event", "since", "limit", "cursor"))
    limit = check.limit_value(q.get("limit"))
    cursor = None
    if "cursor" in q:
        cursor = decode_cursor(q["cursor"])
        if cursor is None:
            raise HTTPProblem(400, "cursor is not one this API gave out (use 'next' as is)")
        check.text_value(cursor[1], "cursor", max_len=check.MAX_DELIVERY_ID)
    query = DeliveryFilter(
        source=_source_param(q["source"]).value if "source" in q else None,
        repo=check.text_value(q["repo"], "repo") if "repo" in q else None,
        event=check.text_value(q["event"], "event") if "event" in q else None,
        since=check.since_value(q["since"]) if "since" in q else None,
        cursor=cursor, limit=limit + 1,
    )
    rows = await request.app[STORE].query_deliveries(query)
    page = rows[:limit]
    return web.json_response({"deliveries": [r.to_json() for r in page],
                              "next": page[-1].cursor() if len(rows) > limit else None})


async def get_delivery(request: web.Request) -> web.Response:
    check.check_query(request.query, allowed=())
    stored = await _stored_delivery(request)
    answer = stored.to_json()
    answer["deployments"] = [deployment_json(d) for d in stored.deployments]
    return web.json_response(answer)


async def redeliver(request: web.Request) -> web.Response:
    """Route a stored push again with today's routes and queue deliberate deployments."""
    check.check_query(request.query, allowed=())
    if (await request.read()).strip():
        check.json_object(await request.read(), allowed=())
    stored = await _stored_delivery(request)
    d = stored.delivery
    planned = redelivery(d, request.app[LIVE].current.routes)  # NothingToDeploy: 409
    now = request.app[CLOCK].now()
    deps = [await request.app[STORE].enqueue(p, delivery_id=d.delivery_id, now=now)
            for p in planned]
    wake_worker(request.app)
    audit(request, "redeliver", delivery_id=d.delivery_id,
          deployment_ids=[x.id for x in deps])
    return web.json_response(
        {"delivery_id": d.delivery_id, "deployments": [deployment_json(x) for x in deps]},
        status=202
    )


async def explain_routes(request: web.Request) -> web.Response:
    q = request.query
    check.check_query(q, allowed=("source", "repo", "ref", "paths", "message"))
    source = _source_param(q["source"]) if q.get("source") else None
    repo, ref = q.get("repo", ""), q.get("ref", "")
    if not repo or not ref:
        raise HTTPProblem(400, "query parameters 'repo' and 'ref' are required")
    check.text_value(repo, "repo")
    check.text_value(ref, "ref", max_len=check.MAX_REF)
    verdicts = explain(request.app[LIVE].current.routes, source=source, repo=repo, ref=ref)
    paths = ([p for p in check.text_value(q["paths"], "paths", max_len=8192).split(",") if p]
             if "paths" in q else None)
    message = check.text_value(q["message"], "message", max_len=4096) if "message" in q \
        else None
    return web.json_response(verdicts_to_json(verdicts, source=source, repo=repo, ref=ref,
                                              paths=paths, message=message))


# -- helpers ----------------------------------------------------------------------------------


def audit(request: web.Request, action: str, **fields: Any) -> None:
    """One `audit` log line for an admin action that changes something, with who asked.

    The client is the peer address, or the first untrusted `X-Forwarded-For` entry when the
    peer is one of `server.trusted_proxies` (relay.admin_input.client_address).
    """
    trusted = getattr(request.app[LIVE].current.server, "trusted_proxies", ())
    client = check.client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                  trusted)
    audit_log.info("audit", action=action, client=client, peer=request.remote, **fields)


def deployment_json(dep: Deployment) -> dict[str, Any]:
    """A DEPLOYMENT object, with its stored `kind` and gate links (Deployment.to_json)."""
    return dep.to_json()


def _route_for(routes: tuple[Route, ...], cluster: int) -> Route:
    """The first route naming `cluster` (its action and version_control apply), else 404."""
    for route in routes:
        if route.cluster == cluster:
            return route
    raise HTTPProblem(404, f"no route names cluster {cluster}: relay does not deploy to it")


async def _stored_delivery(request: web.Request) -> StoredDelivery:
    delivery_id = check.text_value(request.match_info["delivery_id"], "delivery id",
                                   max_len=check.MAX_DELIVERY_ID)
    stored = await request.app[STORE].get_delivery(delivery_id)
    if stored is None:
        raise HTTPProblem(404, f"delivery {delivery_id[:100]} not found")
    return stored




def _int_param(value: str | None, name: str) -> int:
    return check.int_value(value or "", name)


def _status_param(value: str) -> DeploymentStatus:
    try:
        return DeploymentStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in DeploymentStatus)
        raise HTTPProblem(400, f"status must be one of {allowed}") from None


def _source_param(value: str) -> Source:
    try:
        return Source(value)
    except ValueError:
        raise HTTPProblem(400, "source must be github, gitlab or gitea") from None


# -- cancel (issue 11) ------------------------------------------------------------------------


async def cancel_deployment(request: web.Request) -> web.Response:
    """End a queued or active deployment `canceled`: 200 + the deployment, 404 unknown, 409
    already final; relay stops following it and does not touch the platform (a trigger
    already sent is not undone)."""
    check.check_query(request.query, allowed=())
    if (await request.read()).strip():
        check.json_object(await request.read(), allowed=())
    dep_id = _int_param(request.match_info["id"], "deployment id")
    try:
        dep = await request.app[STORE].cancel(
            dep_id, now=request.app[CLOCK].now(), reason="canceled through the admin API")
    except NotFound:
        raise HTTPProblem(404, f"deployment {dep_id} not found") from None
    except Conflict as exc:
        raise HTTPProblem(409, f"deployment {dep_id} is already {exc.deployment.status.value}: "
                               "nothing to cancel") from None
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.canceled(dep)  # stops following it here, counts and logs its end
    else:
        request.app[METRICS].deployments.labels(
            cluster=str(dep.cluster), action=dep.action.value, outcome=dep.status.value).inc()
    audit(request, "cancel", deployment_id=dep.id, cluster=dep.cluster)
    return web.json_response(deployment_json(dep))


# -- deploy gates (issue 13; docs/gates.md) ----------------------------------------------------


async def _hold_override(request: web.Request, body: dict[str, Any], cluster: int,
                         repo: str | None) -> tuple[bool, str | None]:
    """409 when a hold covers `cluster` and the request does not override it with a reason
    (relay.gates.release.refuse_manual); else (override_hold, reason)."""
    override = body.get("override_hold", False)
    if not isinstance(override, bool):
        raise HTTPProblem(400, "'override_hold' must be true or false")
    reason = body.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise HTTPProblem(400, "'reason' must be a string")
        reason = check.text_value(reason, "reason", max_len=500)
    worker = request.app.get(WORKER)
    now = request.app[CLOCK].now()
    if worker is not None:
        active = await worker.gatekeeper.holds_for(cluster, repo, now)
    else:
        active = active_holds(request.app[SETTINGS].holds, await request.app[STORE].pauses(),
                              cluster, repo, now)
    refusal = refuse_manual(cluster, active, override_hold=override, reason=reason)
    if refusal is not None:
        raise HTTPProblem(409 if refusal.kind is RefusalKind.HELD else 400, refusal.message)
    return override, reason


async def pause_cluster(request: web.Request) -> web.Response:
    """Pause a cluster by hand: `{"reason": TEXT, "until": ISO time or null}`."""
    check.check_query(request.query, allowed=())
    cluster = _int_param(request.match_info["id"], "cluster id")
    body = check.json_object(await request.read(), allowed=("reason", "until"))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise HTTPProblem(400, "'reason' is required: a non-empty string")
    reason = check.text_value(reason, "reason", max_len=500)
    until_raw = body.get("until")
    if until_raw is not None and not isinstance(until_raw, str):
        raise HTTPProblem(400, "'until' must be an ISO 8601 time or null")
    now = request.app[CLOCK].now()
    until = None
    if until_raw is not None:
        try:
            until = check.since_value(until_raw)
        except InputError as exc:
            raise HTTPProblem(400, str(exc).replace("since", "until", 1)) from None
        if until <= now:
            raise HTTPProblem(400, "'until' must be in the future")
    return web.json_response(_pause_json(await place_pause(request, cluster, reason, until,
                                                           now=now)))


async def place_pause(request: web.Request, cluster: int, reason: str,
                      until: datetime | None, *, now: datetime | None = None,
                      **fields: Any) -> Pause:
    """Pause `cluster` from `now` (default: the clock's now) until `until` (None: until
    resumed): store the pause, wake the worker and write the audit line (with `fields`).
    HoldError for an empty reason. Shared by `POST /api/clusters/{id}/pause` and the status
    page; a caller that computed `until` from the clock passes the same `now`, so that a
    two-hour pause is two hours to the millisecond."""
    pause = pause_of(cluster, reason, until, now or request.app[CLOCK].now())
    await request.app[STORE].set_pause(pause)
    wake_worker(request.app)
    audit(request, "pause", cluster=cluster, reason=reason, until=iso(until), **fields)
    return pause


async def lift_pause(request: web.Request, cluster: int, **fields: Any) -> bool:
    """Resume `cluster`: clear its pause, wake the worker, write the audit line (with
    `fields`); False (and nothing done) when it was not paused. Shared by
    `POST /api/clusters/{id}/resume` and the status page."""
    if not await request.app[STORE].clear_pause(cluster):
        return False
    wake_worker(request.app)
    audit(request, "resume", cluster=cluster, **fields)
    return True


async def resume_cluster(request: web.Request) -> web.Response:
    """End a cluster's pause: its newest held deployment is then released (unless a
    scheduled hold still covers it). 404 when the cluster is not paused."""
    check.check_query(request.query, allowed=())
    if (await request.read()).strip():
        check.json_object(await request.read(), allowed=())
    cluster = _int_param(request.match_info["id"], "cluster id")
    if not await lift_pause(request, cluster):
        raise HTTPProblem(404, f"cluster {cluster} is not paused")
    return web.json_response({"cluster": cluster, "paused": False})


@dataclass(frozen=True, slots=True)
class HoldsNow:
    """What holds the clusters at one instant: `active` as (cluster, hold) pairs in cluster
    order, over the routes' clusters and every paused one; `upcoming` the next windows of the
    scheduled holds (relay.gates.holds.next_holds, soonest first)."""

    active: tuple[tuple[int, ActiveHold], ...]
    upcoming: tuple[UpcomingHold, ...]


def holds_now(settings: Settings, pauses: Iterable[Pause], now: datetime) -> HoldsNow:
    """Combine the configured `holds:` and the stored pauses at `now` (pure): each cluster is
    judged with its route's repository (None when the route's repo is a glob or the cluster
    has only a pause), as relay.gates.holds.active_holds does for a deployment."""
    pauses = tuple(pauses)
    repos: dict[int, str | None] = {}
    for route in settings.routes:
        repos.setdefault(route.cluster, route.repo if "*" not in route.repo else None)
    for pause in pauses:
        repos.setdefault(pause.cluster, None)
    active = tuple((cluster, hold) for cluster in sorted(repos)
                   for hold in active_holds(settings.holds, pauses, cluster, repos[cluster], now))
    return HoldsNow(active=active, upcoming=next_holds(settings.holds, now))


async def read_holds(app: web.Application) -> HoldsNow:
    """`holds_now` over the app's settings, the store's pauses and the app's clock."""
    return holds_now(app[SETTINGS], await app[STORE].pauses(), app[CLOCK].now())


async def list_holds(request: web.Request) -> web.Response:
    """What holds every cluster now (routes' clusters and paused ones), and the next
    scheduled windows."""
    check.check_query(request.query, allowed=())
    held = await read_holds(request.app)
    active = [{"cluster": cluster, "kind": hold.kind.value, "name": hold.name,
               "reason": hold.reason, "since": iso(hold.since), "until": iso(hold.until)}
              for cluster, hold in held.active]
    upcoming = [{"name": h.name, "starts_at": iso(h.starts_at), "ends_at": iso(h.ends_at),
                 "clusters": list(h.clusters) if h.clusters is not None else None,
                 "repos": list(h.repos) if h.repos is not None else None}
                for h in held.upcoming]
    return web.json_response({"active": active, "next": upcoming})


async def list_quarantine(request: web.Request) -> web.Response:
    check.check_query(request.query, allowed=())
    entries = await request.app[STORE].quarantine()
    return web.json_response({"quarantine": [
        {"cluster": e.cluster, "version": e.version, "deployment_id": e.deployment_id,
         "created_at": iso(e.created_at), "reason": e.reason} for e in entries]})


async def clear_quarantine(request: web.Request) -> web.Response:
    check.check_query(request.query, allowed=())
    cluster = _int_param(request.match_info["cluster"], "cluster id")
    version = check.version_value(request.match_info["version"])
    if not await request.app[STORE].clear_quarantine(cluster, version):
        raise HTTPProblem(404, f"version {version} is not quarantined on cluster {cluster}")
    audit(request, "quarantine_clear", cluster=cluster, version=version)
    return web.json_response({"cluster": cluster, "version": version, "quarantined": False})


def _pause_json(pause: Pause) -> dict[str, Any]:
    return {"cluster": pause.cluster, "reason": pause.reason, "until": iso(pause.until),
            "since": iso(pause.since), "paused": True}
