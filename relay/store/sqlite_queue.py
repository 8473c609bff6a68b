"""The worker's queries on SQLite: claim with a lease, renew, fence every write.

Each function runs inside one BEGIN IMMEDIATE transaction on the store's thread, so a claim's
read and write cannot interleave with another writer, in this process or another one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime

from relay.deployment import Deployment, DeploymentStatus, iso, parse_iso, to_millis
from relay.rollout import Observation
from relay.scheduling import History, plan
from relay.store.base import Claim, Conflict, LeaseLost, NotFound
from relay.store.rows import (
    DEPLOYMENT_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_DEPTH,
    HISTORY_ORDER,
    HISTORY_WHERE,
    OPEN,
    deployment_from_row,
    history_from_rows,
    in_chunks,
)

_ACTIVE = ("triggering", "rolling_out")
_OPEN_IN = ", ".join("?" for _ in OPEN)


def claim(conn: sqlite3.Connection, owner: str, now: datetime, lease_s: float) -> Claim | None:
    expires = now.timestamp() + lease_s
    row = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS}, fence, snapshot FROM deployments "
        "WHERE status IN (?, ?) AND (lease_expires_at IS NULL OR lease_expires_at < ?) "
        "ORDER BY id LIMIT 1",
        (*_ACTIVE, now.timestamp()),
    ).fetchone()
    if row is not None:
        fence = _take(conn, row["id"], owner, expires)
        snap = Observation.from_json(row["snapshot"]) if row["snapshot"] else None
        return Claim(deployment_from_row(row), fence, snap, resumed=True)
    found = conn.execute(
        "SELECT cluster FROM deployments WHERE status = 'queued' AND cluster NOT IN "
        "(SELECT cluster FROM deployments WHERE status IN (?, ?)) ORDER BY id LIMIT 1",
        _ACTIVE,
    ).fetchone()
    if found is None:
        return None
    queued = [
        deployment_from_row(r)
        for r in conn.execute(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE cluster = ? AND status = 'queued'",
            (found["cluster"],),
        )
    ]
    known = history(conn, found["cluster"])
    decided = plan(queued, known)
    assert decided.run is not None
    # Set-based: one UPDATE (per 200 ids) for every row the run supersedes, no read-back.
    old_ids = [d.id for d in decided.superseded]
    for chunk in in_chunks(old_ids):
        conn.execute(
            "UPDATE deployments SET status = 'superseded', superseded_by = ?, finished_at = ? "
            f"WHERE id IN ({', '.join('?' for _ in chunk)})",
            (decided.run.id, iso(now), *chunk),
        )
    conn.execute(
        "UPDATE deployments SET status = 'triggering', attempts = attempts + 1 WHERE id = ?",
        (decided.run.id,),
    )
    fence = _take(conn, decided.run.id, owner, expires)
    # What the UPDATE above wrote, without reading 1,000 rows back.
    ended = to_millis(now)
    superseded = tuple(replace(d, status=DeploymentStatus.SUPERSEDED,
                               superseded_by=decided.run.id, finished_at=ended)
                       for d in decided.superseded)
    return Claim(_get(conn, decided.run.id), fence, None, resumed=False,
                 superseded=superseded, history=known)


def _take(conn: sqlite3.Connection, dep_id: int, owner: str, expires: float) -> int:
    row = conn.execute(
        "UPDATE deployments SET lease_owner = ?, lease_expires_at = ?, fence = fence + 1 "
        "WHERE id = ? RETURNING fence",
        (owner, expires, dep_id),
    ).fetchone()
    return int(row[0])


def _get(conn: sqlite3.Connection, dep_id: int) -> Deployment:
    row = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", (dep_id,)
    ).fetchone()
    return deployment_from_row(row)


def fenced_update(
    conn: sqlite3.Connection, dep_id: int, fence: int, assignments: str, args: tuple[object, ...]
) -> None:
    """UPDATE one deployment only if our fence still holds; else raise LeaseLost."""
    cur = conn.execute(
        f"UPDATE deployments SET {assignments} WHERE id = ? AND fence = ?",
        (*args, dep_id, fence),
    )
    if cur.rowcount != 1:
        raise LeaseLost(f"deployment {dep_id}: lease taken over (fence {fence} is stale)")


_END = ("status = ?, finished_at = ?, error = ?, lease_owner = NULL, lease_expires_at = NULL, "
        "fence = fence + 1")


def finish(
    conn: sqlite3.Connection, dep_id: int, fence: int, status: DeploymentStatus,
    now: datetime, error: str | None,
) -> Deployment:
    """End an open deployment whose fence is ours (and move the fence); else LeaseLost."""
    cur = conn.execute(
        f"UPDATE deployments SET {_END} WHERE id = ? AND fence = ? AND status IN ({_OPEN_IN})",
        (status.value, iso(now), error, dep_id, fence, *OPEN),
    )
    if cur.rowcount != 1:
        raise LeaseLost(f"deployment {dep_id}: already ended or taken over (fence {fence})")
    return _get(conn, dep_id)


def cancel(conn: sqlite3.Connection, dep_id: int, now: datetime, reason: str) -> Deployment:
    """End an open deployment `canceled`, whoever holds it; NotFound / Conflict otherwise."""
    cur = conn.execute(
        f"UPDATE deployments SET {_END} WHERE id = ? AND status IN ({_OPEN_IN})",
        (DeploymentStatus.CANCELED.value, iso(now), reason, dep_id, *OPEN),
    )
    row = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", (dep_id,)).fetchone()
    if row is None:
        raise NotFound(f"no deployment {dep_id}")
    found = deployment_from_row(row)
    if cur.rowcount != 1:
        raise Conflict(f"deployment {dep_id} is already {found.status.value}", found)
    return found


def last_successes(conn: sqlite3.Connection) -> dict[int, datetime]:
    rows = conn.execute(
        "SELECT cluster, MAX(finished_at) FROM deployments WHERE status = 'succeeded' "
        "GROUP BY cluster").fetchall()
    found = {int(r[0]): parse_iso(r[1]) for r in rows}
    return {k: v for k, v in found.items() if v is not None}


def history(conn: sqlite3.Connection, cluster: int) -> History:
    rows = conn.execute(
        f"SELECT {HISTORY_COLUMNS} FROM deployments WHERE cluster = ? AND {HISTORY_WHERE} "
        f"{HISTORY_ORDER} LIMIT ?",
        (cluster, HISTORY_DEPTH),
    ).fetchall()
    return history_from_rows(rows)
