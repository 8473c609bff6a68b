"""Catch-up over loopback: relay's reconciler against relay.fakegit's GitHub, a real SQLite
file (and PostgreSQL for the lease), the cluster API simulator and relay's worker."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from relay.deployment import Deployment, DeploymentKind
from relay.events import Source
from relay.fakegit import FakeHost, GitFaults, api_url, create_fake_git_app
from relay.metrics import Metrics
from relay.reconcile import Reconciler, git_hosts
from relay.secret import Secret
from relay.settings import GitApiSettings, ReconcileSettings, Settings
from relay.store import Store
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SQLiteStore
from relay.typedefs import RECONCILER, WORKER
from tests.factories import make_settings, routes
from tests.harness import Factory
from tests.payloads import github_headers, github_push

GIT_TOKEN = "fake-git-token-0123456789"
A, B, C = "a" * 40, "b" * 40, "c" * 40
INTERVAL = 300


class GateClock:
    """The real clock, except that a long sleep (the reconciler's, retention's) waits until
    the test calls `tick`: polls happen when the test says."""

    def __init__(self) -> None:
        self.ticks = asyncio.Condition()
        self.generation = 0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        import time
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds < 60:
            await asyncio.sleep(seconds)
            return
        async with self.ticks:
            seen = self.generation
            await self.ticks.wait_for(lambda: self.generation > seen)

    async def tick(self) -> None:
        async with self.ticks:
            self.generation += 1
            self.ticks.notify_all()


@pytest.fixture
async def fake_git() -> AsyncIterator[tuple[FakeHost, str]]:
    host = FakeHost("github", faults=GitFaults())
    host.add_repo("acme/shop", branches={"main": A})
    host.add_repo("acme/api", branches={"main": C})
    server = TestServer(create_fake_git_app({Source.GITHUB: GIT_TOKEN},
                                            hosts={Source.GITHUB: host}))
    await server.start_server()
    try:
        yield host, api_url(str(server.make_url("")).rstrip("/"), Source.GITHUB, prefix="")
    finally:
        await server.close()


def with_api(settings: Settings, url: str, interval: int = INTERVAL) -> Settings:
    github = settings.sources[Source.GITHUB]
    api = GitApiSettings(url=url, token=Secret(GIT_TOKEN, "RELAY_GITHUB_API_TOKEN"))
    sources = dict(settings.sources)
    sources[Source.GITHUB] = dataclasses.replace(github, api=api)
    return dataclasses.replace(settings, sources=sources,
                               reconcile=ReconcileSettings(interval_s=interval))


async def test_a_push_missed_while_relay_was_down_is_caught_up(
        harness: Factory, tmp_path: Path, fake_git: tuple[FakeHost, str]) -> None:
    host, url = fake_git
    # relay runs, catch-up off: the push to A arrives as a delivery and deploys.
    first = await harness(run_background=False)
    [dep_a] = await first.push(before="0" * 40 + "", after=A)
    assert (await first.final(dep_a)).status.value == "succeeded"
    await first.client.close()

    # relay is down; main moves to B; GitHub's delivery fails and is never sent again.
    host.set_branch("acme/shop", "main", B)

    # relay starts again, catch-up on (the same store file).
    finished: dict[str, Deployment] = {}
    done = asyncio.Event()

    def listener(dep: Deployment) -> None:
        if dep.delivery_id == f"github-catchup-{B}":
            finished["b"] = dep
            done.set()

    h = await harness(clock=GateClock(), run_background=True, listeners=[listener],
                      adjust=lambda settings: with_api(settings, url))
    await asyncio.wait_for(done.wait(), 15)  # the poll at start: well within one interval
    caught = await h.store.get_delivery(f"github-catchup-{B}")
    assert caught is not None and caught.delivery.event == "catch_up"
    assert caught.delivery.before == A  # the branch's last known head
    [dep_b] = caught.deployments
    final = finished["b"]
    assert final.status.value == "succeeded" and final.version == B
    assert final.delivery_id == f"github-catchup-{B}"
    assert final.kind is DeploymentKind.CATCH_UP  # labelled catch_up (admin API, UI, CLI)
    assert h.puts(10702)[-1]["version_control"]["version"] == B
    missed = h.registry.get_sample_value("relay_missed_pushes_total", {"source": "github"})
    assert missed == 2  # B on acme/shop, and acme/api's head, which no delivery ever brought

    # The real delivery of the same push arrives late: 200 duplicate, no second deployment.
    body = github_push(before=A, after=B)
    resp = await h.client.post("/hooks/github", data=body, headers=github_headers(body))
    assert resp.status == 200
    answer = await resp.json()
    assert answer["duplicate"] is True
    assert [d["id"] for d in answer["deployments"]] == [dep_b.id]
    assert len(await h.store.list_deployments(cluster=10702)) == 2  # A's and B's

    # The next poll reads the same head: a 304, nothing stored.
    report = await h.client.app[RECONCILER].poll()
    assert report.polled and report.read == 2 and report.not_modified == 2  # both heads
    assert report.caught_up == 0
    assert h.client.app[WORKER] is not None


async def test_a_head_a_delivery_brought_is_not_caught_up(
        harness: Factory, tmp_path: Path, fake_git: tuple[FakeHost, str]) -> None:
    _, url = fake_git
    h = await harness(clock=GateClock(), run_background=False,
                      adjust=lambda settings: with_api(settings, url))
    [dep] = await h.push(before="0" * 40, after=A)
    await h.final(dep)
    settings = with_api(make_settings(tmp_path, routes=routes()), url)
    async with aiohttp.ClientSession() as session:
        reconciler = Reconciler(h.store, settings, GateClock(), Metrics(process=False),
                                git_hosts(settings, session, "http://unused"),
                                wake=lambda _: None)
        report = await reconciler.poll()
    assert (report.read, report.caught_up) == (2, 1)  # acme/api's head only
    assert await h.store.get_delivery(f"github-catchup-{A}") is None
    assert await h.store.get_delivery(f"github-catchup-{C}") is not None


@pytest.fixture(params=["sqlite", "postgres"])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path,
                     postgres_databases: Callable[[], Awaitable[str]]
                     ) -> AsyncIterator[tuple[Store, Store]]:
    """Two replicas' stores on one database (SQLite: two connections to one file)."""
    stores: list[Store] = []
    if request.param == "postgres":
        url = await postgres_databases()
        stores = [await PostgresStore.open(url, pool_size=2) for _ in range(2)]
    else:
        stores = [await SQLiteStore.open(tmp_path / "relay.db") for _ in range(2)]
    try:
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()


class SteppedClock(GateClock):
    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.at = start

    def now(self) -> datetime:
        return self.at


async def test_two_replicas_poll_once_per_interval(
        two_stores: tuple[Store, Store], tmp_path: Path,
        fake_git: tuple[FakeHost, str]) -> None:
    host, url = fake_git
    settings = with_api(make_settings(tmp_path, routes=routes()), url)
    clock = SteppedClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    async with aiohttp.ClientSession() as session:
        replicas = [Reconciler(store, settings, clock, Metrics(process=False),
                               git_hosts(settings, session, "http://unused"),
                               wake=lambda _: None, owner=f"r{i}")
                    for i, store in enumerate(two_stores)]
        polled = []
        for step in range(4):  # four intervals, both replicas try in each, a second apart
            clock.at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC) + timedelta(
                seconds=step * INTERVAL)
            for replica in (replicas[step % 2], replicas[(step + 1) % 2]):
                polled.append((await replica.poll()).polled)
                clock.at += timedelta(seconds=1)
        assert polled.count(True) == 4  # once per interval, whichever replica came first
        assert polled == [True, False] * 4
    assert host.repos["acme/shop"].branches["main"] == A


async def test_a_rate_limit_postpones_the_next_poll(
        tmp_path: Path, fake_git: tuple[FakeHost, str]) -> None:
    host, url = fake_git
    host.faults.add("error:branch:429:retry-after=900")
    settings = with_api(make_settings(tmp_path, routes=routes()), url)
    store = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        async with aiohttp.ClientSession() as session:
            from relay.githost import RetryPolicy, client_for
            hosts = {"github": client_for(
                Source.GITHUB, session, url, settings.sources[Source.GITHUB].api.token,  # type: ignore[union-attr]
                retry=RetryPolicy.no_wait(attempts=1))}
            reconciler = Reconciler(store, settings, GateClock(), Metrics(process=False), hosts,
                                    wake=lambda _: None, rng=lambda: 0.0)
            report = await reconciler.poll()
        assert report.retry_after == 900
        assert reconciler.next_wait(report) == 900
        assert reconciler.next_wait(dataclasses.replace(report, retry_after=None)) == INTERVAL
    finally:
        await store.close()


async def test_a_head_moved_backwards_is_not_deployed_silently(
        tmp_path: Path, fake_git: tuple[FakeHost, str]) -> None:
    """Back to a commit a delivery brought: nothing stored (logged). To a commit relay never
    saw: a catch_up delivery whose `before` is the head it left, so the older-commit rules
    of a push apply to it."""
    host, url = fake_git
    settings = with_api(make_settings(tmp_path, routes=routes()), url)
    store = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        body_a = (A, "0" * 40)
        from relay.ingest import catch_up as plan
        first = plan(Source.GITHUB, "acme/shop", "main", before=body_a[1], sha=A,
                     routes=settings.routes, now=datetime.now(UTC))
        await store.accept(dataclasses.replace(first.record, delivery_id="github-real-a",
                                               delivery_key="real-a", event="push"),
                           first.deployments)
        host.set_branch("acme/shop", "main", B)
        async with aiohttp.ClientSession() as session:
            reconciler = Reconciler(store, settings, GateClock(), Metrics(process=False),
                                    git_hosts(settings, session, "http://unused"),
                                    wake=lambda _: None)
            assert (await reconciler.poll()).caught_up == 2  # B here, C on acme/api
            host.set_branch("acme/shop", "main", A)  # back to a delivered commit
            report = await reconciler.poll()
            assert (report.caught_up, report.not_modified) == (0, 1)
            assert await store.get_delivery(f"github-catchup-{A}") is None
            older = "d" * 40
            host.set_branch("acme/shop", "main", older)  # to a commit never seen
            assert (await reconciler.poll()).caught_up == 1
        stored = await store.get_delivery(f"github-catchup-{older}")
        assert stored is not None and stored.delivery.before == A
        assert [d.before for d in stored.deployments] == [A]
    finally:
        await store.close()
