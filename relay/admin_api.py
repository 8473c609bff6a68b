"""The admin API (`/api/*`, CONTRACT section 4): bearer-token protected, JSON in and out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from relay.config import Action
from relay.deployment import DeploymentStatus, NewDeployment
from relay.events import PushEvent, Source
from relay.routing import explain, lookup, split_ref, verdicts_to_json
from relay.store import StoredDelivery
from relay.typedefs import CLOCK, SETTINGS, STORE
from relay.web import HTTPProblem, wake_worker

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIST_LIMIT = 500


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/deployments", _guard(list_deployments))
    app.router.add_post("/api/deployments", _guard(create_deployment))
    app.router.add_get("/api/deployments/{id}", _guard(get_deployment))
    app.router.add_get("/api/deliveries/{delivery_id}", _guard(get_delivery))
    app.router.add_post("/api/deliveries/{delivery_id}/redeliver", _guard(redeliver))
    app.router.add_get("/api/routes/explain", _guard(explain_routes))
    add_cancel_route(app)


def _guard(handler: Handler) -> Handler:
    """Require `Authorization: Bearer <admin token>` (compared in constant time)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        token = request.app[SETTINGS].admin.token
        if token is None:
            raise HTTPProblem(404, "the admin API is off: set the variable admin.token_env names")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.matches(given.strip()):
            raise HTTPProblem(401, "missing or wrong admin token (Authorization: Bearer ...)")
        return await handler(request)

    return guarded


async def list_deployments(request: web.Request) -> web.Response:
    q = request.query
    cluster = _int_param(q.get("cluster"), "cluster") if q.get("cluster") else None
    status = _status_param(q["status"]) if q.get("status") else None
    limit = _int_param(q.get("limit", "50"), "limit")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise HTTPProblem(400, f"limit must be between 1 and {MAX_LIST_LIMIT}")
    deps = await request.app[STORE].list_deployments(cluster=cluster, status=status, limit=limit)
    return web.json_response({"deployments": [d.to_json() for d in deps]})


async def get_deployment(request: web.Request) -> web.Response:
    dep_id = _int_param(request.match_info["id"], "deployment id")
    dep = await request.app[STORE].get_deployment(dep_id)
    if dep is None:
        raise HTTPProblem(404, f"deployment {dep_id} not found")
    return web.json_response(dep.to_json())


async def create_deployment(request: web.Request) -> web.Response:
    """Queue a deliberate deployment (never skipped for being older: that is a rollback)."""
    body = await _json_object(request)
    cluster = body.get("cluster")
    version = body.get("version")
    action = body.get("action", Action.VERSION.value)
    if isinstance(cluster, bool) or not isinstance(cluster, int) or not 0 < cluster <= MAX_ID:
        raise HTTPProblem(400, "'cluster' must be a positive integer")
    if not isinstance(version, str) or not version.strip():
        raise HTTPProblem(400, "'version' must be a non-empty string")
    if not isinstance(action, str) or action not in {a.value for a in Action}:
        raise HTTPProblem(400, "'action' must be 'version' or 'hook'")
    planned = NewDeployment(cluster=cluster, action=Action(action), version=version.strip(),
                            manual=True)
    dep = await request.app[STORE].enqueue(planned, now=request.app[CLOCK].now())
    wake_worker(request.app)
    return web.json_response(dep.to_json(), status=202)


async def get_delivery(request: web.Request) -> web.Response:
    stored = await _stored_delivery(request)
    return web.json_response(stored.to_json())


async def redeliver(request: web.Request) -> web.Response:
    """Route a stored push again with today's routes and queue deliberate deployments."""
    stored = await _stored_delivery(request)
    d = stored.delivery
    if d.ref is None or d.repo is None or d.commit is None:
        raise HTTPProblem(
            409, f"delivery {d.delivery_id} is not a push ({d.ignored}): nothing to deploy")
    if d.after is not None and d.after.strip("0") == "":
        raise HTTPProblem(409, f"delivery {d.delivery_id} deleted {d.ref}: nothing to deploy")
    routes = lookup(request.app[SETTINGS].routes, _push_of(d))
    if not routes:
        raise HTTPProblem(409, f"no route matches {d.repo} {d.ref}")
    now = request.app[CLOCK].now()
    store = request.app[STORE]
    deps = []
    for route in routes:
        planned = NewDeployment(
            cluster=route.cluster, action=route.action, version=d.commit,
            source=Source(d.source),
            repo=d.repo, ref=d.ref, before=d.before, head_commit_at=d.head_commit_at,
            manual=True, route_index=route.index,
        )
        deps.append(await store.enqueue(planned, delivery_id=d.delivery_id, now=now))
    wake_worker(request.app)
    return web.json_response(
        {"delivery_id": d.delivery_id, "deployments": [x.to_json() for x in deps]}, status=202
    )


async def explain_routes(request: web.Request) -> web.Response:
    q = request.query
    source = _source_param(q["source"]) if q.get("source") else None
    repo, ref = q.get("repo", ""), q.get("ref", "")
    if not repo or not ref:
        raise HTTPProblem(400, "query parameters 'repo' and 'ref' are required")
    verdicts = explain(request.app[SETTINGS].routes, source=source, repo=repo, ref=ref)
    return web.json_response(verdicts_to_json(verdicts, source=source, repo=repo, ref=ref))


# -- helpers ----------------------------------------------------------------------------------


async def _stored_delivery(request: web.Request) -> StoredDelivery:
    delivery_id = request.match_info["delivery_id"]
    stored = await request.app[STORE].get_delivery(delivery_id)
    if stored is None:
        raise HTTPProblem(404, f"delivery {delivery_id} not found")
    return stored


def _push_of(d: Any) -> PushEvent:
    ref: str = d.ref
    branch, tag = split_ref(ref)
    return PushEvent(
        source=Source(d.source), delivery_key=d.delivery_key, repository=d.repo, ref=ref,
        branch=branch, tag=tag, before=d.before or "", after=d.after or "", commit=d.commit,
        created=False, deleted=False, forced=False, head_commit=None, pusher=None,
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPProblem(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise HTTPProblem(400, "body must be a JSON object")
    return body


MAX_ID = 2**63 - 1  # the stores' integer columns


def _int_param(value: str | None, name: str) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise HTTPProblem(400, f"{name} must be an integer, not {value!r}") from None
    if not 0 <= number <= MAX_ID:
        raise HTTPProblem(400, f"{name} must be between 0 and {MAX_ID}")
    return number


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


def add_cancel_route(app: web.Application) -> None:
    """`POST /api/deployments/{id}/cancel`: 200 + the deployment, 404 unknown, 409 final."""
    app.router.add_post("/api/deployments/{id}/cancel", _guard(cancel_deployment))


async def cancel_deployment(request: web.Request) -> web.Response:
    """End a queued or active deployment `canceled`; relay stops following it and does not
    touch the platform (a trigger already sent is not undone)."""
    from relay.store.base import Conflict, NotFound  # noqa: PLC0415 - kept inside this block
    from relay.typedefs import METRICS, WORKER  # noqa: PLC0415 - kept inside this block

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
    return web.json_response(dep.to_json())
