"""The cluster client against real loopback servers: scripted ones for error shapes here,
the simulator in test_cluster_client_sim below."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from relay.cluster import (
    BadResponse,
    ClientError,
    ClusterApiError,
    ClusterClient,
    Container,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unauthorized,
    Unavailable,
    open_session,
)
from relay.metrics import Metrics
from relay.secret import Secret
from relay.simulator import SIM_FAULTS, SIM_STATE, SimState, create_simulator_app, parse_fault

TOKEN = "tok-3f9c1e-very-secret"
Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Scripted:
    """A server answering each request with the next scripted reply (the last one repeats)."""

    replies: list[Reply]
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return await reply(request)


def js(data: object, status: int = 200, **headers: str) -> Reply:
    """A reply with a JSON body (a fresh response each time: one cannot be sent twice)."""
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.json_response(data, status=status, headers=headers)
    return reply


def text(body: str, status: int = 200, **kwargs: object) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, status=status, **kwargs)  # type: ignore[arg-type]
    return reply


async def reset(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering."""
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def hang(request: web.Request) -> web.StreamResponse:
    """Never answer (until the server shuts down)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def truncated(request: web.Request) -> web.StreamResponse:
    """Promise 100 bytes, send 10, close."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                       "Content-Length": "100"})
    await resp.prepare(request)
    await resp.write(b'{"id": 107')
    assert request.transport is not None
    request.transport.close()
    return resp


@dataclass
class Rig:
    script: Scripted
    client: ClusterClient
    metrics: Metrics
    sleeps: list[float]

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig() -> AsyncIterator[RigFactory]:
    servers: list[TestServer] = []
    async with open_session() as session:

        async def make(*replies: Reply, prefix: str = "", attempts: int = 3,
                       request_timeout_s: float = 5.0) -> Rig:
            script = Scripted(list(replies))
            app = web.Application()
            app.router.add_route("*", prefix + "/{tail:.*}", script.handle)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            sleeps: list[float] = []

            async def record(seconds: float) -> None:
                sleeps.append(seconds)

            metrics = Metrics()
            client = ClusterClient(
                session, str(server.make_url(prefix)), Secret(TOKEN, "RELAY_API_TOKEN"),
                request_timeout_s=request_timeout_s, watch_timeout_s=1.0,
                retry=RetryPolicy.no_wait(attempts, sleep=record), metrics=metrics)
            return Rig(script, client, metrics, sleeps)

        yield make
        for server in servers:
            await server.close()


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)


# --- requests: auth, content type, paths ---------------------------------------------


async def test_every_call_carries_the_token_and_json_bodies_their_type(rig: RigFactory) -> None:
    r = await rig(js({"id": 1000, "url": "http://h/hook/1"}), prefix="/simulator")
    created = await r.client.create({"name": "a", "image_type": 1, "image_id": 3, "spec_id": 1})
    assert created.id == 1000
    method, path, headers, body = r.script.seen[0]
    assert (method, path) == ("POST", "/simulator/api/v1/apps")
    assert headers["Authorization"] == f"Token {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["name"] == "a"
    await r.client.delete(1000)
    assert r.script.seen[1][:2] == ("DELETE", "/simulator/api/v1/apps/1000")
    assert r.script.seen[1][2]["Authorization"] == f"Token {TOKEN}"


async def test_resize_and_list_paths(rig: RigFactory) -> None:
    r = await rig(js({}))
    await r.client.resize(10702, 3)
    assert r.script.seen[0][:2] == ("PUT", "/api/v1/apps/10702/replications/3/actions/resize")
    r.script.replies[:] = [js({"total": 0, "apps": []})]
    await r.client.list(limit=5, offset=10)
    assert r.script.seen[1][1] == "/api/v1/apps?limit=5&offset=10"


@pytest.mark.parametrize("limit", [0, 31, -1])
async def test_list_limit_checked_before_any_request(rig: RigFactory, limit: int) -> None:
    r = await rig(js({"total": 0, "apps": []}))
    with pytest.raises(ValueError, match="limit"):
        await r.client.list(limit=limit)
    assert r.script.seen == []


async def test_repr_of_client_hides_token(rig: RigFactory) -> None:
    r = await rig(js({}))
    assert_no_token(repr(r.client), str(r.client))
    assert "127.0.0.1" in repr(r.client)


# --- the error tree ----------------------------------------------------------------------


async def test_401_is_unauthorized_without_the_token(rig: RigFactory) -> None:
    r = await rig(js({"code": 4010, "msg": "invalid token"}, 401))
    with pytest.raises(Unauthorized) as info:
        await r.client.get(1)
    err = info.value
    assert (err.status, err.code, err.msg, err.endpoint) == (401, 4010, "invalid token", "apps.get")
    assert_no_token(err, repr(err), err.body, err.__cause__)
    assert len(r.script.seen) == 1


async def test_404_is_not_found_with_platform_code(rig: RigFactory) -> None:
    r = await rig(js({"code": 4040, "msg": "cluster 999 not found"}, 404))
    with pytest.raises(NotFound) as info:
        await r.client.get(999)
    assert str(info.value) == "apps.get: HTTP 404 code=4040: cluster 999 not found"


async def test_400_is_client_error_and_not_retried(rig: RigFactory) -> None:
    r = await rig(js({"code": 4001, "msg": "spec_id must be one of 1, 10, 20"}, 400))
    with pytest.raises(ClientError) as info:
        await r.client.create({"name": "x"})
    assert str(info.value) == "apps.create: HTTP 400 code=4001: spec_id must be one of 1, 10, 20"
    assert len(r.script.seen) == 1
    assert r.count("relay_cluster_api_requests_total", endpoint="apps.create", code="400") == 1
    assert r.count("relay_cluster_api_retries_total", endpoint="apps.create") == 0


async def test_4xx_with_non_json_body_keeps_raw_body(rig: RigFactory) -> None:
    r = await rig(text("name is taken", 422))
    with pytest.raises(ClientError) as info:
        await r.client.update(1, {"desc": "d"})
    assert info.value.code is None and info.value.body == "name is taken"
    assert str(info.value) == "apps.update: HTTP 422: name is taken"


async def test_429_retry_after_is_honoured_then_success(rig: RigFactory) -> None:
    r = await rig(js({"code": 4290, "msg": "slow down"}, 429, **{"Retry-After": "7"}),
                  js({"total": 0, "apps": []}))
    page = await r.client.list()
    assert page.total == 0
    assert r.sleeps == [7.0]
    assert r.count("relay_cluster_api_retries_total", endpoint="apps.list") == 1


async def test_429_retry_after_capped_and_error_when_exhausted(rig: RigFactory) -> None:
    r = await rig(js({"code": 4290, "msg": "slow down"}, 429, **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as info:
        await r.client.images()
    assert info.value.retry_after == 3600.0
    assert r.sleeps == [30.0, 30.0]
    assert len(r.script.seen) == 3


async def test_5xx_retried_then_success_and_counted(rig: RigFactory) -> None:
    busy = js({"code": 5030, "msg": "busy"}, 503)
    r = await rig(busy, busy, js({"id": 10702, "status": "create_succ"}), attempts=5)
    cluster = await r.client.get(10702)
    assert cluster.status == "create_succ"
    assert len(r.script.seen) == 3
    assert r.count("relay_cluster_api_retries_total", endpoint="apps.get") == 2
    assert r.count("relay_cluster_api_requests_total", endpoint="apps.get", code="503") == 2
    assert r.count("relay_cluster_api_requests_total", endpoint="apps.get", code="200") == 1
    assert r.count("relay_cluster_api_request_duration_seconds_count", endpoint="apps.get") == 3


async def test_5xx_exhausted_is_server_error(rig: RigFactory) -> None:
    r = await rig(js({"code": 5000, "msg": "boom"}, 500))
    with pytest.raises(ServerError, match="HTTP 500 code=5000: boom"):
        await r.client.get(1)
    assert len(r.script.seen) == 3


async def test_html_error_page_is_kept_raw(rig: RigFactory) -> None:
    page = "<html><h1>502 Bad Gateway</h1></html>"
    r = await rig(text(page, 502, content_type="text/html"), attempts=1)
    with pytest.raises(ServerError) as info:
        await r.client.get(1)
    assert info.value.body == page and info.value.code is None


async def test_refused_connection_is_unavailable() -> None:
    metrics = Metrics()
    async with open_session() as session:
        client = ClusterClient(session, f"http://127.0.0.1:{unused_port()}", Secret(TOKEN),
                               retry=RetryPolicy.no_wait(2), metrics=metrics)
        with pytest.raises(Unavailable) as info:
            await client.images()
    assert info.value.reason == "refused" and info.value.reached is False
    assert info.value.status is None
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
    assert metrics.registry.get_sample_value(
        "relay_cluster_api_requests_total", {"endpoint": "images", "code": "error"}) == 2
    assert_no_token(info.value)


async def test_reset_is_unavailable(rig: RigFactory) -> None:
    r = await rig(reset, attempts=2)
    with pytest.raises(Unavailable) as info:
        await r.client.get(1)
    assert info.value.reason == "reset" and info.value.reached
    assert r.count("relay_cluster_api_requests_total", endpoint="apps.get", code="error") == 2


async def test_timeout_is_unavailable(rig: RigFactory) -> None:
    r = await rig(hang, attempts=1, request_timeout_s=0.05)
    with pytest.raises(Unavailable) as info:
        await r.client.get(1)
    assert info.value.reason == "timeout"
    assert "timed out after 0.05s" in str(info.value)


async def test_truncated_body_is_unavailable(rig: RigFactory) -> None:
    r = await rig(truncated, attempts=1)
    with pytest.raises(Unavailable) as info:
        await r.client.get(1)
    assert info.value.reason == "truncated"


async def test_garbage_instead_of_http_is_bad_response_without_token_in_cause() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with open_session() as session:
            client = ClusterClient(session, f"http://127.0.0.1:{port}", Secret(TOKEN),
                                   retry=RetryPolicy.no_wait(3))
            with pytest.raises(BadResponse, match="invalid HTTP response") as info:
                await client.get(1)
    finally:
        server.close()
        await server.wait_closed()
    assert_no_token(info.value, repr(info.value), repr(info.value.__cause__),
                    repr(info.value.__context__))


async def test_malformed_json_is_bad_response_and_not_retried(rig: RigFactory) -> None:
    r = await rig(text('{"id": 1,', content_type="application/json"))
    with pytest.raises(BadResponse) as info:
        await r.client.get(1)
    assert "invalid JSON at line 1 column 10" in str(info.value)
    assert info.value.status == 200 and info.value.body == '{"id": 1,'
    assert len(r.script.seen) == 1


async def test_wrong_shape_is_bad_response(rig: RigFactory) -> None:
    r = await rig(js({"id": "ten"}))
    with pytest.raises(BadResponse, match="apps.get: .*cluster.id"):
        await r.client.get(10)


# --- create is not repeated once it may have been carried out ---------------------------


@pytest.mark.parametrize("first", [reset, hang, js({"code": 5000, "msg": "oops"}, 500)])
async def test_create_not_retried_once_it_may_have_reached_the_server(
        rig: RigFactory, first: Reply) -> None:
    r = await rig(first, js({"id": 1, "url": "http://h/x"}), request_timeout_s=0.2)
    with pytest.raises((Unavailable, ServerError)):
        await r.client.create({"name": "x"})
    assert [s[0] for s in r.script.seen] == ["POST"]
    assert r.count("relay_cluster_api_retries_total", endpoint="apps.create") == 0


async def test_create_retried_on_503_and_429(rig: RigFactory) -> None:
    r = await rig(js({"code": 5030, "msg": "busy"}, 503), js({"code": 1, "msg": "s"}, 429),
                  js({"id": 7, "url": "http://h/x"}))
    assert (await r.client.create({"name": "x"})).id == 7
    assert len(r.script.seen) == 3


async def test_delete_404_after_an_ambiguous_attempt_counts_as_done(rig: RigFactory) -> None:
    r = await rig(js({"code": 5020, "msg": "gateway"}, 502), js({"code": 4040, "msg": "gone"}, 404))
    await r.client.delete(5)
    assert len(r.script.seen) == 2
    r2 = await rig(js({"code": 4040, "msg": "gone"}, 404))
    with pytest.raises(NotFound):
        await r2.client.delete(5)


# --- pagination --------------------------------------------------------------------------


def pager(count: int, *, total: int | None = None, ignore_offset: bool = False) -> Reply:
    async def page(request: web.Request) -> web.StreamResponse:
        limit, offset = int(request.query["limit"]), int(request.query["offset"])
        start = 0 if ignore_offset else offset
        apps = [{"id": i} for i in range(start, min(start + limit, count))]
        return web.json_response({"total": count if total is None else total, "apps": apps})
    return page


async def test_iter_all_walks_every_page(rig: RigFactory) -> None:
    r = await rig(pager(65))
    ids = [c.id async for c in r.client.iter_all()]
    assert ids == list(range(65))
    assert [s[1] for s in r.script.seen] == [
        "/api/v1/apps?limit=30&offset=0", "/api/v1/apps?limit=30&offset=30",
        "/api/v1/apps?limit=30&offset=60"]


@pytest.mark.parametrize("reply, expected", [
    (pager(5, total=1000), list(range(5))),  # total never reached: stop at the empty page
    (pager(40, ignore_offset=True), list(range(10))),  # offset ignored: stop at repeats
])
async def test_iter_all_stops_when_total_never_arrives(
        rig: RigFactory, reply: Reply, expected: list[int]) -> None:
    r = await rig(reply)

    async def collect() -> list[int]:
        return [c.id async for c in r.client.iter_all(page_size=10)]

    ids = await asyncio.wait_for(collect(), 5.0)  # a loop that never ends fails, not hangs
    assert ids == expected
    assert len(r.script.seen) == 2


# --- watch and hooks ---------------------------------------------------------------------


async def test_watch_sends_timeout_and_accepts_a_bare_list(rig: RigFactory) -> None:
    r = await rig(js([{"container_id": 42, "private_ip": "10.0.0.9"}]))
    containers = await r.client.watch(10702, timeout_s=0.5)
    assert containers[0].container_id == "42"
    assert r.script.seen[0][1] == "/api/v1/watch/apps/10702?timeout=0.5"


async def test_watch_read_is_bounded(rig: RigFactory) -> None:
    r = await rig(hang, attempts=1, request_timeout_s=0.05)
    with pytest.raises(Unavailable, match="timed out after 0.1s"):
        await r.client.watch(1, timeout_s=0.05)


async def test_hook_posts_exact_bytes_without_token_or_redirects(rig: RigFactory) -> None:
    r = await rig(text("", 302, headers={"Location": "http://elsewhere/"}), text("ok"))
    url = str(r.client.base_url) + "/api/v1/hooks/app/abc"
    body = b'{"ref": "refs/heads/main"}'
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "Authorization": "Bearer nope"}
    with pytest.raises(ClientError, match="hook: HTTP 302: redirect not followed"):
        await r.client.post_hook(url, body, headers)
    assert await r.client.post_hook(url, body, headers) == 200
    method, path, seen_headers, seen_body = r.script.seen[0]
    assert (method, path, seen_body) == ("POST", "/api/v1/hooks/app/abc", body)
    assert seen_headers["X-GitHub-Event"] == "push"
    assert seen_headers["Content-Type"] == "application/json"
    assert "Authorization" not in seen_headers
    assert len(r.script.seen) == 2  # the redirect was neither followed nor retried
    assert r.count("relay_cluster_api_requests_total", endpoint="hook", code="302") == 1


async def test_hook_retried_on_503_only(rig: RigFactory) -> None:
    r = await rig(text("", 503), text("", 202))
    assert await r.client.post_hook(r.client.base_url + "/h", b"x", {}) == 202
    assert r.script.seen[1][2].get("Content-Type") is None
    assert r.count("relay_cluster_api_retries_total", endpoint="hook") == 1


async def test_hook_not_retried_after_it_may_have_started_a_build(rig: RigFactory) -> None:
    r = await rig(text("", 502), text("", 202))
    with pytest.raises(ServerError):
        await r.client.post_hook(r.client.base_url + "/h", b"x", {})
    assert len(r.script.seen) == 1  # a second POST would start a second build


# --- the token stays out of everything ---------------------------------------------------


async def test_token_never_in_logs_errors_or_metrics(rig: RigFactory) -> None:
    r = await rig(js({"code": 5030, "msg": "busy"}, 503), js({"code": 5000, "msg": "boom"}, 500),
                  js({"code": 4010, "msg": "no"}, 401))
    with structlog.testing.capture_logs() as logs, pytest.raises(ClusterApiError) as info:
        await r.client.get(1)
    assert isinstance(info.value, Unauthorized)
    assert [e["event"] for e in logs] == ["cluster_api_retry", "cluster_api_retry"]
    from prometheus_client import generate_latest
    assert_no_token(logs, info.value, repr(info.value), generate_latest(r.metrics.registry))


# === against the simulator ===============================================================


@dataclass
class Sim:
    app: web.Application
    client: ClusterClient
    metrics: Metrics
    sleeps: list[float]
    url: str

    @property
    def state(self) -> SimState:
        return self.app[SIM_STATE]

    def fault(self, spec: str) -> None:
        self.app[SIM_FAULTS].add(parse_fault(spec))

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    app = create_simulator_app(token=TOKEN, step_s=0.01, watch_timeout_s=5.0)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    try:
        async with open_session() as session:
            metrics = Metrics()
            url = str(server.make_url(""))
            client = ClusterClient(session, url, Secret(TOKEN, "RELAY_API_TOKEN"),
                                   request_timeout_s=5.0, watch_timeout_s=5.0,
                                   retry=RetryPolicy.no_wait(3, sleep=record), metrics=metrics)
            yield Sim(app, client, metrics, sleeps, url)
    finally:
        await server.close()


SPEC = {"name": "api-test", "image_type": 1, "image_id": 3, "spec_id": 1, "replicas": 2,
        "version_control": {"type": "git", "path": "https://github.com/acme/x.git",
                            "branch": "main", "version": "aaaa1111", "password": "hunter2"}}


async def until(predicate: Callable[[], bool], *, rounds: int = 10_000) -> None:
    """Yield to the loop (where the simulator runs) until `predicate` holds."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_sim_images(sim: Sim) -> None:
    images = await sim.client.images()
    assert 30202 in {i.id for i in images.custom}
    centos = next(i for i in images.public if i.id == 10005)
    assert centos.constraint is not None and centos.constraint.min_combo == 20


async def test_sim_get_demo_cluster(sim: Sim) -> None:
    cluster = await sim.client.get(10702)
    assert cluster.name == "shop-web" and cluster.replicas == 2 and len(cluster.containers) == 2
    assert cluster.created_at is not None and cluster.created_at.tzinfo is not None
    assert cluster.version_control is not None
    assert cluster.version_control.password != "demo-password"  # the API masks it
    assert cluster.web_hook_url is not None


async def test_sim_create_get_update_resize_delete(sim: Sim) -> None:
    created = await sim.client.create(SPEC)
    assert created.url.startswith("http")
    cluster = await sim.client.get(created.id)
    assert cluster.name == "api-test" and cluster.version == "aaaa1111"

    await sim.client.update(created.id, {"version_control": {"version": "bbbb2222"}})
    assert (await sim.client.get(created.id)).version == "bbbb2222"
    assert sim.state.put_bodies[created.id] == [{"version_control": {"version": "bbbb2222"}}]

    await sim.client.resize(created.id, 3)
    assert (await sim.client.get(created.id)).replicas == 3

    await sim.client.delete(created.id)
    with pytest.raises(NotFound):
        await sim.client.get(created.id)


async def test_sim_iter_all_over_several_pages(sim: Sim) -> None:
    for n in range(32):
        await sim.client.create({**SPEC, "name": f"c{n}"})
    page = await sim.client.list(limit=30)
    assert page.total == 35 and len(page.clusters) == 30
    ids = [c.id async for c in sim.client.iter_all()]
    assert len(ids) == 35 and len(set(ids)) == 35
    assert {10702, 10703, 10800} <= set(ids)
    assert sim.state.requests["apps.list"] == 1 + 2


async def test_sim_watch_wakes_on_a_version_change(sim: Sim) -> None:
    before = (await sim.client.get(10702)).containers
    parked = sim.state.watch_parked(10702)
    watch = asyncio.create_task(sim.client.watch(10702, timeout_s=5.0))
    await asyncio.wait_for(parked.wait(), 2.0)  # the simulator holds the watch open
    await sim.client.update(10702, {"version_control": {"version": "cccc3333"}})
    await asyncio.wait_for(watch, 2.0)  # woke well before its 5 s timeout

    async def until_containers_change() -> tuple[Container, ...]:
        while (now := await sim.client.watch(10702, timeout_s=5.0)) == before:
            pass
        return now

    after = await asyncio.wait_for(until_containers_change(), 2.0)
    assert set(after) - set(before)  # a new container replaced an old one


async def test_sim_watch_timeout_returns_unchanged_containers(sim: Sim) -> None:
    before = (await sim.client.get(10800)).containers
    assert await sim.client.watch(10800, timeout_s=0.05) == before


async def test_sim_hook_post(sim: Sim) -> None:
    cluster = await sim.client.get(10800)
    assert cluster.web_hook_url is not None
    body = b'{"ref": "refs/heads/main", "after": "dddd4444"}'
    status = await sim.client.post_hook(cluster.web_hook_url, body, {
        "Content-Type": "application/json", "X-GitHub-Event": "push"})
    assert status == 200
    post = sim.state.hook_posts[-1]
    assert post.body == body and post.headers["X-GitHub-Event"] == "push"
    assert "Authorization" not in post.headers


async def test_sim_errors_with_platform_code(sim: Sim) -> None:
    with pytest.raises(NotFound, match=r"apps.get: HTTP 404 code=4040"):
        await sim.client.get(999)
    with pytest.raises(ClientError) as info:
        await sim.client.create({**SPEC, "spec_id": 7})
    assert info.value.status == 400 and info.value.code == 4004 and "spec_id" in info.value.msg
    assert sim.state.requests["apps.create"] == 1  # a 400 is not retried


async def test_sim_wrong_token_is_unauthorized(sim: Sim) -> None:
    async with open_session() as session:
        client = ClusterClient(session, sim.url, Secret("wrong-" + TOKEN),
                               retry=RetryPolicy.no_wait(3))
        with pytest.raises(Unauthorized) as info:
            await client.list()
    assert info.value.code == 4011
    assert_no_token(info.value, repr(client))


async def test_sim_503_twice_then_success(sim: Sim) -> None:
    sim.fault("error:apps.get:503:count=2")
    assert (await sim.client.get(10702)).id == 10702
    assert sim.state.requests["apps.get"] == 3
    assert sim.count("relay_cluster_api_retries_total", endpoint="apps.get") == 2
    assert sim.count("relay_cluster_api_requests_total", endpoint="apps.get", code="503") == 2


async def test_sim_429_retry_after(sim: Sim) -> None:
    sim.fault("error:images:429:count=1:retry-after=4")
    await sim.client.images()
    assert sim.sleeps == [4.0]


async def test_sim_create_not_retried_after_reset(sim: Sim) -> None:
    sim.fault("reset:apps.create:count=1")
    with pytest.raises(Unavailable) as info:
        await sim.client.create(SPEC)
    assert info.value.reason == "reset"
    assert sim.state.requests["apps.create"] == 1


async def test_sim_create_not_retried_after_timeout(sim: Sim) -> None:
    sim.fault("latency:apps.create:1:count=1")
    async with open_session() as session:
        client = ClusterClient(session, sim.url, Secret(TOKEN), request_timeout_s=0.05,
                               retry=RetryPolicy.no_wait(3))
        with pytest.raises(Unavailable, match="timed out"):
            await client.create(SPEC)
    assert sim.state.requests["apps.create"] == 1


async def test_sim_html_and_truncated_and_reset(sim: Sim) -> None:
    sim.fault("html:apps.get:502")
    with pytest.raises(ServerError) as info:
        await sim.client.get(10702)
    assert info.value.body.startswith("<html>") and info.value.code is None
    sim.app[SIM_FAULTS].clear()
    sim.fault("truncated:apps.list")
    with pytest.raises(BadResponse, match="invalid JSON"):
        await sim.client.list()
    sim.fault("reset:images")
    with pytest.raises(Unavailable):
        await sim.client.images()
