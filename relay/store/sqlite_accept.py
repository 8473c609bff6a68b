"""Storing a batch of deliveries on SQLite set-based: a few statements per batch, not per item.

The group commit (relay/store/sqlite_batch.py) hands `accept_batch` every delivery that
queued up while the previous batch was written. In the common case (no delivery of the batch
is stored already, none repeats another of the batch, none is a push that catch-up stored
first) the batch costs, whatever its size:

- one SELECT, a UNION ALL of index seeks: the dedup on `(source, delivery_key)` and the
  catch-up heads;
- one multi-row INSERT into `deliveries`, one into `deployments` (one per 256 rows, or
  fewer when the library binds fewer parameters) whose ids follow from each statement's
  `lastrowid` (the BEGIN IMMEDIATE transaction holds the write lock, so the
  rows of one INSERT take consecutive ids), and one `executemany` into `outbox` when reports
  are configured;
- no RETURNING read-back: the `Deployment` values are built in Python
  (`relay.store.rows.deployment_from_insert`), no SAVEPOINT.

Any other batch is written the per-item way (`relay.store.sqlite_deliveries.accept` inside a
SAVEPOINT each); one whose set-based INSERT fails is rolled back and written again that way,
in a new transaction. So a duplicate answers as a duplicate and a failing delivery fails
alone, exactly as before. The answer to every caller comes after COMMIT (`synchronous=FULL`).
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
from relay.store.catchup_sql import CATCH_UP_EVENT, is_deletion
from relay.store.rows import (
    DELIVERY_COLUMNS,
    INSERT_COLUMNS,
    deployment_from_insert,
    headers_json,
    in_chunks,
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
        if _plain(conn, items):
            try:
                outcomes = _set_based(conn, items, policy)
            except Exception:  # noqa: BLE001 - an item's own error: it must fail alone
                if not conn.in_transaction:
                    raise  # SQLite aborted the whole transaction (disk full, I/O error)
                # One of the items failed (a constraint, the outbox policy, a value the
                # driver refuses): start again the per-item way, so that it fails alone, as
                # `in_savepoint` lets it. No savepoint on the common path: roll back all.
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


def _plain(conn: sqlite3.Connection, items: list[Item]) -> bool:
    """True when no item is a duplicate (stored, or twice in the batch), a catch_up
    delivery, or a push a catch_up delivery stored first: the set-based path applies."""
    probes = stored_probes(items, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return probes is not None and not any(
        conn.execute(sql, args).fetchone() for sql, args in probes)


MAX_ARMS = 400  # SELECTs per UNION ALL: SQLite allows 500 (SQLITE_MAX_COMPOUND_SELECT)


def stored_probes(items: list[Item], max_args: int) -> list[tuple[str, list[Any]]] | None:
    """The statements that find whether any item is stored already, or is a push that a
    catch_up delivery stored first (a row each: stop at the first); None when the batch
    itself rules the set-based path out (a catch_up delivery, a key twice).

    Usually one statement, a UNION ALL of index seeks (the dedup on `(source,
    delivery_key)`, the catch-up heads on `deliveries_by_head`): each statement gives up
    the GIL and waits to take it back while the event loop runs. More statements only when
    the seeks together need more than `max_args` parameters (what the library binds per
    statement), or number more than MAX_ARMS (SQLite refuses a compound SELECT of over 500).
    """
    keys: dict[str, set[str]] = {}
    heads: list[tuple[Any, ...]] = []
    for d, _ in items:
        if d.event == CATCH_UP_EVENT:
            return None
        seen = keys.setdefault(d.source, set())
        if d.delivery_key in seen:
            return None
        seen.add(d.delivery_key)
        if d.ref is not None and not is_deletion(d.after) and d.ignored is None:
            heads.append((d.source, d.ref, d.after, d.repo))
    arms: list[tuple[str, tuple[Any, ...]]] = []
    for source, found in keys.items():
        for keys_chunk in in_chunks(sorted(found)):
            marks = ", ".join("?" for _ in keys_chunk)
            arms.append((f"SELECT 1 FROM deliveries WHERE source = ? AND delivery_key IN "
                         f"({marks})", (source, *keys_chunk)))
    for chunk in in_chunks(heads):
        rows = ", ".join("(?, ?, ?, ?)" for _ in chunk)
        arms.append((  # a join, so that each head is an index seek (deliveries_by_head)
            f"SELECT 1 FROM (VALUES {rows}) AS h JOIN deliveries d "
            "ON d.source = h.column1 AND d.ref = h.column2 AND d.after_sha = h.column3 "
            f"AND d.repo = h.column4 WHERE d.event = '{CATCH_UP_EVENT}'",
            tuple(v for head in chunk for v in head)))
    grouped: list[tuple[list[str], list[Any]]] = []
    for sql, args in arms:
        if (not grouped or len(grouped[-1][1]) + len(args) > max_args
                or len(grouped[-1][0]) >= MAX_ARMS):
            grouped.append(([], []))
        grouped[-1][0].append(sql)
        grouped[-1][1].extend(args)
    return [(f"SELECT 1 FROM ({' UNION ALL '.join(parts)}) LIMIT 1", args)
            for parts, args in grouped]


def _set_based(conn: sqlite3.Connection, items: list[Item],
               policy: Policy | None) -> list[Accepted | Failed]:
    """The batch in one multi-row INSERT per table (per _ROWS rows); raises sqlite3.Error
    when a row fails, leaving the transaction to be rolled back.

    Multi-row INSERTs rather than executemany: each statement gives up the GIL while SQLite
    works, and takes it back after; one statement per table keeps the event loop's thread
    from waiting to get the GIL back once per row.

    Deployment ids: AUTOINCREMENT gives the rows of one INSERT consecutive ids, in the order
    of its VALUES (each new row takes one more than the largest id the table ever had, and the
    BEGIN IMMEDIATE transaction holds the write lock), so a statement of n rows took
    `lastrowid - n + 1` to `lastrowid`: no statement reads them back.
    """
    _insert_rows(conn, "deliveries", DELIVERY_COLUMNS, [
        (d.delivery_id, d.source, d.delivery_key, d.event, d.event_name, iso(d.received_at),
         d.content_type, headers_json(d.headers), d.body, d.repo, d.ref, d.before, d.after,
         d.commit, iso(d.head_commit_at), d.ignored)
        for d, _ in items])
    rows = [insert_values(dep, d.delivery_id, d.received_at, time=iso, flag=int)
            for d, deps in items for dep in deps]
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


_ROWS = 256  # rows per INSERT at most (and fewer when the library binds fewer parameters)


def _insert_rows(conn: sqlite3.Connection, table: str, columns: str,
                 rows: list[tuple[Any, ...]]) -> list[int]:
    """INSERT `rows` in as few statements as the library allows; the rowids they took, in
    order (consecutive within a statement: see `_set_based`)."""
    if not rows:
        return []
    row = f"({', '.join('?' for _ in rows[0])})"
    # SQLite binds at most 32,766 parameters since 3.32, 999 before: ask the library.
    per = max(1, min(_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(rows[0])))
    rowids: list[int] = []
    for at in range(0, len(rows), per):
        chunk = rows[at:at + per]
        last = conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}",
            [v for r in chunk for v in r]).lastrowid
        assert last is not None  # an INSERT into a rowid table
        rowids.extend(range(last - len(chunk) + 1, last + 1))
    return rowids
