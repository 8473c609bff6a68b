"""The status page over real HTTP: sign-in, session cookie, CSRF, pages, filters, live events."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.config import Action, ServerSettings
from relay.deployment import DeploymentStatus, NewDeployment
from relay.gates.holds import ScheduledHold
from relay.gates.rollback import QuarantineEntry
from relay.reports import MessageKind, OutboxMessage
from relay.store.sqlite import SQLiteStore
from relay.typedefs import STORE
from relay.ui.live import LiveFeed
from relay.ui.routes import UI
from tests.factories import ADMIN_HEADERS, ADMIN_TOKEN, API_TOKEN, SECRET, make_settings
from tests.payloads import github_headers, github_push

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


async def sign_in(client: TestClient[Any, Any], token: str = ADMIN_TOKEN,
                  headers: dict[str, str] | None = None) -> Any:
    form = await client.get("/ui/sign-in")
    assert form.status == 200
    csrf = CSRF.search(await form.text())
    assert csrf is not None
    return await client.post("/ui/sign-in", data={"csrf": csrf.group(1), "token": token,
                                                  "next": "/ui/"},
                             allow_redirects=False, headers=headers or {})


async def page_csrf(client: TestClient[Any, Any], path: str = "/ui/") -> str:
    found = CSRF.search(await (await client.get(path)).text())
    assert found is not None
    return found.group(1)


async def push(client: TestClient[Any, Any], repo: str = "acme/shop") -> list[int]:
    body = github_push(repo, "refs/heads/main")
    resp = await client.post("/hooks/github", data=body, headers=github_headers(body))
    assert resp.status == 202
    return [d["id"] for d in (await resp.json())["deployments"]]


async def test_root_redirects_to_the_status_page(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/ui/"


async def test_pages_need_a_session(client: TestClient[Any, Any]) -> None:
    for path in ("/ui/", "/ui/clusters", "/ui/holds", "/ui/deployments/1"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"].startswith("/ui/sign-in?next=")
    resp = await client.get("/ui/events")
    assert resp.status == 401


async def test_a_wrong_token_gets_no_session(client: TestClient[Any, Any]) -> None:
    resp = await sign_in(client, token="not-the-token")
    assert resp.status == 401
    assert "relay_ui_session" not in resp.cookies
    assert (await client.get("/ui/", allow_redirects=False)).status == 303


async def test_sign_in_sets_a_strict_http_only_cookie(client: TestClient[Any, Any]) -> None:
    resp = await sign_in(client)
    assert resp.status == 303
    assert resp.headers["Location"] == "/ui/"
    cookie = resp.cookies["relay_ui_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]  # plain HTTP from an untrusted peer
    assert cookie["path"] == "/ui"
    assert ADMIN_TOKEN not in cookie.value
    page = await client.get("/ui/")
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"


async def test_the_cookie_is_secure_behind_a_trusted_https_proxy(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    server = ServerSettings(max_body_bytes=64 * 1024,
                            trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    app = create_app(make_settings(tmp_path, server=server), run_worker=False,
                     registry=CollectorRegistry())
    client = await aiohttp_client(app)
    resp = await sign_in(client, headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 303
    assert resp.cookies["relay_ui_session"]["secure"] is True


async def test_a_form_without_the_csrf_token_or_cookie_is_refused(
        client: TestClient[Any, Any]) -> None:
    [dep_id] = (await push(client))[:1]
    form = {"reason": "stop", "confirm": "yes"}
    # No cookie at all:
    resp = await client.post(f"/ui/deployments/{dep_id}/cancel", data={**form, "csrf": "00"},
                             allow_redirects=False)
    assert resp.status == 403
    await sign_in(client)
    good = await page_csrf(client)
    for bad in ({}, {"csrf": "0" * 64}, {"csrf": good[:-1] + ("0" if good[-1] != "0" else "1")}):
        resp = await client.post(f"/ui/deployments/{dep_id}/cancel", data={**form, **bad},
                                 allow_redirects=False)
        assert resp.status == 403, bad
    store = client.app[UI].feed._store  # type: ignore[union-attr]
    dep = await store.get_deployment(dep_id)
    assert dep is not None and dep.status is DeploymentStatus.QUEUED
    resp = await client.post(f"/ui/deployments/{dep_id}/cancel", data={**form, "csrf": good},
                             allow_redirects=False)
    assert resp.status == 303
    dep = await store.get_deployment(dep_id)
    assert dep is not None and dep.status is DeploymentStatus.CANCELED
    assert dep.error is not None and "stop" in dep.error


async def test_sign_in_form_needs_its_own_csrf_token(client: TestClient[Any, Any]) -> None:
    await client.get("/ui/sign-in")
    resp = await client.post("/ui/sign-in", data={"token": ADMIN_TOKEN, "csrf": "0" * 64},
                             allow_redirects=False)
    assert resp.status == 403
    assert "relay_ui_session" not in resp.cookies


async def test_a_forged_or_stale_cookie_is_no_session(client: TestClient[Any, Any]) -> None:
    await sign_in(client)
    value = next(c.value for c in client.session.cookie_jar if c.key == "relay_ui_session")
    v, expires, sid, mac = value.split(".")
    client.session.cookie_jar.clear()
    for forged in (f"{v}.{int(expires) + 99}.{sid}.{mac}", f"{v}.{expires}.{sid}.{'0' * 64}",
                   "v1.1.abc.def", "garbage"):
        client.session.cookie_jar.update_cookies({"relay_ui_session": forged})
        resp = await client.get("/ui/", allow_redirects=False)
        assert resp.status == 303, forged


async def test_sign_out_ends_the_session(client: TestClient[Any, Any]) -> None:
    await sign_in(client)
    csrf = await page_csrf(client)
    resp = await client.post("/ui/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert resp.cookies["relay_ui_session"].value == ""
    assert (await client.get("/ui/", allow_redirects=False)).status == 303


async def test_list_shows_deployments_and_never_a_secret(client: TestClient[Any, Any]) -> None:
    ids = await push(client)
    await sign_in(client)
    html = await (await client.get("/ui/")).text()
    for dep_id in ids:
        assert f'id="dep-{dep_id}"' in html
    assert "queued" in html and "acme/shop" in html
    detail = await (await client.get(f"/ui/deployments/{ids[0]}")).text()
    assert "X-GitHub-Delivery" in detail
    assert "Signature" not in detail and "sha256=" not in detail
    assert "https://github.com/acme/shop/commit/" in detail
    for secret in (ADMIN_TOKEN, API_TOKEN, SECRET.decode()):
        assert secret not in html and secret not in detail


async def test_filters_and_pages(client: TestClient[Any, Any]) -> None:
    for _ in range(30):
        await push(client, "acme/shop")
        await push(client, "acme/api")
    await sign_in(client)
    html = await (await client.get("/ui/?repo=acme/api")).text()
    rows = re.findall(r'<tr id="dep-(\d+)"', html)
    assert len(rows) == 30
    html = await (await client.get("/ui/?cluster=10702")).text()
    rows = re.findall(r'<tr id="dep-(\d+)"', html)
    assert len(rows) == 30 and "/ui/?cluster=10702&amp;before=" not in html
    first = await (await client.get("/ui/")).text()
    ids = [int(x) for x in re.findall(r'<tr id="dep-(\d+)"', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    nxt = re.search(r'href="(/ui/\?before=\d+)" rel="next"', first)
    assert nxt is not None
    second = await (await client.get(nxt.group(1))).text()
    more = [int(x) for x in re.findall(r'<tr id="dep-(\d+)"', second)]
    assert more and max(more) < min(ids)
    assert len(ids) + len(more) == 60  # 30 pushes to each repo, one route each
    bad = await client.get("/ui/?status=bogus")
    assert bad.status == 400
    assert "status must be one of" in await bad.text()


async def test_static_files_are_cached_and_revalidated(client: TestClient[Any, Any]) -> None:
    await sign_in(client)
    html = await (await client.get("/ui/")).text()
    href = re.search(r'href="(/ui/static/ui\.css\?v=[0-9a-f]+)"', html)
    assert href is not None
    resp = await client.get(href.group(1))
    assert resp.status == 200
    assert "immutable" in resp.headers["Cache-Control"]
    again = await client.get(href.group(1), headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    assert (await client.get("/ui/static/../app.py")).status == 404


async def test_holds_page_with_nothing_held(client: TestClient[Any, Any]) -> None:
    await sign_in(client)
    html = await (await client.get("/ui/holds")).text()
    assert "No cluster is held." in html and "No version is quarantined." in html
    assert "no deploy gates" not in html
    csrf = await page_csrf(client, "/ui/holds")
    resp = await client.post("/ui/clusters/10702/resume",
                             data={"csrf": csrf, "reason": "x", "confirm": "yes"})
    assert resp.status == 404  # not paused: nothing to resume
    assert "not paused" in await resp.text()


class SteppingClock:
    """A clock that moves 1.5 ms on every reading: two readings never share a millisecond."""

    def __init__(self) -> None:
        self._now = datetime(2026, 11, 29, 14, 28, 11, 849000, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(microseconds=1500)
        return self._now

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def test_a_paused_hour_count_is_exact_whatever_the_clock_does(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    """since and until come from one reading of the clock (a 2-hour pause read 1:59:59.999
    when the two readings straddled a millisecond)."""
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry(),
                     clock=SteppingClock())
    client = await aiohttp_client(app)
    await sign_in(client)
    csrf = await page_csrf(client, "/ui/holds")
    resp = await client.post("/ui/clusters/10702/pause", allow_redirects=False,
                             data={"csrf": csrf, "reason": "freeze", "hours": "2",
                                   "confirm": "yes"})
    assert resp.status == 303
    [pause] = await client.app[STORE].pauses()
    assert pause.since is not None and pause.until is not None
    assert pause.until - pause.since == timedelta(hours=2)


async def test_pause_and_resume_store_the_real_pause(client: TestClient[Any, Any]) -> None:
    store = client.app[STORE]
    await sign_in(client)
    csrf = await page_csrf(client, "/ui/holds")
    no_reason = await client.post("/ui/clusters/10702/pause",
                                  data={"csrf": csrf, "reason": "  ", "confirm": "yes"})
    assert no_reason.status == 400 and await store.pauses() == ()
    resp = await client.post("/ui/clusters/10702/pause", allow_redirects=False,
                             data={"csrf": csrf, "reason": "release freeze", "hours": "2",
                                   "confirm": "yes"})
    assert resp.status == 303
    [pause] = await store.pauses()
    assert (pause.cluster, pause.reason) == (10702, "release freeze")
    assert pause.since is not None and pause.until is not None
    assert pause.until - pause.since == timedelta(hours=2)
    api = await (await client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert [(h["cluster"], h["kind"], h["reason"]) for h in api["active"]] == [
        (10702, "pause", "release freeze")]
    html = await (await client.get("/ui/holds")).text()
    assert "cluster 10702: release freeze" in html
    clusters = await (await client.get("/ui/clusters")).text()
    assert "release freeze" in clusters
    no_confirm = await client.post("/ui/clusters/10702/resume",
                                   data={"csrf": csrf, "reason": "done"})
    assert no_confirm.status == 400 and len(await store.pauses()) == 1
    resp = await client.post("/ui/clusters/10702/resume", allow_redirects=False,
                             data={"csrf": csrf, "reason": "done", "confirm": "yes"})
    assert resp.status == 303
    assert await store.pauses() == ()
    api = await (await client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert api["active"] == []


async def test_scheduled_holds_and_quarantine_are_shown(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    freeze = ScheduledHold(name="weekend", schedule="0 0 * * *", duration_s=3600,
                           clusters=(10702,))
    settings = dataclasses.replace(make_settings(tmp_path), holds=(freeze,))
    app = create_app(settings, run_worker=False, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    await client.app[STORE].add_quarantine(QuarantineEntry(
        cluster=10702, version="ab" * 20, deployment_id=7,
        created_at=datetime(2026, 1, 2, tzinfo=UTC)))
    await sign_in(client)
    html = await (await client.get("/ui/holds")).text()
    assert re.search(r"weekend: from <time[^>]*>[^<]+</time> until <time", html)
    assert "cluster 10702" in html and "quarantined after deployment 7 failed" in html
    assert 'href="/ui/deployments/7"' in html
    clusters = await (await client.get("/ui/clusters")).text()
    assert "abababababab" in clusters


async def test_deployment_page_shows_the_pending_outbox(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    client = await aiohttp_client(app)
    store = client.app[STORE]
    [dep_id, *_] = await push(client)
    await sign_in(client)
    html = await (await client.get(f"/ui/deployments/{dep_id}")).text()
    assert "sent or dropped messages are not kept" in html
    assert "Nothing is waiting for this deployment." in html
    store.outbox_policy = lambda dep, _superseded: (OutboxMessage(
        deployment_id=dep.id, kind=MessageKind.NOTIFICATION, host="notify", target="chat",
        key=None, payload={}),)
    await store.cancel(dep_id, now=datetime.now(UTC), reason="by hand")
    html = await (await client.get(f"/ui/deployments/{dep_id}")).text()
    assert re.search(r"<td>notification</td><td>notify: chat</td><td>0</td>", html), html


async def test_live_events_carry_a_changed_row(client: TestClient[Any, Any]) -> None:
    [dep_id, *_] = await push(client)
    await sign_in(client)
    csrf = await page_csrf(client)
    resp = await client.get("/ui/events")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_row(status: str) -> str:
        event = ""
        while True:
            line = (await resp.content.readline()).decode()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "row" and f'"id": {dep_id},' in line \
                    and f'"status": "{status}"' in line:
                return line

    await asyncio.wait_for(next_row("queued"), 10)
    cancel = await client.post(f"/ui/deployments/{dep_id}/cancel", allow_redirects=False,
                               data={"csrf": csrf, "reason": "r", "confirm": "yes"})
    assert cancel.status == 303
    line = await asyncio.wait_for(next_row("canceled"), 10)
    assert "canceled" in line
    resp.close()


async def test_the_status_page_is_off_without_an_admin_token(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings = dataclasses.replace(settings, admin=dataclasses.replace(settings.admin,
                                                                       token=None))
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    assert (await client.get("/ui/")).status == 404
    assert (await client.get("/ui/sign-in")).status == 404


async def test_a_slow_page_is_told_to_reload_and_pages_are_capped(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "feed.db")
    try:
        feed = LiveFeed(store, max_pending=2, max_subscribers=1)
        async with feed.subscribe() as sub:
            with pytest.raises(OverflowError):
                async with feed.subscribe():
                    pass
            now = datetime.now(UTC)
            for i in range(3):
                await store.enqueue(NewDeployment(cluster=10702, action=Action.VERSION,
                                                  version=f"{i:040x}", manual=True,
                                                  route_index=0), now=now)
            changed = await feed.tick()
            assert len(changed) == 3
            assert sub.overflowed  # 3 changes, room for 2: the page must reload
            assert await feed.tick() == []  # nothing changed since
        assert feed.subscribers == 0
    finally:
        await store.close()


async def test_pages_on_postgres(aiohttp_client: ClientFactory, tmp_path: Path,
                                 postgres_databases: Callable[[], Awaitable[str]]) -> None:
    from relay.store.postgres import PostgresStore

    store = await PostgresStore.open(await postgres_databases(), pool_size=2,
                                     connect_timeout_s=5, query_timeout_s=5)
    try:
        client = await aiohttp_client(create_app(make_settings(tmp_path), run_worker=False,
                                                 registry=CollectorRegistry(), store=store))
        ids = await push(client)
        await sign_in(client)
        for path in ("/ui/", f"/ui/deployments/{ids[0]}", "/ui/clusters", "/ui/holds",
                     "/ui/?status=queued&cluster=10702&repo=acme/shop"):
            resp = await client.get(path)
            assert resp.status == 200, path
            assert f"#{ids[0]}" in await resp.text(), path
    finally:
        await store.close()
