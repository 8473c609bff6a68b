"""The request handlers of the cluster API (docs/cluster-api.md §1-8) and the web hook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from relay.simulator.delivery import version_from_delivery
from relay.simulator.keys import SIM_FAULTS, SIM_OPS, SIM_SETTINGS, SIM_STATE
from relay.simulator.model import Cluster
from relay.simulator.state import SimState
from relay.simulator.validation import (
    BAD_BODY,
    DUPLICATE_NAME,
    NO_CLUSTER,
    ApiError,
    bad,
    check_replicas,
    float_param,
    int_param,
    parse_cluster_id,
    parse_patch,
    parse_spec,
)
from relay.simulator.views import cluster_view, containers_view, images_view

NO_HOOK = 4041
OK: dict[str, Any] = {}  # the API documents a bare "200 OK"; answer an empty JSON object

routes = web.RouteTableDef()


@routes.get("/api/v1/apps/images", name="images")
async def images(request: web.Request) -> web.Response:
    return web.json_response(images_view(request.app[SIM_STATE].images))


@routes.post("/api/v1/apps", name="apps.create")
async def create(request: web.Request) -> web.Response:
    state, settings = request.app[SIM_STATE], request.app[SIM_SETTINGS]
    spec = parse_spec(
        await _json_body(request), max_replicas=settings.max_replicas,
        find_image=lambda image_id, custom: state.image(image_id, custom=custom),
    )
    if state.by_name(spec.name) is not None:
        raise bad(DUPLICATE_NAME, f"name: a cluster named {spec.name!r} already exists")
    cluster = state.create(spec)
    state.record_deploy(cluster.id, cluster.version, "create")
    request.app[SIM_OPS].create(cluster.id)
    return web.json_response({"id": cluster.id, "url": hook_url(request, cluster)})


@routes.put("/api/v1/apps/{id}", name="apps.update")
async def update(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    cluster = _cluster(request)
    body = await _json_body(request)
    state.record_put(cluster.id, body)
    before, after = state.update(cluster.id, parse_patch(body))
    # Seed section 3: changing version_control.version deploys that commit.
    if before.version != after.version or before.env_var != after.env_var:
        request.app[SIM_OPS].roll(cluster.id, trigger="update")
    return web.json_response(OK)


@routes.get("/api/v1/apps", name="apps.list")
async def list_clusters(request: web.Request) -> web.Response:
    limit = int_param(request.query.get("limit"), "limit", default=20, low=1, high=30)
    offset = int_param(request.query.get("offset"), "offset", default=0, low=0, high=None)
    clusters = sorted(request.app[SIM_STATE].clusters.values(), key=lambda c: c.id)
    page = clusters[offset : offset + limit]
    return web.json_response(
        {"total": len(clusters), "apps": [_view(request, c) for c in page]}
    )


@routes.get("/api/v1/apps/{id}", name="apps.get")
async def get(request: web.Request) -> web.Response:
    return web.json_response(_view(request, _cluster(request)))


@routes.delete("/api/v1/apps/{id}", name="apps.delete")
async def delete(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    request.app[SIM_OPS].cancel(cluster.id)
    request.app[SIM_STATE].delete(cluster.id)
    return web.json_response(OK)


@routes.put("/api/v1/apps/{id}/replications/{replicas}/actions/resize", name="apps.resize")
async def resize(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    raw = request.match_info["replicas"]
    replicas = check_replicas(
        int_param(raw, "replicas", default=0, low=0, high=None),
        request.app[SIM_SETTINGS].max_replicas,
    )
    if replicas != cluster.replicas:
        request.app[SIM_OPS].resize(cluster.id, replicas)
    return web.json_response(OK)


@routes.get("/api/v1/watch/apps/{id}", name="watch")
async def watch(request: web.Request) -> web.Response:
    """Long-poll (docs/cluster-api.md §8): answer at the cluster's next change, or on timeout.
    """
    state, settings = request.app[SIM_STATE], request.app[SIM_SETTINGS]
    cluster = _cluster(request)
    raw = request.query.get("timeout")
    timeout = min(float_param(raw, "timeout", default=settings.watch_timeout_s),
                  settings.watch_timeout_s)
    if not state.closing and not request.app[SIM_FAULTS].watch_immediate():
        state.park_watch(cluster.id)
        try:
            await asyncio.wait_for(state.change_event(cluster.id).wait(), timeout)
        except TimeoutError:
            pass
        finally:
            state.watching[cluster.id] -= 1
    return web.json_response({"containers": containers_view(_cluster(request).containers)})


@routes.post("/api/v1/hooks/app/{key}", name="hook")
async def hook(request: web.Request) -> web.Response:
    """The cluster's web hook URL: build and deploy the pushed commit (no token: the key is)."""
    state = request.app[SIM_STATE]
    cluster = state.by_hook_key(request.match_info["key"])
    if cluster is None:
        raise ApiError(404, NO_HOOK, "key: no cluster has this web hook URL")
    body = await request.read()
    state.record_hook(cluster.id, body, request.headers)
    version = version_from_delivery(body, request.content_type)
    if version is not None:
        state.set_fields(cluster.id, version_control={**cluster.version_control,
                                                      "version": version})
    request.app[SIM_OPS].roll(cluster.id, trigger="hook")
    return web.json_response(OK)


def hook_url(request: web.Request, cluster: Cluster) -> str:
    """The cluster's web hook URL: this app's hook route, with any mount prefix."""
    path = str(request.app.router["hook"].url_for(key=cluster.hook_key))
    base = request.app[SIM_SETTINGS].public_url or str(request.url.origin())
    return base.rstrip("/") + path


def _view(request: web.Request, cluster: Cluster) -> dict[str, Any]:
    state: SimState = request.app[SIM_STATE]
    return cluster_view(cluster, web_hook_url=hook_url(request, cluster), mask=state.mask)


def _cluster(request: web.Request) -> Cluster:
    cluster_id = parse_cluster_id(request.match_info["id"])
    cluster = request.app[SIM_STATE].cluster(cluster_id)
    if cluster is None:
        raise ApiError(404, NO_CLUSTER, f"id: no cluster {cluster_id}")
    return cluster


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(BAD_BODY, f"body: not valid JSON ({exc})") from exc
