"""The outbox sender over a real store (SQLite file, PostgreSQL) and the git-host fakes on a
loopback server, driven one claim at a time with a controlled clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from relay.deployment import NewDeployment
from relay.events import Source
from relay.githost import RetryPolicy, client_for
from relay.metrics import Metrics
from relay.outbox_sender import OutboxSender, SenderSettings, report_policy, store_policy
from relay.secret import Secret
from relay.settings import Action, GitApiSettings, Settings
from relay.store import open_store
from relay.store.base import Store
from tests.factories import make_settings
from tests.integration.reports_rig import GIT_TOKEN, GitRig, git_rig

__all__ = ["git_rig"]
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def settings_with_api(tmp_path: Any) -> Settings:
    base = make_settings(tmp_path)
    conf = base.sources[Source.GITHUB]
    github = dataclasses.replace(conf, api=GitApiSettings("https://x.invalid", Secret(GIT_TOKEN)))
    return dataclasses.replace(base, sources={Source.GITHUB: github})


def policy_for(tmp_path: Any) -> Any:
    return store_policy(report_policy(settings_with_api(tmp_path)))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def sender_for(store: Store, rig: GitRig, session: aiohttp.ClientSession, clock: Clock,
               metrics: Metrics, owner: str = "a") -> OutboxSender:
    client = client_for(Source.GITHUB, session, rig.urls()[Source.GITHUB], Secret(GIT_TOKEN),
                        retry=RetryPolicy.no_wait(attempts=1), request_timeout_s=2)
    return OutboxSender(store, {Source.GITHUB: client}, metrics,  # type: ignore[arg-type]
                        owner=owner, max_age_s=3600, clock=clock,
                        settings=SenderSettings(batch=10, backoff_initial_s=1,
                                                backoff_max_s=10, retry_after_max_s=60))


def new_deployment(n: int) -> NewDeployment:
    return NewDeployment(cluster=10702, action=Action.VERSION, version=f"{n:040x}",
                         source=Source.GITHUB, repo="acme/shop", ref="refs/heads/main")


async def test_a_403_rate_limit_with_retry_after_makes_relay_wait(
        tmp_path: Any, git_rig: GitRig, session: aiohttp.ClientSession) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    try:
        store.outbox_policy = policy_for(tmp_path)  # type: ignore[attr-defined]
        clock = Clock()
        sender = sender_for(store, git_rig, session, clock, Metrics(process=False))
        host = git_rig.hosts[Source.GITHUB]
        host.faults.add("error:commit_status:403:retry-after=7:count=1")
        await store.enqueue(new_deployment(1), now=datetime.fromtimestamp(T0, UTC))
        clock.t += 3  # the queued `pending` has settled
        await sender.run_once()
        assert host.requests == 1 and not host.statuses  # the rate-limited answer
        for step in (1, 2, 3, 6.5):
            clock.t = T0 + 3 + step
            await sender.run_once()
            assert host.requests == 1, f"called again {step} s after a 7 s Retry-After"
        clock.t = T0 + 3 + 7.5
        await sender.run_once()
        assert [s.state for s in host.statuses] == ["pending"]
    finally:
        await store.close()


async def test_a_newer_state_of_the_same_commit_replaces_an_older_pending_one(
        tmp_path: Any, git_rig: GitRig, session: aiohttp.ClientSession) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'relay.db'}")
    try:
        store.outbox_policy = policy_for(tmp_path)  # type: ignore[attr-defined]
        clock = Clock()
        metrics = Metrics(process=False)
        sender = sender_for(store, git_rig, session, clock, metrics)
        dep = await store.enqueue(new_deployment(2), now=datetime.fromtimestamp(T0, UTC))
        await store.cancel(dep.id, now=datetime.fromtimestamp(T0 + 1, UTC), reason="by hand")
        clock.t += 1
        await sender.run_once()
        host = git_rig.hosts[Source.GITHUB]
        assert [(s.state, s.description) for s in host.statuses] == [
            ("error", "canceled by hand")]
        assert metrics.registry.get_sample_value("relay_reports_total", {
            "host": "github", "kind": "commit_status", "outcome": "dropped"}) == 1
    finally:
        await store.close()


async def test_three_replicas_on_postgresql_send_each_message_once(
        postgres_url: str, tmp_path: Any, git_rig: GitRig,
        session: aiohttp.ClientSession) -> None:
    stores = [await open_store(postgres_url, pool_size=4) for _ in range(3)]
    try:
        policy = store_policy(report_policy(settings_with_api(tmp_path)))
        for s in stores:
            s.outbox_policy = policy  # type: ignore[attr-defined]
        clock = Clock()
        for n in range(60):
            dep = await stores[n % 3].enqueue(new_deployment(100 + n),
                                              now=datetime.fromtimestamp(T0, UTC))
            await stores[n % 3].cancel(dep.id, now=datetime.fromtimestamp(T0, UTC),
                                       reason="by hand")
        clock.t += 1
        senders = [sender_for(s, git_rig, session, clock, Metrics(process=False), owner=str(i))
                   for i, s in enumerate(stores)]

        async def drain(sender: OutboxSender) -> None:
            while await sender.run_once():
                pass

        await asyncio.gather(*(drain(s) for s in senders))
        host = git_rig.hosts[Source.GITHUB]
        shas = [s.sha for s in host.statuses]
        assert len(shas) == 60 and len(set(shas)) == 60  # each exactly once
        assert await stores[0].outbox_pending() == 0  # type: ignore[attr-defined]
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_outbox_for_lists_what_is_still_pending_and_forgets_what_is_sent(
        engine: str, postgres_databases: Any, tmp_path: Any, git_rig: GitRig,
        session: aiohttp.ClientSession) -> None:
    url = (f"sqlite:///{tmp_path / 'relay.db'}" if engine == "sqlite"
           else await postgres_databases())
    store = await open_store(url)
    try:
        store.outbox_policy = policy_for(tmp_path)  # type: ignore[attr-defined]
        clock = Clock()
        sender = sender_for(store, git_rig, session, clock, Metrics(process=False))
        git_rig.hosts[Source.GITHUB].faults.add("error:commit_status:503:count=1")
        dep = await store.enqueue(new_deployment(7), now=datetime.fromtimestamp(T0, UTC))
        [queued] = await store.outbox_for(dep.id)
        assert (queued.kind.value, queued.host, queued.attempts, queued.leased_until) == (
            "commit_status", "github", 0, None)
        assert queued.created_at == datetime.fromtimestamp(T0, UTC)
        assert await store.outbox_for(dep.id + 1000) == ()
        clock.t += 3
        await sender.run_once()  # the host answers 503: tried again later
        [retried] = await store.outbox_for(dep.id)
        assert retried.id == queued.id and retried.attempts == 1
        assert retried.next_attempt_at > datetime.fromtimestamp(clock.t, UTC)
        assert retried.leased_until is None
        clock.t += 60
        await sender.run_once()
        assert git_rig.hosts[Source.GITHUB].statuses
        assert await store.outbox_for(dep.id) == ()  # sent: the row is gone
    finally:
        await store.close()
