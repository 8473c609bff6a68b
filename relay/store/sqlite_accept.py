"""Storing a batch of deliveries on SQLite set-based: a few statements per batch, not per item.

The group commit (relay/store/sqlite_batch.py) hands `accept_batch` every delivery that
queued up while the previous batch was written. In the common case (no delivery of the batch
is stored already, none repeats another of the batch, none is a push that catch-up stored
first) a batch of up to 256 deliveries costs four statements: BEGIN IMMEDIATE, one INSERT
per table, COMMIT. A larger batch takes one INSERT more per 256 rows (or fewer rows, when the
library binds fewer parameters), and reports add one `executemany` into `outbox`.

- The deliveries' INSERT is also the check for what is stored already: a delivery stored
  before breaks the `UNIQUE (source, delivery_key)` constraint (or the primary key), and a
  push whose catch-up twin is stored is left out by the INSERT's `NOT EXISTS`, an index seek
  on `deliveries_by_head` per row; either way the statement did not write every row. Each
  statement gives up the GIL and then waits to take it back from a busy event loop, so one
  statement less per batch is time every caller of the batch gets back.
- Deployment ids follow from each INSERT's `lastrowid` (the BEGIN IMMEDIATE transaction
  holds the write lock, so the rows of one INSERT take consecutive ids).
- No RETURNING read-back: the `Deployment` values are built in Python
  (`relay.store.rows.deployment_from_insert`); no SAVEPOINT.

Any other batch is written the per-item way (`relay.store.sqlite_deliveries.accept` inside a
SAVEPOINT each): one that holds a catch_up delivery or a key twice goes that way at once; one
whose set-based INSERTs fail or leave a row out is rolled back and written again that way, in
a new transaction. So a duplicate answers as a duplicate and a failing delivery fails alone,
exactly as before. The new transaction takes the write lock again (BEGIN IMMEDIATE, waiting
up to the store's busy timeout like any batch's first BEGIN); a redelivery thus costs its
batch one rolled-back INSERT. The answer to every caller comes after COMMIT
(`synchronous=FULL`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from relay.deployment import Deployment, NewDeployment, iso
from relay.reports import Policy
from relay.store import sqlite_deliveries as deliveries
from relay.store import sqlite_outbox as outbox
from relay.store.base import Accepted, NewDelivery
from relay.store.catchup_sql import CATCH_UP_EVENT
from relay.store.rows import (
    DELIVERY_COLUMNS,
    INSERT_COLUMNS,
    deployment_from_insert,
    headers_json,
    insert_values,
)
from relay.store.sqlite_batch import Failed, in_savepoint

Item = tuple[NewDelivery, Sequence[NewDeployment]]


def accept_batch(connection: Callable[[], sqlite3.Connection], items: list[Item],
                 policy: Policy | None) -> list[Accepted | Failed]:
    """On the store's thread: write `items` in one IMMEDIATE transaction; one outcome each.

    Raises when the transaction as a whole fails (BEGIN, COMMIT, an aborted transaction):
    then nothing of the batch is written and every caller gets that error.
    """
    conn = connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[Accepted | Failed] | None = None
        if plain(items):
            try:
                outcomes = _set_based(conn, items, policy)
            except Exception:  # noqa: BLE001 - an item's own error: it must fail alone
                if not conn.in_transaction:
                    raise  # SQLite aborted the whole transaction (disk full, I/O error)
                # An item is stored already, is a catch-up twin, or failed (a constraint,
                # the outbox policy, a value the driver refuses): start again the per-item
                # way, so that each gets its own answer, as `in_savepoint` gives it. No
                # savepoint on the common path: roll back all.
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
        if outcomes is None:
            outcomes = [in_savepoint(conn, _one(item, policy)) for item in items]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def accept_one(conn: sqlite3.Connection, item: Item, policy: Policy | None) -> Accepted:
    """One delivery the per-item way (duplicates, catch-up twins), with its outbox rows."""
    delivery, deps = item
    done = deliveries.accept(conn, delivery, deps)
    outbox.record(conn, policy, () if done.duplicate else done.deployments,
                  delivery.received_at.timestamp())
    return done


def _one(item: Item, policy: Policy | None) -> Callable[[sqlite3.Connection], Accepted]:
    return lambda conn: accept_one(conn, item, policy)


def plain(items: list[Item]) -> bool:
    """True when the batch itself allows the set-based path: no catch_up delivery, no
    delivery key twice (per source). What is stored already is found by the INSERT."""
    keys: set[tuple[str, str]] = set()
    for d, _ in items:
        if d.event == CATCH_UP_EVENT or (d.source, d.delivery_key) in keys:
            return False
        keys.add((d.source, d.delivery_key))
    return True


class LeftOut(Exception):
    """The set-based INSERT left a delivery out (its catch-up twin is stored): the batch
    goes the per-item way, which gives that delivery its answer."""


def _value_column(name: str) -> str:
    """The column of a VALUES row (`v.column1`...) that holds DELIVERY_COLUMNS' `name`."""
    return f"v.column{DELIVERY_COLUMNS.split(', ').index(name) + 1}"


# The deliveries' INSERT leaves out a push whose catch_up delivery is stored (the twin rule
# of relay.store.catchup_sql.twin_sql). It may leave out more than the per-item path would
# call a twin (a deletion, an ignored push): that only sends the batch the per-item way.
_NOT_A_TWIN = (
    " WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
    + " AND ".join(f"d.{c} = {_value_column(c)}" for c in ("source", "ref", "after_sha", "repo"))
    + f" AND d.event = '{CATCH_UP_EVENT}')")


def _set_based(conn: sqlite3.Connection, items: list[Item],
               policy: Policy | None) -> list[Accepted | Failed]:
    """The batch in one multi-row INSERT per table (per _ROWS rows); raises sqlite3.Error
    when a row fails (a delivery stored already breaks its UNIQUE constraint), LeftOut when
    the deliveries' INSERT left a catch-up twin out; the transaction is then to be rolled back.

    Multi-row INSERTs rather than executemany: each statement gives up the GIL while SQLite
    works, and takes it back after; one statement per table keeps the event loop's thread
    from waiting to get the GIL back once per row.

    Deployment ids: AUTOINCREMENT gives the rows of one INSERT consecutive ids, in the order
    of its VALUES (each new row takes one more than the largest id the table ever had, and the
    BEGIN IMMEDIATE transaction holds the write lock), so a statement of n rows took
    `lastrowid - n + 1` to `lastrowid`: no statement reads them back.
    """
    # Each delivery's two times as text once: its row and its deployments' rows share them
    # (this runs for every delivery, on the thread the event loop shares the GIL with).
    times = [(iso(d.received_at), iso(d.head_commit_at)) for d, _ in items]
    _insert_rows(conn, "deliveries", DELIVERY_COLUMNS, [
        (d.delivery_id, d.source, d.delivery_key, d.event, d.event_name, at, d.content_type,
         headers_json(d.headers), d.body, d.repo, d.ref, d.before, d.after, d.commit, head,
         d.ignored)
        for (d, _), (at, head) in zip(items, times, strict=True)], where=_NOT_A_TWIN)
    rows = [insert_values(dep, d.delivery_id, d.received_at, time=_known(d, at, head), flag=int)
            for (d, deps), (at, head) in zip(items, times, strict=True) for dep in deps]
    ids = iter(_insert_rows(conn, "deployments", INSERT_COLUMNS, rows))
    outcomes: list[Accepted | Failed] = []
    changes: list[tuple[Deployment, float]] = []
    for d, deps in items:
        created = tuple(deployment_from_insert(dep, next(ids), d.delivery_id, d.received_at)
                        for dep in deps)
        outcomes.append(Accepted(d.delivery_id, False, created))
        if policy is not None:
            at = d.received_at.timestamp()
            changes.extend((dep, at) for dep in created)
    if policy is not None and changes:
        outbox.record_each(conn, policy, changes)
    return outcomes


def _known(d: NewDelivery, at: str | None, head: str | None) -> Callable[[Any], str | None]:
    """`iso`, answered without work for the delivery's own two times (`at`, `head`)."""
    def time(value: Any) -> str | None:
        return at if value is d.received_at else head if value is d.head_commit_at else iso(value)
    return time


_ROWS = 256  # rows per INSERT at most (and fewer when the library binds fewer parameters)


def _insert_rows(conn: sqlite3.Connection, table: str, columns: str,
                 rows: list[tuple[Any, ...]], *, where: str = "") -> list[int]:
    """INSERT `rows` in as few statements as the library allows; the rowids they took, in
    order (consecutive within a statement: see `_set_based`).

    `where`: a condition on the VALUES rows (`v.column1`...); then the statement is an
    INSERT ... SELECT, and LeftOut is raised when it wrote fewer rows than it was given.
    """
    if not rows:
        return []
    row = f"({', '.join('?' for _ in rows[0])})"
    # SQLite binds at most 32,766 parameters since 3.32, 999 before: ask the library.
    per = max(1, min(_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(rows[0])))
    rowids: list[int] = []
    for at in range(0, len(rows), per):
        chunk = rows[at:at + per]
        values = f"VALUES {', '.join([row] * len(chunk))}"
        sql = (f"INSERT INTO {table} ({columns}) SELECT * FROM ({values}) AS v{where}"
               if where else f"INSERT INTO {table} ({columns}) {values}")
        cur = conn.execute(sql, [v for r in chunk for v in r])
        if cur.rowcount != len(chunk):
            raise LeftOut(f"{len(chunk) - cur.rowcount} of {len(chunk)} rows left out")
        last = cur.lastrowid
        assert last is not None  # an INSERT into a rowid table
        rowids.extend(range(last - len(chunk) + 1, last + 1))
    return rowids
