"""PostgresStore beyond the shared contract: several stores on one database, as replicas are.

The contract tests of tests/test_store.py run on PostgreSQL too; these check what only
several processes sharing one server can get wrong: claims, the one-active index, wake-ups,
migrations run at once, and an unreachable or stuck database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg
import pytest

from relay.deployment import DeploymentStatus
from relay.store import StoreError, open_store
from relay.store.base import Claim, LeaseLost
from relay.store.postgres import PostgresStore, mask_url
from relay.store.postgres_queue import CLUSTER_LOCK, cluster_key
from relay.store.rows import migrations
from tests.integration.test_store import NOW, delivery, planned

Opener = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def open_pg(postgres_url: str) -> AsyncIterator[Opener]:
    """Open any number of stores on one fresh database; all closed afterwards."""
    opened: list[PostgresStore] = []

    async def opener(**kw: object) -> PostgresStore:
        options: dict[str, object] = dict(pool_size=5, connect_timeout_s=5, query_timeout_s=5)
        options.update(kw)
        store = await PostgresStore.open(postgres_url, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield opener
    await asyncio.gather(*(s.close() for s in opened))


@pytest.fixture
async def admin(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test database, to look at it or to get in the way."""
    conn = await asyncpg.connect(postgres_url, timeout=5)
    yield conn
    await conn.close()


async def test_open_store_selects_postgres_for_both_schemes(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = await open_store(url, pool_size=2)
        try:
            assert isinstance(store, PostgresStore)
            await store.ping()
        finally:
            await store.close()


async def test_copies_sent_to_three_replicas_at_once_store_one_delivery(
    open_pg: Opener,
) -> None:
    stores = [await open_pg() for _ in range(3)]
    results = await asyncio.gather(*(stores[i % 3].accept(delivery(), [planned()])
                                     for i in range(21)))
    assert sum(not r.duplicate for r in results) == 1
    assert {r.deployments[0].id for r in results} == {results[0].deployments[0].id}
    assert len(await stores[0].list_deployments()) == 1


# -- claims from several replicas ---------------------------------------------------------


async def test_concurrent_claims_from_two_stores_never_share_a_cluster(open_pg: Opener) -> None:
    one, two = await open_pg(), await open_pg()
    clusters = list(range(20001, 20013))
    for i in range(3):  # three queued per cluster: one runs, two are superseded
        await one.accept(delivery(f"k{i}", received_at=NOW + timedelta(seconds=i)),
                         [planned(c, version=f"v{i}-{c}") for c in clusters])

    async def claim_all(store: PostgresStore, owner: str) -> list[Claim]:
        got = []
        while (c := await store.claim(owner=owner, now=NOW, lease_s=30)) is not None:
            got.append(c)
        return got

    results = await asyncio.gather(*(claim_all(s, f"w{i}") for i, s in
                                     enumerate([one, two, one, two])))
    claims = [c for got in results for c in got]
    assert sorted(c.deployment.cluster for c in claims) == clusters  # each exactly once
    assert all(c.deployment.version.startswith("v2-") for c in claims)  # the newest
    assert (await one.queue_summary()).counts == {DeploymentStatus.TRIGGERING: 12}
    assert len(await one.list_deployments(status=DeploymentStatus.SUPERSEDED)) == 24
    # Both replicas got work: SKIP LOCKED and try-locks let them pass each other.
    assert len({c.deployment.id for c in claims}) == 12


async def test_concurrent_resumes_of_expired_leases_never_share_a_deployment(
    open_pg: Opener,
) -> None:
    one, two = await open_pg(), await open_pg()
    await one.accept(delivery(), [planned(c) for c in range(30001, 30009)])
    first = [await one.claim(owner="dead", now=NOW, lease_s=1) for _ in range(8)]
    assert all(first)
    later = NOW + timedelta(seconds=5)
    taken = await asyncio.gather(*(s.claim(owner=f"w{i}", now=later, lease_s=30)
                                   for i, s in enumerate([one, two] * 6)))
    resumed = [c for c in taken if c is not None]
    assert len(resumed) == 8 and all(c.resumed for c in resumed)
    assert len({c.deployment.id for c in resumed}) == 8


async def test_cluster_being_started_elsewhere_is_skipped_not_waited_for(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    store = await open_pg()
    await store.accept(delivery(), [planned(10702), planned(10800)])
    async with admin.transaction():  # another replica in the middle of starting 10702
        await admin.execute("SELECT pg_advisory_xact_lock($1, $2)",
                            CLUSTER_LOCK, cluster_key(10702))
        claim = await asyncio.wait_for(store.claim(owner="w1", now=NOW, lease_s=30), 2)
        assert claim is not None and claim.deployment.cluster == 10800
        assert await store.claim(owner="w1", now=NOW, lease_s=30) is None
    claim = await store.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None and claim.deployment.cluster == 10702


async def test_database_refuses_a_second_active_deployment_of_a_cluster(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    store = await open_pg()
    accepted = await store.accept(delivery(), [planned(10702), planned(10702, version="c")])
    first, second = (d.id for d in accepted.deployments)
    await admin.execute("UPDATE deployments SET status = 'triggering' WHERE id = $1", first)
    with pytest.raises(asyncpg.UniqueViolationError):
        await admin.execute("UPDATE deployments SET status = 'rolling_out' WHERE id = $1",
                            second)


async def test_lost_lease_cannot_overwrite_the_new_owners_state(open_pg: Opener) -> None:
    one, two = await open_pg(), await open_pg()
    await one.accept(delivery(), [planned()])
    old = await one.claim(owner="w1", now=NOW, lease_s=1)
    assert old is not None
    new = await two.claim(owner="w2", now=NOW + timedelta(seconds=2), lease_s=30)
    assert new is not None and new.resumed and new.fence > old.fence
    await two.mark_rolling_out(new.deployment.id, fence=new.fence, triggered_at=NOW)
    with pytest.raises(LeaseLost):
        await one.finish(old.deployment.id, fence=old.fence, status=DeploymentStatus.FAILED,
                         now=NOW)
    dep = await two.get_deployment(new.deployment.id)
    assert dep is not None and dep.status is DeploymentStatus.ROLLING_OUT


# -- wake-ups -----------------------------------------------------------------------------


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    async def next(self, within: float = 5.0) -> None:
        await asyncio.wait_for(self.event.wait(), within)
        self.event.clear()


async def test_work_stored_on_one_replica_wakes_the_others(open_pg: Opener) -> None:
    listening, writing = await open_pg(), await open_pg()
    wakes = Wakes()
    unsubscribe = await listening.subscribe(wakes)
    await wakes.next()  # the wake-up every (re)connection gives
    await writing.accept(delivery(), [planned()])
    await wakes.next()
    await writing.enqueue(planned(manual=True), now=NOW)
    await wakes.next()
    claim = await writing.claim(owner="w1", now=NOW, lease_s=30)
    assert claim is not None
    await writing.release(claim.deployment.id, fence=claim.fence)  # shutdown: resume elsewhere
    await wakes.next()
    unsubscribe()


async def test_listener_reconnects_when_its_connection_drops(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    listening, writing = await open_pg(), await open_pg()
    wakes = Wakes()
    await listening.subscribe(wakes)
    await wakes.next()
    killed = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'relay-listen'")
    assert killed == 1
    await wakes.next()  # reconnected (and woke, in case something was missed meanwhile)
    await writing.accept(delivery(), [planned()])
    await wakes.next()


# -- migrations ---------------------------------------------------------------------------


async def test_replicas_starting_together_migrate_once(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    stores = await asyncio.gather(*(open_pg(pool_size=2) for _ in range(5)))
    await stores[0].accept(delivery(), [planned()])
    again = await open_pg()
    assert (await again.get_delivery("github-abc-1")) is not None
    rows = await admin.fetch("SELECT version FROM schema_migrations")
    assert sorted(r["version"] for r in rows) == [v for v, _ in migrations("postgres")]
    index = await admin.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'deployments_one_active_per_cluster'")
    assert "UNIQUE" in index and "triggering" in index


# -- an unreachable, stuck or closed database ---------------------------------------------


async def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    url = "postgresql://relay:s3cret-pw@127.0.0.1:1/relay"
    with pytest.raises(StoreError) as raised:
        await PostgresStore.open(url, connect_timeout_s=2)
    assert "s3cret-pw" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value)
    assert mask_url(url) == "postgresql://relay:***@127.0.0.1:1/relay"
    assert "s3cret-pw" not in repr(PostgresStore(url))


async def test_stuck_query_times_out_as_a_store_error_and_the_store_recovers(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    store = await open_pg(query_timeout_s=0.3)
    async with admin.transaction():
        await admin.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreError, match="did not answer in time"):
            await store.accept(delivery(), [planned()])
    accepted = await store.accept(delivery(), [planned()])
    assert not accepted.duplicate


async def test_store_survives_its_connections_being_killed(
    open_pg: Opener, admin: asyncpg.Connection,
) -> None:
    store = await open_pg()
    await store.ping()
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'relay'")
    for _ in range(50):  # a call may meet a dying connection; the pool replaces it
        try:
            await store.ping()
            break
        except StoreError:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the store did not recover")
    assert not (await store.accept(delivery(), [planned()])).duplicate


async def test_closed_store_raises_store_error(open_pg: Opener) -> None:
    store = await open_pg()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.ping()
