"""The worker's queries on SQLite: claim with a lease, renew, fence every write.

Each function runs inside one BEGIN IMMEDIATE transaction on the store's thread, so a claim's
read and write cannot interleave with another writer, in this process or another one.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from relay.deployment import Deployment, DeploymentStatus, iso, parse_iso
from relay.rollout import Observation
from relay.scheduling import History, plan
from relay.store.base import Claim, LeaseLost
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row

_ACTIVE = ("triggering", "rolling_out")
_HISTORY_DEPTH = 200


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
    decided = plan(queued, history(conn, found["cluster"]))
    assert decided.run is not None
    for old in decided.superseded:
        conn.execute(
            "UPDATE deployments SET status = 'superseded', superseded_by = ?, finished_at = ? "
            "WHERE id = ?",
            (decided.run.id, iso(now), old.id),
        )
    conn.execute(
        "UPDATE deployments SET status = 'triggering', attempts = attempts + 1 WHERE id = ?",
        (decided.run.id,),
    )
    fence = _take(conn, decided.run.id, owner, expires)
    superseded = tuple(_get(conn, d.id) for d in decided.superseded)
    return Claim(_get(conn, decided.run.id), fence, None, resumed=False, superseded=superseded)


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


def finish(
    conn: sqlite3.Connection, dep_id: int, fence: int, status: DeploymentStatus,
    now: datetime, error: str | None,
) -> Deployment:
    fenced_update(
        conn, dep_id, fence,
        "status = ?, finished_at = ?, error = ?, lease_owner = NULL, lease_expires_at = NULL",
        (status.value, iso(now), error),
    )
    return _get(conn, dep_id)


def history(conn: sqlite3.Connection, cluster: int) -> History:
    rows = conn.execute(
        "SELECT before_sha, head_commit_at FROM deployments WHERE cluster = ? "
        "AND triggered_at IS NOT NULL AND status != 'error' ORDER BY triggered_at DESC, id DESC "
        "LIMIT ?",
        (cluster, _HISTORY_DEPTH),
    ).fetchall()
    befores = frozenset(r["before_sha"] for r in rows if r["before_sha"])
    # The newest head commit time known: a deployment by hand has none, and must not turn
    # the "older commit" rule off for the pushes that follow it.
    last = next((parse_iso(r["head_commit_at"]) for r in rows if r["head_commit_at"]), None)
    return History(deployed_befores=befores, last_head_commit_at=last)
