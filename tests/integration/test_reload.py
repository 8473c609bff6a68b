"""SIGHUP's reload: new routes, secrets and admin token take effect; a bad file changes nothing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from relay.app import create_app, reload_settings
from relay.config import Action, ConfigError, ConfigProblem, Route, ServerSettings, Settings
from relay.events import Source
from relay.gates.filters import RouteFilters
from relay.secret import Secret
from relay.settings import AdminSettings, SourceSettings
from relay.typedefs import LIVE
from tests.factories import ADMIN_TOKEN, make_settings
from tests.payloads import SECRET, github_headers, github_push

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
NEW_SECRET = b"rotated-secret"
NEW_ADMIN = "new-admin-token"


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


def rotated(settings: Settings) -> Settings:
    """The same file with a new GitHub secret, a new admin token and one more route."""
    extra = Route(index=len(settings.routes), repo="acme/web", branch="main", tag=None,
                  cluster=10900, action=Action.VERSION)
    sources = {**settings.sources, Source.GITHUB: SourceSettings(
        Source.GITHUB, (Secret(NEW_SECRET.decode(), "RELAY_GITHUB_SECRET"),))}
    return dataclasses.replace(
        settings, sources=sources, routes=(*settings.routes, extra),
        admin=AdminSettings(token=Secret(NEW_ADMIN, "RELAY_ADMIN_TOKEN")))


async def post(client: TestClient[Any, Any], body: bytes, secret: bytes) -> int:
    resp = await client.post("/hooks/github", data=body,
                             headers=github_headers(body, secret=secret))
    return resp.status


async def test_a_reload_puts_new_secrets_routes_and_admin_token_in_force(
        client: TestClient[Any, Any]) -> None:
    body = github_push("acme/web", after="a" * 40)
    assert await post(client, body, NEW_SECRET) == 401  # before: the new secret is unknown
    done = reload_settings(client.app, lambda: rotated(client.app[LIVE].current))
    assert done is not None and set(done.applied) == {"sources", "admin", "routes"}
    assert done.needs_restart == ()
    assert await post(client, body, NEW_SECRET) == 202  # the new route matched acme/web
    assert await post(client, github_push(after="b" * 40), SECRET) == 401  # old secret gone
    old = await client.get("/api/deployments",
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    new = await client.get("/api/deployments", headers={"Authorization": f"Bearer {NEW_ADMIN}"})
    assert (old.status, new.status) == (401, 200)


async def test_an_invalid_file_changes_nothing_and_logs_every_problem(
        client: TestClient[Any, Any]) -> None:
    def broken() -> Settings:
        raise ConfigError([ConfigProblem("routes[0].branch", "write branch: main"),
                           ConfigProblem("sources.github.secret_env", "is not set")])

    with capture_logs() as logs:
        assert reload_settings(client.app, broken) is None
    refused = [e for e in logs if e["event"] == "configuration reload refused"]
    assert [e["log_level"] for e in refused] == ["error", "error"]
    assert "routes[0].branch" in refused[0]["problem"]
    assert await post(client, github_push(after="c" * 40), SECRET) == 202  # still in force


async def test_sections_that_need_a_restart_are_named_and_kept(
        client: TestClient[Any, Any]) -> None:
    before = client.app[LIVE].current
    moved = dataclasses.replace(before, server=ServerSettings(port=9999))
    with capture_logs() as logs:
        done = reload_settings(client.app, lambda: moved)
    assert done is not None and done.needs_restart == ("server",) and done.applied == ()
    assert client.app[LIVE].current.server == before.server  # the listener did not move
    [warning] = [e for e in logs if e["log_level"] == "warning"]
    assert warning["sections"] == ["server"]


async def ui_sign_in(client: TestClient[Any, Any], token: str) -> int:
    client.session.cookie_jar.clear()
    form = await (await client.get("/ui/sign-in")).text()
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None, form
    answer = await client.post("/ui/sign-in", allow_redirects=False,
                               data={"csrf": found.group(1), "token": token, "next": "/ui/"})
    return answer.status


async def test_the_status_page_signs_in_with_the_admin_token_in_force(
        client: TestClient[Any, Any]) -> None:
    assert await ui_sign_in(client, ADMIN_TOKEN) == 303
    session = client.session.cookie_jar.filter_cookies(client.make_url("/ui/"))
    reload_settings(client.app, lambda: rotated(client.app[LIVE].current))
    assert await ui_sign_in(client, ADMIN_TOKEN) == 401  # the old token no longer signs in
    client.session.cookie_jar.update_cookies(session)  # a session of the old token ends too
    assert (await client.get("/ui/", allow_redirects=False)).status == 303
    assert await ui_sign_in(client, NEW_ADMIN) == 303


def test_catch_up_polls_the_routes_in_force(tmp_path: Path) -> None:
    from relay.clock import SystemClock
    from relay.live import LiveSettings
    from relay.metrics import Metrics
    from relay.reconcile import Reconciler

    settings = make_settings(tmp_path)
    live = LiveSettings(settings)
    hosts: Any = {"github": None}  # targets need only the sources' names
    store: Any = None  # nothing is polled here
    reconciler = Reconciler(store, settings, SystemClock(), Metrics(CollectorRegistry()), hosts,
                            wake=lambda clusters: None, live=live)
    assert {(t.repo, t.branch) for t in reconciler.targets} == {("acme/shop", "main"),
                                                                ("acme/api", "main")}
    live.reload(dataclasses.replace(settings, routes=settings.routes[:1]))
    assert {(t.repo, t.branch) for t in reconciler.targets} == {("acme/shop", "main")}


async def test_a_reload_adding_the_first_path_filter_applies_to_the_next_delivery(
        client: TestClient[Any, Any]) -> None:
    """`reads_file_lists` follows the routes: no restart is asked for, and the next docs-only
    push meets the new `paths_ignore` (its file lists read)."""
    live = client.app[LIVE].current
    assert not live.reads_file_lists
    first = dataclasses.replace(live.routes[0], filters=RouteFilters(paths_ignore=("docs/**",)))
    done = reload_settings(client.app, lambda: dataclasses.replace(
        live, routes=(first, *live.routes[1:])))
    assert done is not None and done.applied == ("routes",) and done.needs_restart == ()
    assert client.app[LIVE].current.reads_file_lists
    after = "d" * 40
    body = github_push(after=after, extra={"commits": [
        {"id": after, "message": "Docs", "timestamp": "2026-11-29T10:00:00Z",
         "added": ["docs/a.md"], "modified": [], "removed": []}]})
    resp = await client.post("/hooks/github", data=body, headers=github_headers(body))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ignored"].startswith("routes[0] paths: all of the 1 changed")
