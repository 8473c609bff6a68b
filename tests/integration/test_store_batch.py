"""Group commit (relay/store/sqlite_batch.py): many deliveries per transaction, each one safe."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relay.deployment import NewDeployment
from relay.store import StoreError
from relay.store.sqlite import SQLiteStore
from relay.store.sqlite_batch import GroupCommit
from tests.integration.test_store import delivery, planned


def rows(store: SQLiteStore, table: str) -> int:
    conn = sqlite3.connect(store.path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


async def test_concurrent_deliveries_share_one_transaction(sqlite_store: SQLiteStore) -> None:
    results = await asyncio.gather(
        *(sqlite_store.accept(delivery(f"k{i}"), [planned()]) for i in range(50)))
    assert [r.delivery_id for r in results] == [f"github-k{i}" for i in range(50)]
    assert not any(r.duplicate for r in results)
    assert sqlite_store._accepts.batches == 1
    # Committed: another connection (another process, after a crash) sees every row.
    assert rows(sqlite_store, "deliveries") == 50
    assert rows(sqlite_store, "deployments") == 50


async def test_a_lone_delivery_is_written_at_once(sqlite_store: SQLiteStore) -> None:
    first = await sqlite_store.accept(delivery("a"), [planned()])
    second = await sqlite_store.accept(delivery("b"), [planned()])
    assert sqlite_store._accepts.batches == 2
    assert first.deployments[0].id < second.deployments[0].id


async def test_duplicates_within_one_batch_are_detected(sqlite_store: SQLiteStore) -> None:
    results = await asyncio.gather(
        sqlite_store.accept(delivery("same"), [planned(10702)]),
        sqlite_store.accept(delivery("other"), [planned(10800)]),
        sqlite_store.accept(delivery("same", body=b"changed"), [planned(10702), planned(1)]),
    )
    assert sqlite_store._accepts.batches == 1
    assert [r.duplicate for r in results] == [False, False, True]
    assert results[2].deployments == results[0].deployments
    assert rows(sqlite_store, "deliveries") == 2
    assert rows(sqlite_store, "deployments") == 2


async def test_a_failing_delivery_rolls_back_alone(sqlite_store: SQLiteStore) -> None:
    broken = NewDeployment(cluster=1, action="version", version=None)  # type: ignore[arg-type]
    results = await asyncio.gather(
        sqlite_store.accept(delivery("before"), [planned()]),
        sqlite_store.accept(delivery("bad"), [planned(), broken]),
        sqlite_store.accept(delivery("after"), [planned()]),
        return_exceptions=True,
    )
    assert sqlite_store._accepts.batches == 1
    assert isinstance(results[1], StoreError)
    assert "NOT NULL" in str(results[1])
    assert not isinstance(results[0], BaseException) and not results[0].duplicate
    assert not isinstance(results[2], BaseException) and not results[2].duplicate
    # Nothing of the failed delivery is half-written: neither its row nor its first deployment.
    assert await sqlite_store.get_delivery("github-bad") is None
    assert rows(sqlite_store, "deployments") == 2
    # ...and it can be delivered again.
    assert not (await sqlite_store.accept(delivery("bad"), [planned()])).duplicate


async def test_a_failed_commit_fails_every_caller_and_writes_nothing(
    sqlite_store: SQLiteStore,
) -> None:
    group = GroupCommit(sqlite_store._run, sqlite_store._db, label="test")

    def orphan(conn: sqlite3.Connection) -> None:
        # A foreign key checked only at COMMIT: the whole transaction fails there.
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO deployments (cluster, action, version, delivery_id, status, "
                     "created_at) VALUES (1, 'version', 'v', 'github-nowhere', 'queued', 'x')")

    def good(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO deployments (cluster, action, version, status, created_at) "
                     "VALUES (2, 'version', 'v', 'queued', 'x')")
        return "written"

    results = await asyncio.gather(group.submit(good), group.submit(orphan),
                                   return_exceptions=True)
    assert group.batches == 1
    assert all(isinstance(r, StoreError) for r in results), results
    assert rows(sqlite_store, "deployments") == 0
    assert await group.submit(good) == "written"


async def test_a_caller_that_gave_up_is_not_written(sqlite_store: SQLiteStore) -> None:
    gone = asyncio.create_task(sqlite_store.accept(delivery("gone"), [planned()]))
    kept = asyncio.create_task(sqlite_store.accept(delivery("kept"), [planned()]))
    await asyncio.sleep(0)  # both are queued; the writer has not run yet
    gone.cancel()
    assert not (await kept).duplicate
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await sqlite_store.get_delivery("github-gone") is None
    assert rows(sqlite_store, "deliveries") == 1


async def test_batches_are_bounded(sqlite_store: SQLiteStore) -> None:
    group = GroupCommit(sqlite_store._run, sqlite_store._db, label="test", max_batch=4)
    results = await asyncio.gather(*(group.submit(lambda c, i=i: i) for i in range(10)))
    assert results == list(range(10))
    assert group.batches == 3


async def _yield_until(ready: Callable[[], bool]) -> None:
    """Let the event loop run until `ready()` (bounded): the tasks it waits for only need
    their turn on the loop, no time."""
    for _ in range(100):
        if ready():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_the_next_batch_starts_as_soon_as_the_running_one_commits(
    sqlite_store: SQLiteStore,
) -> None:
    """While a batch is written the next one waits on the store's thread, in the ingest lane:
    a worker write queued meanwhile runs after it, not in between (sqlite_batch.py)."""
    thread = sqlite_store._thread
    group = GroupCommit(functools.partial(sqlite_store._run, first=True), sqlite_store._db,
                        label="test")
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def held(conn: sqlite3.Connection) -> str:
        started.set()
        release.wait(10)
        order.append("a")
        return "a"

    def write(name: str) -> Callable[[sqlite3.Connection], str]:
        def fn(conn: sqlite3.Connection) -> str:
            order.append(name)
            return name
        return fn

    first = asyncio.create_task(group.submit(held))
    try:
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        following = [asyncio.create_task(group.submit(write(n))) for n in ("b", "c")]
        await _yield_until(lambda: len(thread._first) == 1)  # the next batch waits its turn
        worker: asyncio.Task[Any] = asyncio.create_task(
            sqlite_store._run(order.append, "worker"))
        await _yield_until(lambda: len(thread._then) == 1)
    finally:
        release.set()
    assert await asyncio.gather(first, *following) == ["a", "b", "c"]
    await worker
    assert order == ["a", "b", "c", "worker"]
    assert group.batches == 2


async def test_a_job_cancelled_before_it_ran_leaves_no_caller_behind(
    sqlite_store: SQLiteStore,
) -> None:
    """Shutdown cancels a job's task before it reached the store's thread: its caller is
    cancelled, and the next submit gets a job of its own (nothing waits for a dead job)."""
    group = GroupCommit(functools.partial(sqlite_store._run, first=True), sqlite_store._db,
                        label="test")
    first = asyncio.create_task(group.submit(lambda c: "a"))
    await _yield_until(lambda: bool(group._jobs))  # its job's task exists, has not run yet
    for job in list(group._jobs):
        job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first, 5)  # not TimeoutError: the caller is not left waiting
    assert await asyncio.wait_for(group.submit(lambda c: "b"), 5) == "b"
    assert group.batches == 1


async def test_a_transaction_that_answers_for_fewer_items_fails_them_all(
    sqlite_store: SQLiteStore,
) -> None:
    def short(connection: Callable[[], sqlite3.Connection], items: list[Any]) -> list[Any]:
        return items[:-1]

    group: GroupCommit[str] = GroupCommit(sqlite_store._run, sqlite_store._db, label="test",
                                          transaction=short)
    results = await asyncio.wait_for(
        asyncio.gather(group.submit("x"), group.submit("y"), return_exceptions=True), 5)
    assert [str(r) for r in results] == ["1 outcomes for 2 items"] * 2
    # The group goes on: the next batch is written as usual.
    group._transaction = lambda connection, items: items
    assert await asyncio.wait_for(group.submit("z"), 5) == "z"


async def test_what_max_batch_leaves_over_is_queued_while_the_batch_is_written(
    sqlite_store: SQLiteStore,
) -> None:
    thread = sqlite_store._thread
    group = GroupCommit(functools.partial(sqlite_store._run, first=True), sqlite_store._db,
                        label="test", max_batch=3)
    started, release = threading.Event(), threading.Event()

    def held(conn: sqlite3.Connection) -> int:
        started.set()
        release.wait(10)
        return 0

    calls = [group.submit(held), *(group.submit(lambda c, i=i: i) for i in range(1, 7))]
    tasks = [asyncio.create_task(c) for c in calls]
    try:
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        await _yield_until(lambda: len(thread._first) == 1)  # the leftovers' job waits
    finally:
        release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 5) == list(range(7))
    assert group.batches == 3
    await asyncio.wait_for(asyncio.gather(*group._jobs), 5)  # the tasks end after the answers
    assert not group._queue and not group._job_waiting


async def test_closed_store_answers_store_error(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "relay.db")
    await store.close()
    with pytest.raises(StoreError):
        await store.accept(delivery(), [planned()])
