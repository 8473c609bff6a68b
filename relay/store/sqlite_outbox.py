"""The outbox on SQLite: write messages inside a status change's transaction, claim, settle.

`record` runs inside the caller's BEGIN IMMEDIATE transaction (the one that changes a
deployment's status), so a message exists exactly when its status change is committed. The
sender's functions run in their own transactions on the store's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from relay.deployment import Deployment
from relay.reports import Policy
from relay.store.outbox_rows import (
    INSERT_COLUMNS,
    OUTBOX_COLUMNS,
    PENDING_COLUMNS,
    OutboxRow,
    PendingMessage,
    insert_values,
    pending_from,
    row_from,
)
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row, in_chunks

_MARKS = ", ".join("?" for _ in INSERT_COLUMNS.split(","))


def record(conn: sqlite3.Connection, policy: Policy | None, deployments: Iterable[Deployment],
           now: float) -> None:
    """Write the messages of `deployments`' new statuses (a final one also reports the
    deployments it superseded). Nothing when no policy is set."""
    if policy is not None:
        record_each(conn, policy, [(dep, now) for dep in deployments])


def record_each(conn: sqlite3.Connection, policy: Policy,
                changes: Sequence[tuple[Deployment, float]]) -> None:
    """`record` for many (deployment, now) at once, set-based: one SELECT (per 200 final
    statuses) for the deployments they superseded, one INSERT of every message."""
    finals = [dep.id for dep, _ in changes if not dep.status.is_open]
    superseded: dict[int, list[Deployment]] = {}
    for chunk in in_chunks(finals):
        marks = ", ".join("?" for _ in chunk)
        # `+status`, and the order made here: else the planner prefers walking every
        # superseded row of history in the status index (no sort) to the partial index on
        # superseded_by (migration 006), tens of milliseconds on a large store.
        for r in conn.execute(
                f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE superseded_by IN ({marks}) "
                "AND +status = 'superseded'", chunk):
            old = deployment_from_row(r)
            assert old.superseded_by is not None  # the WHERE clause
            superseded.setdefault(old.superseded_by, []).append(old)
    for olds in superseded.values():
        olds.sort(key=lambda d: d.id)
    rows = [insert_values(message, now)
            for dep, now in changes
            for message in policy(dep, tuple(superseded.get(dep.id, ())))]
    if rows:
        conn.executemany(f"INSERT INTO outbox ({INSERT_COLUMNS}) VALUES ({_MARKS})", rows)


def get(conn: sqlite3.Connection, dep_id: int) -> Deployment:
    """The deployment `dep_id` as stored now (inside the caller's transaction)."""
    row = conn.execute(f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?",
                       (dep_id,)).fetchone()
    return deployment_from_row(row)


_UNLEASED = "(lease_expires_at IS NULL OR lease_expires_at < ?)"


def claim(conn: sqlite3.Connection, owner: str, now: float, lease_s: float, limit: int,
          max_age_s: float) -> tuple[tuple[OutboxRow, ...], tuple[tuple[str, str, str], ...]]:
    """Lease up to `limit` due messages, the oldest first and only the first pending one of
    each deployment (in order per deployment); first drop the messages that a newer one of the
    same key replaces and those older than `max_age_s`.
    Returns (claimed, dropped as (host, kind, target)).
    """
    dropped = conn.execute(
        f"DELETE FROM outbox WHERE {_UNLEASED} AND (created_at < ? OR (coalesce_key IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM outbox n WHERE n.coalesce_key = outbox.coalesce_key "
        "AND n.id > outbox.id))) RETURNING host, kind, target",
        (now, now - max_age_s)).fetchall()
    rows = conn.execute(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE next_attempt_at <= ? AND "
        "(lease_expires_at IS NULL OR lease_expires_at < ?) AND NOT EXISTS "
        "(SELECT 1 FROM outbox p WHERE p.deployment_id = o.deployment_id AND p.id < o.id) "
        "ORDER BY id LIMIT ?", (now, now, limit)).fetchall()
    for r in rows:
        conn.execute("UPDATE outbox SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
                     (owner, now + lease_s, r["id"]))
    return (tuple(row_from(r) for r in rows),
            tuple((str(h), str(k), str(t)) for h, k, t in dropped))


def done(conn: sqlite3.Connection, owner: str, settled: Sequence[int],
         retries: Sequence[tuple[int, float]]) -> None:
    """Settle a batch in one transaction: remove the `settled` messages (sent, failed for
    good), and release each of `retries` (id, Unix time) to be tried again at that time;
    only messages still leased by `owner`."""
    conn.executemany("DELETE FROM outbox WHERE id = ? AND lease_owner = ?",
                     [(i, owner) for i in settled])
    conn.executemany(
        "UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1, lease_owner = NULL, "
        "lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
        [(at, i, owner) for i, at in retries])


def pending(conn: sqlite3.Connection) -> int:
    """Messages not yet delivered (reports and notifications)."""
    return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def pending_for(conn: sqlite3.Connection, dep_id: int,
                limit: int = 100) -> tuple[PendingMessage, ...]:
    """The messages of deployment `dep_id` still in the outbox, oldest first (at most
    `limit`); settled ones are deleted, so they are not among them."""
    rows = conn.execute(f"SELECT {PENDING_COLUMNS} FROM outbox WHERE deployment_id = ? "
                        "ORDER BY id LIMIT ?", (dep_id, limit)).fetchall()
    return tuple(pending_from(r) for r in rows)


def host_deployment_id(conn: sqlite3.Connection, dep_id: int) -> str | None:
    """The git host's deployment id stored for relay deployment `dep_id` (None: not created)."""
    row = conn.execute("SELECT host_deployment_id FROM deployments WHERE id = ?",
                       (dep_id,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def save_host_deployment_id(conn: sqlite3.Connection, dep_id: int, host_id: str) -> None:
    """Remember the host deployment created for `dep_id` (before anything else is sent)."""
    conn.execute("UPDATE deployments SET host_deployment_id = ? WHERE id = ?", (host_id, dep_id))
