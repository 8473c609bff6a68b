"""Store contract tests: run against every store implementation the machine offers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.deployment import DeploymentStatus, NewDeployment
from relay.rollout import Observation
from relay.store import NewDelivery, Store, StoreError
from relay.store.base import Conflict, LeaseLost, NotFound
from relay.store.postgres import PostgresStore
from relay.store.rows import migrations
from relay.store.sqlite import SQLiteStore

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def delivery(key: str = "abc-1", **overrides: object) -> NewDelivery:
    fields: dict[str, object] = dict(
        delivery_id=f"github-{key}", source="github", delivery_key=key, event="push",
        event_name="push", received_at=NOW, content_type="application/json",
        headers=(("X-GitHub-Event", "push"), ("X-GitHub-Delivery", key)),
        body=b'{"ref": "refs/heads/main"}', repo="acme/shop", ref="refs/heads/main",
        before="a" * 40, after="b" * 40, commit="b" * 40, head_commit_at=NOW,
    )
    fields.update(overrides)
    return NewDelivery(**fields)  # type: ignore[arg-type]


def planned(cluster: int = 10702, version: str = "b" * 40, **kw: object) -> NewDeployment:
    return NewDeployment(cluster=cluster, action="version", version=version, source="github",
                         repo="acme/shop", ref="refs/heads/main", **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                postgres_databases: Callable[[], Awaitable[str]]) -> AsyncIterator[Store]:
    """Every contract test runs on both stores (PostgreSQL: a fresh database per test)."""
    opened: Store
    if request.param == "postgres":
        url = await postgres_databases()
        opened = await PostgresStore.open(url, pool_size=5, connect_timeout_s=5,
                                          query_timeout_s=5)
    else:
        opened = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_accept_stores_delivery_and_its_deployments(store: Store) -> None:
    accepted = await store.accept(delivery(), [planned(10702), planned(10800)])
    assert not accepted.duplicate
    assert accepted.delivery_id == "github-abc-1"
    assert [d.cluster for d in accepted.deployments] == [10702, 10800]
    assert all(d.status is DeploymentStatus.QUEUED for d in accepted.deployments)

    stored = await store.get_delivery("github-abc-1")
    assert stored is not None
    assert stored.delivery.body == b'{"ref": "refs/heads/main"}'
    assert stored.delivery.headers == (("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "abc-1"))
    assert stored.delivery.received_at == NOW
    assert stored.delivery.head_commit_at == NOW
    assert [d.id for d in stored.deployments] == [d.id for d in accepted.deployments]


async def test_duplicate_creates_nothing_and_returns_the_first_deployments(store: Store) -> None:
    first = await store.accept(delivery(), [planned()])
    again = await store.accept(delivery(body=b"other"), [planned(), planned(10800)])
    assert again.duplicate
    assert again.delivery_id == first.delivery_id
    assert [d.id for d in again.deployments] == [d.id for d in first.deployments]
    assert len(await store.list_deployments()) == 1
    stored = await store.get_delivery(first.delivery_id)
    assert stored is not None and stored.delivery.body == b'{"ref": "refs/heads/main"}'


async def test_same_key_from_another_source_is_a_different_delivery(store: Store) -> None:
    await store.accept(delivery(), [planned()])
    other = await store.accept(
        delivery(delivery_id="gitea-abc-1", source="gitea"), [planned()]
    )
    assert not other.duplicate
    assert len(await store.list_deployments()) == 2


async def test_twenty_concurrent_copies_store_one_row(store: Store) -> None:
    results = await asyncio.gather(*(store.accept(delivery(), [planned()]) for _ in range(20)))
    assert sum(not r.duplicate for r in results) == 1
    assert len(await store.list_deployments()) == 1
    ids = {r.deployments[0].id for r in results}
    assert len(ids) == 1


async def test_failed_transaction_leaves_nothing_half_written(store: Store) -> None:
    broken = NewDeployment(cluster=1, action="version", version=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.accept(delivery(), [planned(), broken])
    assert await store.get_delivery("github-abc-1") is None
    assert await store.list_deployments() == ()
    # ...and the store still works afterwards.
    assert not (await store.accept(delivery(), [planned()])).duplicate


async def test_ignored_delivery_is_stored_without_deployments(store: Store) -> None:
    await store.accept(delivery("ping-1", event="ping", ignored="ping", repo=None), [])
    again = await store.accept(delivery("ping-1", event="ping", ignored="ping"), [])
    assert again.duplicate and again.deployments == ()
    stored = await store.get_delivery("github-ping-1")
    assert stored is not None and stored.delivery.ignored == "ping"


async def test_list_filters_newest_first_and_limits(store: Store) -> None:
    for i in range(5):
        await store.accept(delivery(f"k{i}"), [planned(10702 if i % 2 else 10800)])
    all_deps = await store.list_deployments()
    assert [d.id for d in all_deps] == sorted((d.id for d in all_deps), reverse=True)
    assert {d.cluster for d in await store.list_deployments(cluster=10702)} == {10702}
    assert len(await store.list_deployments(cluster=10702)) == 2
    assert len(await store.list_deployments(limit=3)) == 3
    assert await store.list_deployments(status=DeploymentStatus.SUCCEEDED) == ()
    summary = await store.queue_summary()
    assert summary.counts == {DeploymentStatus.QUEUED: 5}
    assert summary.oldest_queued_at == NOW


async def test_enqueue_manual_deployment(store: Store) -> None:
    later = NOW + timedelta(minutes=5)
    dep = await store.enqueue(planned(manual=True), now=later)
    assert dep.manual and dep.delivery_id is None and dep.created_at == later
    assert await store.get_deployment(dep.id) == dep
    assert await store.get_deployment(dep.id + 1000) is None


async def test_data_survives_reopen_and_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    first = await SQLiteStore.open(path)
    await first.accept(delivery(), [planned()])
    await first.close()
    second = await SQLiteStore.open(path)
    try:
        assert (await second.get_delivery("github-abc-1")) is not None
    finally:
        await second.close()
    conn = sqlite3.connect(path)
    try:
        applied = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(version,) for version, _ in migrations("sqlite")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


async def test_sqlite_runs_with_full_sync(sqlite_store: SQLiteStore) -> None:
    conn = sqlite_store._db()
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


async def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "relay.db")
    await store.close()
    with pytest.raises(StoreError):
        await store.ping()


async def test_unwritable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        await SQLiteStore.open(blocker / "relay.db")


# -- the worker's side: claims, leases, fencing -------------------------------------------

SNAP = Observation(status="create_succ", replicas=2, container_ids=("a", "b"), version="old")


async def test_claim_runs_newest_and_supersedes_older(store: Store) -> None:
    for i in range(3):
        await store.accept(delivery(f"k{i}", received_at=NOW + timedelta(seconds=i)),
                           [planned(version=f"v{i}")])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None and not claim.resumed
    assert claim.deployment.version == "v2"
    assert claim.deployment.status is DeploymentStatus.TRIGGERING
    assert [d.status for d in claim.superseded] == [DeploymentStatus.SUPERSEDED] * 2
    assert {d.superseded_by for d in claim.superseded} == {claim.deployment.id}
    # one at a time per cluster: nothing else to claim while it is active
    assert await store.claim(owner="w2", now=NOW, lease_s=30) is None


async def test_clusters_are_claimed_independently(store: Store) -> None:
    await store.accept(delivery("k1"), [planned(10702), planned(10800)])
    first = await store.claim(owner="w1", now=NOW, lease_s=30)
    second = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert first and second
    assert {first.deployment.cluster, second.deployment.cluster} == {10702, 10800}


async def test_the_triggering_mark_carries_the_first_attempts_snapshot(store: Store) -> None:
    """One write before a first trigger: the attempt's start and the cluster as seen before
    it; a resumed claim gets both back. A later attempt marks its start only."""
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None and claim.snapshot is None
    await store.mark_triggering(claim.deployment.id, fence=claim.fence, now=NOW, snapshot=SNAP)
    taken = await store.claim(owner="w2", now=NOW + timedelta(seconds=31), lease_s=30)
    assert taken is not None and taken.resumed and taken.snapshot == SNAP
    assert taken.deployment.trigger_started_at == NOW
    later = NOW + timedelta(seconds=40)
    await store.mark_triggering(taken.deployment.id, fence=taken.fence, now=later)
    again = await store.claim(owner="w3", now=later + timedelta(seconds=31), lease_s=30)
    assert again is not None and again.snapshot == SNAP
    assert again.deployment.trigger_started_at == later
    with pytest.raises(LeaseLost):
        await store.mark_triggering(claim.deployment.id, fence=claim.fence, now=later,
                                    snapshot=SNAP)


async def test_expired_lease_is_resumed_with_snapshot_and_old_fence_is_refused(
    store: Store,
) -> None:
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    await store.save_snapshot(claim.deployment.id, fence=claim.fence, snapshot=SNAP)
    await store.mark_rolling_out(claim.deployment.id, fence=claim.fence, triggered_at=NOW)
    assert await store.claim(owner="w2", now=NOW + timedelta(seconds=10), lease_s=30) is None
    taken = await store.claim(owner="w2", now=NOW + timedelta(seconds=31), lease_s=30)
    assert taken is not None and taken.resumed
    assert taken.deployment.status is DeploymentStatus.ROLLING_OUT
    assert taken.snapshot == SNAP and taken.fence > claim.fence
    with pytest.raises(LeaseLost):
        await store.finish(claim.deployment.id, fence=claim.fence,
                           status=DeploymentStatus.FAILED, now=NOW)
    with pytest.raises(LeaseLost):
        await store.renew(claim.deployment.id, fence=claim.fence, now=NOW, lease_s=30)
    done = await store.finish(taken.deployment.id, fence=taken.fence,
                              status=DeploymentStatus.SUCCEEDED, now=NOW + timedelta(seconds=40))
    assert done.status is DeploymentStatus.SUCCEEDED and done.triggered_at == NOW


async def test_renew_keeps_the_lease(store: Store) -> None:
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    await store.renew(claim.deployment.id, fence=claim.fence, now=NOW + timedelta(seconds=25),
                      lease_s=30)
    assert await store.claim(owner="w2", now=NOW + timedelta(seconds=40), lease_s=30) is None


async def test_released_lease_is_resumed_at_once(store: Store) -> None:
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    await store.release(claim.deployment.id, fence=claim.fence)
    again = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert again is not None and again.resumed and again.snapshot is None


async def test_next_queued_runs_after_finish(store: Store) -> None:
    await store.accept(delivery("k1"), [planned(version="v1")])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    await store.accept(delivery("k2"), [planned(version="v2")])
    assert await store.claim(owner="w1", now=NOW, lease_s=30) is None
    await store.finish(claim.deployment.id, fence=claim.fence,
                       status=DeploymentStatus.SUCCEEDED, now=NOW)
    nxt = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert nxt is not None and nxt.deployment.version == "v2"


async def test_history_lists_triggered_deployments(store: Store) -> None:
    await store.accept(delivery("k1"), [planned(version="v1", before="v0", head_commit_at=NOW)])
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    empty = await store.history(10702)
    assert empty.deployed_befores == frozenset() and empty.last_head_commit_at is None
    await store.mark_rolling_out(claim.deployment.id, fence=claim.fence, triggered_at=NOW)
    history = await store.history(10702)
    assert history.deployed_befores == frozenset({"v0"})
    assert history.last_head_commit_at == NOW


# -- cancel ---------------------------------------------------------------------------------


async def test_cancel_ends_a_queued_deployment_and_it_is_never_claimed(store: Store) -> None:
    accepted = await store.accept(delivery(), [planned()])
    [dep] = accepted.deployments
    canceled = await store.cancel(dep.id, now=NOW, reason="by hand")
    assert canceled.status is DeploymentStatus.CANCELED
    assert canceled.error == "by hand" and canceled.finished_at == NOW
    assert await store.claim(owner="w", now=NOW, lease_s=30) is None
    with pytest.raises(Conflict) as refused:
        await store.cancel(dep.id, now=NOW, reason="again")
    assert refused.value.deployment.status is DeploymentStatus.CANCELED
    with pytest.raises(NotFound):
        await store.cancel(dep.id + 1000, now=NOW, reason="nobody")


async def test_cancel_moves_the_fence_of_a_running_deployment(store: Store) -> None:
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w", now=NOW, lease_s=30)
    assert claim is not None
    await store.mark_rolling_out(claim.deployment.id, fence=claim.fence, triggered_at=NOW)
    await store.cancel(claim.deployment.id, now=NOW, reason="by hand")
    with pytest.raises(LeaseLost):
        await store.renew(claim.deployment.id, fence=claim.fence, now=NOW, lease_s=30)
    with pytest.raises(LeaseLost):
        await store.finish(claim.deployment.id, fence=claim.fence,
                           status=DeploymentStatus.SUCCEEDED, now=NOW)
    stored = await store.get_deployment(claim.deployment.id)
    assert stored is not None and stored.status is DeploymentStatus.CANCELED
    # The cluster is free again: a new push for it can be claimed.
    await store.accept(delivery("abc-2"), [planned(version="c" * 40)])
    assert await store.claim(owner="w", now=NOW, lease_s=30) is not None


async def test_forced_is_stored_with_the_deployment(store: Store) -> None:
    accepted = await store.accept(delivery(), [planned(forced=True)])
    [dep] = accepted.deployments
    assert dep.forced
    stored = await store.get_deployment(dep.id)
    assert stored is not None and stored.forced


async def test_ready_probes_a_write(store: Store) -> None:
    await store.ready()
    await store.ready()  # the probe row is rewritten, not added


async def test_last_successes_per_cluster(store: Store) -> None:
    assert await store.last_successes() == {}
    await store.accept(delivery(), [planned()])
    claim = await store.claim(owner="w", now=NOW, lease_s=30)
    assert claim is not None
    later = NOW + timedelta(minutes=3)
    await store.finish(claim.deployment.id, fence=claim.fence,
                       status=DeploymentStatus.SUCCEEDED, now=later)
    assert await store.last_successes() == {10702: later}
