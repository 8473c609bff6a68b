"""The admin API of CONTRACT section 4: auth, listing, manual deployments, redelivery, explain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.config import AdminSettings
from tests.factories import ADMIN_HEADERS, make_settings
from tests.payloads import github_headers, github_ping, github_push, sha

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


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
