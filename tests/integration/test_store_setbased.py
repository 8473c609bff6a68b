"""Set-based writes (issue 17): a batch of deliveries, a claim over a burst, the store thread.

The set-based paths must give exactly what the per-item paths gave: the same rows, the same
values handed back, the same answers to duplicates and failures (tests/integration/
test_store_batch.py holds those), only in fewer statements.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from relay.deployment import DeploymentKind, DeploymentStatus, NewDeployment
from relay.reports import MessageKind, OutboxMessage, Policy
from relay.store import Store, sqlite_accept
from relay.store.sqlite import SQLiteStore
from tests.integration.test_store import NOW, delivery, planned
from tests.integration.test_store import store as store  # noqa: F401 - both stores

PLUS_TWO = timezone(timedelta(hours=2))

# Every field a new deployment carries, in the shapes that a round trip through the columns
# could change: offsets and microseconds of times, enums, flags, optional values.
VARIANTS = [
    planned(),
    planned(10800, "c" * 40, before="b" * 40, head_commit_at=datetime(
        2026, 11, 26, 14, 0, 1, 123456, tzinfo=PLUS_TWO), forced=True, route_index=3),
    planned(1, "d" * 40, manual=True, kind=DeploymentKind.MANUAL,
            override_reason="hotfix, approved by ops"),
    planned(2, "e" * 40, manual=True),  # kind left to the default
    planned(3, "f" * 40, status=DeploymentStatus.HELD, needs_compare=True),
    planned(4, "a" * 40, status=DeploymentStatus.WAITING_CHECKS, kind=DeploymentKind.CATCH_UP),
    NewDeployment(cluster=5, action="hook", version="1" * 40),  # type: ignore[arg-type]
]


def count_savepoints(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the items written the per-item way (each in a SAVEPOINT)."""
    calls: list[int] = []
    real = sqlite_accept.in_savepoint

    def counting(conn: sqlite3.Connection, fn: Any) -> Any:
        calls.append(1)
        return real(conn, fn)

    monkeypatch.setattr(sqlite_accept, "in_savepoint", counting)
    return calls


async def test_a_batch_hands_back_what_reading_the_rows_gives(
        sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    per_item = count_savepoints(monkeypatch)
    received = datetime(2026, 11, 26, 12, 0, 0, 987654, tzinfo=UTC)  # microseconds: cut to ms
    results = await asyncio.gather(*(
        sqlite_store.accept(delivery(f"v{i}", received_at=received), [dep, planned(99)])
        for i, dep in enumerate(VARIANTS)))
    assert per_item == []  # the set-based path wrote it
    assert sqlite_store._accepts.batches == 1
    for i, accepted in enumerate(results):
        stored = await sqlite_store.get_delivery(f"github-v{i}")
        assert stored is not None
        assert accepted.deployments == stored.deployments
        assert [d.to_json() for d in accepted.deployments] == [
            d.to_json() for d in stored.deployments]


async def test_a_batch_with_a_duplicate_is_written_item_by_item(
        sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first = await sqlite_store.accept(delivery("seen"), [planned()])
    per_item = count_savepoints(monkeypatch)
    results = await asyncio.gather(
        sqlite_store.accept(delivery("new"), [planned(10800)]),
        sqlite_store.accept(delivery("seen"), [planned()]),
    )
    assert len(per_item) == 2
    assert [r.duplicate for r in results] == [False, True]
    assert results[1].deployments == first.deployments


async def test_ids_are_never_reused_after_the_newest_row_was_deleted(
        sqlite_store: SQLiteStore) -> None:
    first = await sqlite_store.accept(delivery("a"), [planned(), planned(2)])
    conn = sqlite3.connect(sqlite_store.path)
    with conn:
        conn.execute("DELETE FROM deployments WHERE id = ?", (first.deployments[1].id,))
    conn.close()
    second = await sqlite_store.accept(delivery("b"), [planned(3)])
    assert second.deployments[0].id == first.deployments[1].id + 1


async def test_a_catch_up_twin_in_a_batch_deploys_once(sqlite_store: SQLiteStore) -> None:
    caught = await sqlite_store.accept(delivery("cu", event="catch_up"), [planned()])
    real, other = await asyncio.gather(
        sqlite_store.accept(delivery("real"), [planned()]),
        sqlite_store.accept(delivery("other", after="c" * 40, ref="refs/heads/dev"),
                            [planned(7)]))
    assert real.deployments == caught.deployments  # the real one found its twin
    assert not other.duplicate and other.deployments[0].cluster == 7
    assert len(await sqlite_store.list_deployments()) == 2


def _report_everything(dep: Any, superseded: tuple[Any, ...]) -> tuple[OutboxMessage, ...]:
    return tuple(OutboxMessage(deployment_id=d.id, kind=MessageKind.COMMIT_STATUS,
                               host="github", target=f"{d.id}:{d.status.value}", key=None,
                               payload={}) for d in (dep, *superseded))


async def test_a_claim_over_a_thousand_queued_pushes_is_one_claim(store: Store) -> None:
    policy: Policy = _report_everything  # type: ignore[assignment]
    store.outbox_policy = policy  # type: ignore[attr-defined]
    await asyncio.gather(*(
        store.accept(delivery(f"k{i}", received_at=NOW + timedelta(milliseconds=i)),
                     [planned(version=f"{i:040x}", head_commit_at=NOW)])
        for i in range(1000)))
    claim = await store.claim(owner="w", now=NOW + timedelta(seconds=5), lease_s=30)
    assert claim is not None
    # The newest received runs (PostgreSQL commits concurrent accepts in any id order).
    newest = max(await store.list_deployments(limit=2000),
                 key=lambda d: (d.created_at, d.id)).id
    assert claim.deployment.id == newest
    assert len(claim.superseded) == 999
    assert all(d.status is DeploymentStatus.SUPERSEDED and d.superseded_by == newest
               for d in claim.superseded)
    for old in (claim.superseded[0], claim.superseded[-1]):  # as stored, not read back
        assert old == await store.get_deployment(old.id)
    assert await store.claim(owner="w", now=NOW + timedelta(seconds=5), lease_s=30) is None
    queued = await store.list_deployments(status=DeploymentStatus.QUEUED)
    assert queued == ()
    # The outbox got one message per status change, the superseded ones included.
    pending = await store.outbox_pending()
    assert pending == 1000 + 1000  # 1000 queued at accept, 999 superseded + 1 triggering


async def test_a_final_status_reports_what_it_superseded(sqlite_store: SQLiteStore) -> None:
    seen: list[tuple[int, tuple[int, ...]]] = []

    def policy(dep: Any, superseded: tuple[Any, ...]) -> tuple[OutboxMessage, ...]:
        seen.append((dep.id, tuple(d.id for d in superseded)))
        return ()

    await asyncio.gather(*(sqlite_store.accept(
        delivery(f"k{i}", received_at=NOW + timedelta(milliseconds=i)),
        [planned(version=f"{i:040x}", head_commit_at=NOW)]) for i in range(3)))
    sqlite_store.outbox_policy = policy  # type: ignore[assignment]
    claim = await sqlite_store.claim(owner="w", now=NOW, lease_s=30)
    assert claim is not None
    seen.clear()
    await sqlite_store.finish(claim.deployment.id, fence=claim.fence,
                              status=DeploymentStatus.SUCCEEDED, now=NOW)
    assert seen == [(claim.deployment.id, tuple(d.id for d in claim.superseded))]


async def test_an_item_that_fails_outside_sqlite_fails_alone(
        sqlite_store: SQLiteStore) -> None:
    """The set-based path falls back item by item for any item's error, not only SQLite's
    (here the outbox policy raises for one cluster): the others are stored and answered."""
    def policy(dep: Any, superseded: tuple[Any, ...]) -> tuple[OutboxMessage, ...]:
        if dep.cluster == 999:
            raise ValueError("this policy cannot report cluster 999")
        return ()

    sqlite_store.outbox_policy = policy  # type: ignore[assignment]
    results = await asyncio.gather(
        sqlite_store.accept(delivery("a"), [planned(1)]),
        sqlite_store.accept(delivery("b"), [planned(999)]),
        sqlite_store.accept(delivery("c"), [planned(2)]),
        return_exceptions=True)
    assert sqlite_store._accepts.batches == 1
    assert isinstance(results[1], ValueError)
    assert [type(r).__name__ for r in (results[0], results[2])] == ["Accepted", "Accepted"]
    assert await sqlite_store.get_delivery("github-b") is None
    assert len(await sqlite_store.list_deployments()) == 2


async def test_the_superseded_lookup_uses_its_index(sqlite_store: SQLiteStore) -> None:
    """migration 006's partial index serves the outbox's lookup of superseded rows, also for
    several final statuses at once (the planner preferred the status index without `+`)."""
    conn = sqlite3.connect(sqlite_store.path)
    try:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM deployments WHERE superseded_by IN (?, ?, ?) "
            "AND +status = 'superseded'", (1, 2, 3)).fetchall()
    finally:
        conn.close()
    assert "deployments_by_superseded_by" in " ".join(str(row) for row in plan)


async def test_a_claims_history_read_uses_its_index(sqlite_store: SQLiteStore) -> None:
    """The history a claim reads is an index range (migration 006), not a pass over every
    row the cluster ever queued."""
    from relay.store.rows import HISTORY_COLUMNS, HISTORY_ORDER, HISTORY_WHERE

    conn = sqlite3.connect(sqlite_store.path)
    try:
        plan = conn.execute(
            f"EXPLAIN QUERY PLAN SELECT {HISTORY_COLUMNS} FROM deployments WHERE cluster = ? "
            f"AND {HISTORY_WHERE} {HISTORY_ORDER} LIMIT ?", (1, 200)).fetchall()
    finally:
        conn.close()
    text = " ".join(str(row) for row in plan)
    assert "deployments_history" in text and "TEMP B-TREE" not in text


async def test_a_plain_batch_is_four_statements(sqlite_store: SQLiteStore) -> None:
    """BEGIN, one INSERT per table (the deliveries' one also finds what is stored already),
    COMMIT: each statement gives up the GIL and waits to take it back, so their number is a
    cost."""
    await sqlite_store.accept(delivery("warm"), [planned()])  # the connection is open
    # Not twins, so not reasons to leave the set-based path: a head a real push stored
    # before (a re-push), and a head catch-up stored for another repository.
    await sqlite_store.accept(delivery("real-1", after="1" * 40), [planned()])
    await sqlite_store.accept(delivery("cu-other", event="catch_up", repo="acme/other",
                                       after="2" * 40), [])
    statements: list[str] = []
    conn = sqlite_store._db()
    conn.set_trace_callback(statements.append)
    try:
        results = await asyncio.gather(*(
            sqlite_store.accept(delivery(f"s{i}", after=f"{i + 1}" * 40), [planned(), planned(9)])
            for i in range(5)))
    finally:
        conn.set_trace_callback(None)
    assert [s.split()[0] for s in statements] == ["BEGIN", "INSERT", "INSERT", "COMMIT"], \
        statements
    ids = [d.id for r in results for d in r.deployments]
    assert ids == list(range(ids[0], ids[0] + 10))


async def test_the_deliveries_insert_seeks_the_catch_up_heads(sqlite_store: SQLiteStore) -> None:
    """The twin check inside the deliveries' INSERT is an index seek per row
    (deliveries_by_head), not a pass over every delivery stored."""
    await sqlite_store.accept(delivery("warm"), [planned()])
    statements: list[str] = []
    conn = sqlite_store._db()
    conn.set_trace_callback(statements.append)
    try:
        await asyncio.gather(*(sqlite_store.accept(delivery(f"h{i}", after=f"{i:040d}"),
                                                   [planned()]) for i in range(2)))
    finally:
        conn.set_trace_callback(None)
    insert = next(s for s in statements if s.startswith("INSERT INTO deliveries"))
    reader = sqlite3.connect(sqlite_store.path)
    try:
        plan = " ".join(str(row) for row in reader.execute(f"EXPLAIN QUERY PLAN {insert}"))
    finally:
        reader.close()
    assert "deliveries_by_head" in plan, plan
    assert "SCAN d " not in plan + " " and "SCAN deliveries" not in plan, plan


async def test_a_stored_twin_or_key_sends_the_batch_the_per_item_way(
        sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the INSERT finds stored (a key: the UNIQUE constraint; a catch-up head: the
    NOT EXISTS) rolls the set-based try back; every item then gets its per-item answer."""
    first = await sqlite_store.accept(delivery("seen"), [planned()])
    caught = await sqlite_store.accept(delivery("cu2", event="catch_up", after="7" * 40),
                                       [planned(2, "7" * 40)])
    per_item = count_savepoints(monkeypatch)
    again = await asyncio.gather(
        sqlite_store.accept(delivery("n1", after="1" * 40), [planned(3, "1" * 40)]),
        sqlite_store.accept(delivery("seen"), [planned()]))
    assert len(per_item) == 2
    assert [r.duplicate for r in again] == [False, True]
    assert again[1].deployments == first.deployments
    per_item.clear()
    twin = await asyncio.gather(
        sqlite_store.accept(delivery("n2", after="2" * 40), [planned(4, "2" * 40)]),
        sqlite_store.accept(delivery("real", after="7" * 40), [planned(2, "7" * 40)]))
    assert len(per_item) == 2
    assert twin[0].duplicate is False and len(twin[0].deployments) == 1
    assert twin[1].duplicate is True and twin[1].deployments == caught.deployments
    stored = await sqlite_store.get_delivery("github-real")
    assert stored is not None and stored.delivery.ignored is not None


async def test_a_left_out_delivery_without_deployments_is_still_stored(
        sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ignored push makes no deployment, so only the INSERT's row count tells that the
    NOT EXISTS left it out (its head is one catch-up stored): the per-item way stores it."""
    await sqlite_store.accept(delivery("cu3", event="catch_up", after="8" * 40), [])
    per_item = count_savepoints(monkeypatch)
    done = await asyncio.gather(
        sqlite_store.accept(delivery("n3", after="3" * 40), [planned(5, "3" * 40)]),
        sqlite_store.accept(delivery("ign", after="8" * 40, ignored="branch not routed"), []))
    assert len(per_item) == 2
    assert [r.duplicate for r in done] == [False, False]
    for key in ("n3", "ign"):
        assert await sqlite_store.get_delivery(f"github-{key}") is not None, key


async def test_a_low_parameter_limit_splits_statements_and_keeps_the_answers(
        sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A library that binds few parameters per statement: several INSERT statements, the
    duplicate in a later one still found, ids still those of the rows."""
    first = await sqlite_store.accept(delivery("old-9"), [planned()])
    conn = sqlite_store._db()
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)  # 2 deliveries per INSERT
    per_item = count_savepoints(monkeypatch)
    fresh = await asyncio.gather(*(
        sqlite_store.accept(delivery(f"low-{i}", after=f"{i + 1:040d}"), [planned(i + 1)])
        for i in range(7)))
    assert per_item == []
    for i, accepted in enumerate(fresh):
        stored = await sqlite_store.get_delivery(f"github-low-{i}")
        assert stored is not None and accepted.deployments == stored.deployments
    again = await asyncio.gather(*(
        sqlite_store.accept(delivery(key, after=f"{n:040d}"), [planned(n)])
        for n, key in enumerate(["x-1", "x-2", "x-3", "x-4", "x-5", "x-6", "old-9"], 50)))
    assert [r.duplicate for r in again] == [False] * 6 + [True]
    assert again[-1].deployments == first.deployments
