"""The admin API of CONTRACT section 4: auth, listing, manual deployments, redelivery, explain."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.config import AdminSettings, ServerSettings
from relay.store import Store
from relay.store.admin_reads import encode_cursor
from relay.store.postgres import PostgresStore
from tests.factories import ADMIN_HEADERS, ADMIN_TOKEN, make_settings
from tests.payloads import github_headers, github_ping, github_push, sha

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


@pytest.fixture(params=["sqlite", "postgres"])
async def any_client(request: pytest.FixtureRequest, aiohttp_client: ClientFactory,
                     tmp_path: Path, postgres_databases: Callable[[], Awaitable[str]]
                     ) -> AsyncIterator[TestClient[Any, Any]]:
    """The admin API on each store (PostgreSQL: a fresh database)."""
    store: Store | None = None
    if request.param == "postgres":
        store = await PostgresStore.open(await postgres_databases(), pool_size=2,
                                         connect_timeout_s=5, query_timeout_s=5)
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry(),
                     store=store)
    try:
        yield await aiohttp_client(app)
    finally:
        if store is not None:
            await store.close()


async def push(client: TestClient[Any, Any], body: bytes, delivery: str, event: str = "push"
               ) -> dict[str, Any]:
    resp = await client.post("/hooks/github", data=body,
                             headers=github_headers(body, delivery=delivery, event=event))
    assert resp.status in (200, 202)
    return dict(await resp.json())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic eDp5"}])
async def test_admin_api_needs_the_bearer_token(client: TestClient[Any, Any],
                                                headers: dict[str, str]) -> None:
    resp = await client.get("/api/deployments", headers=headers)
    assert resp.status == 401
    assert "token" in (await resp.json())["error"]


async def test_admin_api_is_off_without_a_token(aiohttp_client: ClientFactory,
                                                tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin=AdminSettings(token=None))
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    resp = await client.get("/api/deployments", headers=ADMIN_HEADERS)
    assert resp.status == 404
    assert "off" in (await resp.json())["error"]


async def test_list_and_show_deployments(client: TestClient[Any, Any]) -> None:
    await push(client, github_push("acme/shop", after=sha("a")), "d1")
    await push(client, github_push("acme/api", after=sha("b")), "d2")
    data = await (await client.get("/api/deployments", headers=ADMIN_HEADERS)).json()
    assert [d["cluster"] for d in data["deployments"]] == [10703, 10702]  # newest first
    first = data["deployments"][1]
    assert first["status"] == "queued" and first["version"] == sha("a")
    assert first["delivery_id"] == "github-d1" and first["repo"] == "acme/shop"
    assert first["created_at"].endswith("Z")
    only = await (await client.get("/api/deployments?cluster=10703&status=queued&limit=5",
                                   headers=ADMIN_HEADERS)).json()
    assert [d["cluster"] for d in only["deployments"]] == [10703]
    one = await client.get(f"/api/deployments/{first['id']}", headers=ADMIN_HEADERS)
    assert (await one.json()) == first


@pytest.mark.parametrize(("query", "needle"), [("cluster=abc", "cluster"),
                                                ("status=bogus", "status"),
                                                ("limit=0", "limit")])
async def test_bad_list_parameters_are_400(client: TestClient[Any, Any], query: str,
                                           needle: str) -> None:
    resp = await client.get(f"/api/deployments?{query}", headers=ADMIN_HEADERS)
    assert resp.status == 400
    assert needle in (await resp.json())["error"]


async def test_unknown_deployment_is_404(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/deployments/999", headers=ADMIN_HEADERS)).status == 404
    assert (await client.get("/api/deployments/x", headers=ADMIN_HEADERS)).status == 400


async def test_manual_deployment_is_queued_202(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/deployments", headers=ADMIN_HEADERS,
                             json={"cluster": 10702, "version": sha("m"), "action": "version"})
    assert resp.status == 202
    dep = await resp.json()
    assert dep["manual"] is True and dep["status"] == "queued" and dep["delivery_id"] is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [(b"{", "JSON"), (b"[]", "object"), (b'{"cluster": "10702", "version": "x"}', "cluster"),
     (b'{"cluster": 10702}', "version"), (b'{"cluster": 1, "version": "x", "action": "y"}',
                                          "action")],
)
async def test_bad_manual_deployment_is_400(client: TestClient[Any, Any], body: bytes,
                                            needle: str) -> None:
    resp = await client.post("/api/deployments", data=body,
                             headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
    assert resp.status == 400
    assert needle in (await resp.json())["error"]


async def test_get_delivery_shows_its_deployments(client: TestClient[Any, Any]) -> None:
    answer = await push(client, github_push("acme/shop", after=sha("x")), "d9")
    data = await (await client.get("/api/deliveries/github-d9", headers=ADMIN_HEADERS)).json()
    assert data["delivery_id"] == "github-d9" and data["source"] == "github"
    assert data["event"] == "push" and data["commit"] == sha("x")
    assert [d["id"] for d in data["deployments"]] == [d["id"] for d in answer["deployments"]]
    assert [d["kind"] for d in data["deployments"]] == ["push"]
    assert (await client.get("/api/deliveries/nope", headers=ADMIN_HEADERS)).status == 404


async def test_redeliver_queues_deliberate_deployments(client: TestClient[Any, Any]) -> None:
    await push(client, github_push("acme/shop", after=sha("y")), "d10")
    resp = await client.post("/api/deliveries/github-d10/redeliver", headers=ADMIN_HEADERS)
    assert resp.status == 202
    [dep] = (await resp.json())["deployments"]
    assert dep["manual"] is True and dep["delivery_id"] == "github-d10"
    assert dep["version"] == sha("y") and dep["cluster"] == 10702
    data = await (await client.get("/api/deliveries/github-d10", headers=ADMIN_HEADERS)).json()
    assert len(data["deployments"]) == 2


async def test_redeliver_of_a_ping_is_409(client: TestClient[Any, Any]) -> None:
    await push(client, github_ping(), "p1", event="ping")
    resp = await client.post("/api/deliveries/github-p1/redeliver", headers=ADMIN_HEADERS)
    assert resp.status == 409
    assert "nothing to deploy" in (await resp.json())["error"]


async def test_explain_routes(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/routes/explain?source=github&repo=acme/shop&ref=refs/tags/v1",
                            headers=ADMIN_HEADERS)
    assert resp.status == 200
    data = await resp.json()
    assert data["matched"] == 1
    matched = [r for r in data["routes"] if r["matched"]]
    assert matched[0]["cluster"] == 10800
    assert all(r["reasons"] for r in data["routes"] if not r["matched"])
    assert (await client.get("/api/routes/explain?repo=x", headers=ADMIN_HEADERS)).status == 400
    bad = await client.get("/api/routes/explain?source=svn&repo=a/b&ref=main",
                           headers=ADMIN_HEADERS)
    assert bad.status == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/api/deployments/99999999999999999999", None),
     ("GET", "/api/deployments?cluster=99999999999999999999", None),
     ("POST", "/api/deployments", {"cluster": 2**70, "version": "x"}),
     ("POST", "/api/deployments", {"cluster": 1, "version": "x", "action": ["x"]})],
    ids=["huge-id", "huge-cluster-filter", "huge-cluster", "action-not-a-string"],
)
async def test_out_of_range_input_is_400_not_500(client: TestClient[Any, Any], method: str,
                                                 path: str, body: Any) -> None:
    resp = await client.request(method, path, json=body, headers=ADMIN_HEADERS)
    assert resp.status == 400, await resp.text()


# -- issue 11 findings 8 and 9, issue 16 finding 5: strict input, never a 5xx ----------------


async def _post_raw(client: TestClient[Any, Any], body: bytes) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/deployments", data=body,
                             headers={**ADMIN_HEADERS, "Content-Type": "application/json"})
    return resp.status, dict(await resp.json())


async def test_unknown_field_is_400_naming_it(client: TestClient[Any, Any]) -> None:
    status, data = await _post_raw(client, b'{"cluster": 10702, "version": "abc", '
                                           b'"actoin": "hook"}')
    assert status == 400 and "'actoin'" in data["error"]
    assert (await client.get("/api/deployments", headers=ADMIN_HEADERS)).status == 200
    assert (await (await client.get("/api/deployments", headers=ADMIN_HEADERS)).json()
            )["deployments"] == []


@pytest.mark.parametrize("path", ["/api/deployments?offset=5", "/api/deployments?limit=5&x=1",
                                  "/api/deployments/1?verbose=1", "/api/deliveries?page=2",
                                  "/api/routes/explain?repo=a/b&ref=main&branch=main"])
async def test_unknown_query_parameter_is_400_naming_it(client: TestClient[Any, Any],
                                                        path: str) -> None:
    resp = await client.get(path, headers=ADMIN_HEADERS)
    assert resp.status == 400
    name = path.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]
    assert f"'{name}'" in (await resp.json())["error"]


async def test_unknown_paths_and_methods_under_api_answer_json(
        client: TestClient[Any, Any]) -> None:
    missing = await client.get("/api/nope", headers=ADMIN_HEADERS)
    assert missing.status == 404 and missing.content_type == "application/json"
    assert "/api/nope" in (await missing.json())["error"]
    wrong = await client.delete("/api/deployments", headers=ADMIN_HEADERS)
    assert wrong.status == 405 and wrong.content_type == "application/json"
    assert "DELETE" in (await wrong.json())["error"] and "GET" in wrong.headers["Allow"]
    outside = await client.get("/nope")
    assert outside.status == 404  # outside /api aiohttp's own answer is kept


async def test_manual_deploy_takes_the_routes_action(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/deployments", headers=ADMIN_HEADERS,
                             json={"cluster": 10800, "version": sha("tagged")})
    assert resp.status == 202
    dep = await resp.json()
    assert dep["action"] == "hook" and dep["kind"] == "manual"
    given = await client.post("/api/deployments", headers=ADMIN_HEADERS,
                              json={"cluster": 10800, "version": sha("t2"), "action": "version"})
    assert (await given.json())["action"] == "version"


async def test_manual_deploy_to_a_cluster_no_route_names_is_404(
        client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/deployments", headers=ADMIN_HEADERS,
                             json={"cluster": 99999, "version": sha("x")})
    assert resp.status == 404 and "99999" in (await resp.json())["error"]


@pytest.mark.parametrize("raw", [b"Bearer \xff", b"Bearer \xed\xa0\x80", b"\xff\xfe",
                                 "Bearer \u00e9t\u00e9".encode()],
                         ids=["ff", "surrogate", "no-scheme", "utf-8"])
async def test_a_non_ascii_token_is_401_not_500(client: TestClient[Any, Any],
                                                raw: bytes) -> None:
    """The raw bytes on the wire (an HTTP client library would re-encode a str)."""
    for path in (b"/api/deployments", b"/api/deliveries/x", b"/api/openapi.json"):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: relay\r\nAuthorization: " + raw
                     + b"\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        assert answer.startswith(b"HTTP/1.1 401 "), (path, answer[:200])
        assert b'"error"' in answer


async def test_deeply_nested_body_is_400(client: TestClient[Any, Any]) -> None:
    status, data = await _post_raw(client, b"[" * 100_000)
    assert status == 400 and "JSON" in data["error"]


@pytest.mark.parametrize("version", ["\\ud800", "a b", "-rf", "x" * 256, "\\u0000", "v\\nx"])
async def test_a_version_that_is_no_commit_ish_is_400(client: TestClient[Any, Any],
                                                      version: str) -> None:
    status, data = await _post_raw(
        client, b'{"cluster": 10702, "version": "' + version.encode() + b'"}')
    assert status == 400 and "version" in data["error"]


async def test_a_known_short_sha_is_expanded(client: TestClient[Any, Any]) -> None:
    full = sha("known")
    await push(client, github_push("acme/shop", after=full), "k1")
    resp = await client.post("/api/deployments", headers=ADMIN_HEADERS,
                             json={"cluster": 10702, "version": full[:12]})
    assert resp.status == 202
    dep = await resp.json()
    assert dep["version"] == full and dep["expanded_from"] == full[:12]


@pytest.mark.parametrize(("given", "needle"), [("abc", "at least 7"),
                                                ("deadbeef", "full 40-character SHA")])
async def test_an_unknown_short_sha_is_refused(client: TestClient[Any, Any], given: str,
                                               needle: str) -> None:
    status, data = await _post_raw(
        client, b'{"cluster": 10702, "version": "' + given.encode() + b'"}')
    assert status == 400 and needle in data["error"]


async def test_an_ambiguous_short_sha_names_the_candidates(
        client: TestClient[Any, Any]) -> None:
    one, two = "abcdef1" + "1" * 33, "abcdef1" + "2" * 33
    for version in (one, two):
        await client.post("/api/deployments", headers=ADMIN_HEADERS,
                          json={"cluster": 10702, "version": version})
    status, data = await _post_raw(client, b'{"cluster": 10702, "version": "abcdef1"}')
    assert status == 400 and one in data["error"] and two in data["error"]
    assert "ambiguous" in data["error"]


async def test_deployment_filters_and_pages(client: TestClient[Any, Any]) -> None:
    await push(client, github_push("acme/shop", after=sha("a")), "f1")
    await push(client, github_push("acme/api", after=sha("b")), "f2")
    await client.post("/api/deployments", headers=ADMIN_HEADERS,
                      json={"cluster": 10702, "version": sha("c")})

    async def get(query: str) -> dict[str, Any]:
        resp = await client.get(f"/api/deployments?{query}", headers=ADMIN_HEADERS)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    assert [d["repo"] for d in (await get("repo=acme/api"))["deployments"]] == ["acme/api"]
    assert [d["version"] for d in (await get("kind=manual"))["deployments"]] == [sha("c")]
    assert len((await get("kind=push&cluster=10702"))["deployments"]) == 1
    assert len((await get("since=2000-01-01T00:00:00Z"))["deployments"]) == 3
    assert (await get("since=2999-01-01T00:00:00Z"))["deployments"] == []
    first = await get("limit=2")
    assert len(first["deployments"]) == 2 and first["next"] == first["deployments"][1]["id"]
    rest = await get(f"limit=2&before_id={first['next']}")
    assert len(rest["deployments"]) == 1 and rest["next"] is None
    for bad in ("kind=bogus", "since=yesterday", "since=2026-01-01T00:00:00",
                "before_id=-1", "limit=1&limit=2"):
        resp = await client.get(f"/api/deployments?{bad}", headers=ADMIN_HEADERS)
        assert resp.status == 400, bad


async def test_deliveries_list_and_pages(client: TestClient[Any, Any]) -> None:
    await push(client, github_ping(), "p1", event="ping")
    await push(client, github_push("acme/shop", after=sha("a")), "l1")
    await push(client, github_push("acme/api", after=sha("b")), "l2")
    resp = await client.get("/api/deliveries?limit=2", headers=ADMIN_HEADERS)
    page = await resp.json()
    assert [d["delivery_id"] for d in page["deliveries"]] == ["github-l2", "github-l1"]
    rest = await (await client.get(f"/api/deliveries?cursor={page['next']}",
                                   headers=ADMIN_HEADERS)).json()
    assert [d["delivery_id"] for d in rest["deliveries"]] == ["github-p1"]
    assert rest["next"] is None
    pings = await (await client.get("/api/deliveries?event=ping", headers=ADMIN_HEADERS)).json()
    assert [d["ignored"] is not None for d in pings["deliveries"]] == [True]
    bad = await client.get("/api/deliveries?cursor=nope", headers=ADMIN_HEADERS)
    assert bad.status == 400 and "cursor" in (await bad.json())["error"]


async def test_changes_are_audited_with_the_client_address(
        client: TestClient[Any, Any]) -> None:
    await push(client, github_push("acme/shop", after=sha("au")), "a1")
    with structlog.testing.capture_logs() as logs:
        await client.post("/api/deployments", headers=ADMIN_HEADERS,
                          json={"cluster": 10702, "version": sha("au2")})
        await client.post("/api/deliveries/github-a1/redeliver", headers=ADMIN_HEADERS)
        await client.get("/api/deployments", headers=ADMIN_HEADERS)
    audits = [e for e in logs if e["event"] == "audit"]
    assert [e["action"] for e in audits] == ["deploy", "redeliver"]
    assert all(e["client"] == "127.0.0.1" for e in audits)
    assert audits[0]["version"] == sha("au2") and audits[1]["delivery_id"] == "github-a1"
    assert ADMIN_TOKEN not in repr(logs)


@dataclasses.dataclass(frozen=True, slots=True)
class ProxiedServer(ServerSettings):
    """ServerSettings with `trusted_proxies` (the config gains the key in another change)."""

    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


async def test_audit_believes_x_forwarded_for_only_from_a_trusted_proxy(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    server = ProxiedServer(**{f.name: getattr(settings.server, f.name)
                              for f in dataclasses.fields(settings.server)
                              if f.name != "trusted_proxies"},
                           trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    app = create_app(dataclasses.replace(settings, server=server), run_worker=False,
                     registry=CollectorRegistry())
    c = await aiohttp_client(app)
    with structlog.testing.capture_logs() as logs:
        await c.post("/api/deployments", json={"cluster": 10702, "version": sha("p")},
                     headers={**ADMIN_HEADERS, "X-Forwarded-For": "203.0.113.9, 127.0.0.2"})
    [line] = [e for e in logs if e["event"] == "audit"]
    assert line["client"] == "203.0.113.9"


@pytest.mark.parametrize("path", [
    "/api/deliveries/%00", "/api/deliveries/a%00b/redeliver", "/api/deployments?repo=%00",
    "/api/deliveries?event=%00", "/api/deliveries?repo=a%01", "/api/routes/explain?repo=%00&ref=x",
    "/api/deliveries/" + "a" * 3000,
    "/api/deliveries?cursor=" + encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "x\x00"),
])
async def test_text_no_store_can_hold_is_400_on_both_stores(any_client: TestClient[Any, Any],
                                                            path: str) -> None:
    method = "POST" if path.endswith("redeliver") else "GET"
    resp = await any_client.request(method, path, headers=ADMIN_HEADERS)
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()


async def test_explain_routes_with_paths_and_message(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/routes/explain", headers=ADMIN_HEADERS, params={
        "repo": "acme/shop", "ref": "main", "paths": "src/a.py,README.md",
        "message": "Bump [skip deploy]"})
    assert resp.status == 200, await resp.text()
    first = (await resp.json())["routes"][0]
    assert [(f["filter"], f["verdict"]) for f in first["filters"]] == [
        ("skip_markers", "ignore"), ("paths", "deploy")]
