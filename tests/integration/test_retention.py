"""Retention on both stores: what a prune removes, what it must keep, and that the ordering
rules read the same history after it (relay.retention, relay.store.*_retention)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.deployment import DeploymentStatus, NewDeployment
from relay.metrics import Metrics
from relay.retention import prune
from relay.settings import RetentionSettings
from relay.store import NewDelivery, Store
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEEP = RetentionSettings(deliveries_days=30, deployments_days=30)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def delivery(key: str, at: datetime, sha: str = "b" * 40, *, before: str = "a" * 40,
             event: str = "push") -> NewDelivery:
    return NewDelivery(
        delivery_id=f"github-{key}", source="github", delivery_key=key, event=event,
        event_name=event, received_at=at, content_type="application/json",
        headers=(("X-GitHub-Delivery", key),), body=b"x" * 2000, repo="acme/shop",
        ref="refs/heads/main", before=before, after=sha, commit=sha, head_commit_at=at)


def planned(sha: str, before: str, cluster: int = 7) -> NewDeployment:
    return NewDeployment(cluster=cluster, action="version", version=sha, source="github",
                         repo="acme/shop", ref="refs/heads/main", before=before)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                postgres_databases: Callable[[], Awaitable[str]]) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "postgres":
        opened = await PostgresStore.open(await postgres_databases(), pool_size=3)
    else:
        opened = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


async def push(store: Store, key: str, at: datetime, sha: str, before: str,
               final: DeploymentStatus | None) -> int:
    """Store a push of `sha` at `at`; run its deployment to `final` (None: leave it queued)."""
    accepted = await store.accept(delivery(key, at, sha, before=before), [planned(sha, before)])
    dep = accepted.deployments[0]
    if final is None:
        return dep.id
    claim = await store.claim(owner="t", now=at, lease_s=60)
    assert claim is not None and claim.deployment.id == dep.id
    await store.mark_rolling_out(dep.id, fence=claim.fence, triggered_at=at)
    await store.finish(dep.id, fence=claim.fence, status=final, now=at + timedelta(minutes=1))
    return dep.id


async def history_rows(store: Store) -> tuple[object, ...]:
    h = await store.history(7)
    return (h.last_version, h.last_head_commit_at)


async def test_prune_removes_old_rows_and_keeps_what_ordering_needs(store: Store) -> None:
    old_ok = await push(store, "1", days_ago(60), "1" * 40, "0" * 40, DeploymentStatus.SUCCEEDED)
    newest_ok = await push(store, "2", days_ago(50), "2" * 40, "1" * 40,
                           DeploymentStatus.SUCCEEDED)
    newest_triggered = await push(store, "3", days_ago(45), "3" * 40, "2" * 40,
                                  DeploymentStatus.FAILED)
    still_queued = await push(store, "4", days_ago(40), "4" * 40, "3" * 40, None)
    recent = await push(store, "5", days_ago(1), "5" * 40, "4" * 40, None)
    await store.accept(delivery("ping", days_ago(59), event="ping"), [])
    await store.accept(delivery("ping-new", days_ago(2), event="ping"), [])
    before = await history_rows(store)

    dry = await prune(store, KEEP, NOW, dry_run=True)
    assert (dry.deliveries, dry.deployments) == (1, 1)  # the ping; the old success
    assert await store.get_deployment(old_ok) is not None  # a dry run removes nothing

    metrics = Metrics(process=False)
    report = await prune(store, KEEP, NOW, batch=1, metrics=metrics)
    assert (report.deployments, report.deliveries) == (1, 2)  # the push of old_ok goes too
    assert await store.get_deployment(old_ok) is None
    assert await store.get_delivery("github-1") is None
    assert await store.get_delivery("github-ping") is None
    for kept in (newest_ok, newest_triggered, still_queued, recent):
        assert await store.get_deployment(kept) is not None
    assert await store.get_delivery("github-ping-new") is not None
    assert await history_rows(store) == before
    assert metrics.store_pruned.labels(kind="deliveries")._value.get() == 2

    again = await prune(store, KEEP, NOW)
    assert (again.deliveries, again.deployments) == (0, 0)


async def test_prune_never_removes_an_open_deployment(store: Store) -> None:
    queued = await push(store, "1", days_ago(400), "1" * 40, "0" * 40, None)
    await prune(store, RetentionSettings(1, 1), NOW)
    assert await store.get_deployment(queued) is not None
    assert await store.get_delivery("github-1") is not None


async def test_prune_keeps_what_an_unsent_outbox_message_names(tmp_path: Path) -> None:
    """An outbox row not yet delivered keeps the deployment it names."""
    store = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        await push(store, "1", days_ago(90), "1" * 40, "0" * 40, DeploymentStatus.SUCCEEDED)
        old = await push(store, "2", days_ago(80), "2" * 40, "1" * 40, DeploymentStatus.SKIPPED)
        await push(store, "3", days_ago(70), "3" * 40, "2" * 40, DeploymentStatus.SUCCEEDED)
        conn = sqlite3.connect(tmp_path / "relay.db")
        conn.execute("INSERT INTO outbox (deployment_id, kind, host, target, payload, "
                     "created_at, next_attempt_at) VALUES (?, 'commit_status', 'github', "
                     "'relay/10702', '{}', 0, 0)", (old,))  # unsent: rows go when delivered
        conn.commit()
        conn.close()
        report = await prune(store, KEEP, NOW)
        assert report.deployments == 1  # the first success only
        assert await store.get_deployment(old) is not None
    finally:
        await store.close()


async def test_sqlite_gives_the_space_back(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SQLiteStore.open(path)
    try:
        for i in range(300):
            await store.accept(delivery(f"p{i}", days_ago(40), event="ping"), [])
        full = path.stat().st_size
        report = await prune(store, KEEP, NOW, batch=50)
        assert report.deliveries == 300
        await store.ready()  # a write, so the WAL is checkpointed into the file in time
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        assert path.stat().st_size < full / 2
    finally:
        await store.close()
