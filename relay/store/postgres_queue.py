"""The worker's queries on PostgreSQL: claim with a lease, renew, fence every write.

Claims run in READ COMMITTED transactions, where every statement sees what was committed
before it started. Two mechanisms keep replicas apart, and a third backs them up:

- an expired lease is resumed with `FOR UPDATE SKIP LOCKED`: two replicas never resume the
  same row, and neither waits for the other;
- a queued cluster is started only under `pg_try_advisory_xact_lock(CLUSTER_LOCK, cluster)`,
  a transaction-scoped lock (released at COMMIT, so it works behind a transaction pooler):
  a replica that does not get it moves on to the next cluster. Once the lock is ours, a fresh
  statement checks that nothing of the cluster became active in the meantime;
- the partial unique index `deployments_one_active_per_cluster` refuses a second active
  deployment of one cluster whatever happens above.

Every write about a claimed deployment says `WHERE id = $ AND fence = $`: a replica whose lease
was taken over writes nothing and gets LeaseLost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import structlog

from relay.deployment import Deployment, DeploymentStatus
from relay.rollout import Observation
from relay.scheduling import History, Plan, plan
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
)

log = structlog.get_logger("relay.store")

CLUSTER_LOCK = 0x72656C63  # advisory lock namespace "relc": one key per cluster
MIGRATION_LOCK = (0x7265_6C6D, 0)  # "relm": schema migrations
NOTIFY_CHANNEL = "relay_work"
_ACTIVE = "status IN ('triggering', 'rolling_out')"
_CANDIDATES = 20  # clusters looked at per claim; the rest wait for the next one


async def claim(conn: asyncpg.Connection, owner: str, now: datetime,
                lease_s: float) -> Claim | None:
    """Resume an expired lease, else start a queued cluster; call inside a transaction."""
    expires = now + timedelta(seconds=lease_s)
    row = await conn.fetchrow(
        f"SELECT {DEPLOYMENT_COLUMNS}, snapshot FROM deployments WHERE {_ACTIVE} "
        "AND (lease_expires_at IS NULL OR lease_expires_at < $1) "
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
    )
    if row is not None:
        fence = await _take(conn, row["id"], owner, expires)
        snap = Observation.from_json(row["snapshot"]) if row["snapshot"] else None
        return Claim(deployment_from_row(row), fence, snap, resumed=True)
    clusters = await conn.fetch(
        "SELECT q.cluster FROM deployments q WHERE q.status = 'queued' AND NOT EXISTS "
        f"(SELECT 1 FROM deployments a WHERE a.cluster = q.cluster AND a.{_ACTIVE}) "
        "GROUP BY q.cluster ORDER BY min(q.id) LIMIT $1",
        _CANDIDATES,
    )
    for found in clusters:
        started = await _start_cluster(conn, int(found["cluster"]), owner, now, expires)
        if started is not None:
            return started
    return None


async def _start_cluster(conn: asyncpg.Connection, cluster: int, owner: str, now: datetime,
                         expires: datetime) -> Claim | None:
    """Run what `plan` picks for one cluster, if this replica gets the cluster's lock."""
    if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)",
                               CLUSTER_LOCK, cluster_key(cluster)):
        return None  # another replica is starting this cluster right now
    # A new statement, a new snapshot: a claim committed before we got the lock shows here.
    if await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM deployments WHERE cluster = $1 AND {_ACTIVE})",
            cluster):
        return None
    rows = await conn.fetch(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE cluster = $1 AND status = 'queued' "
        "ORDER BY id FOR UPDATE",
        cluster,
    )
    known = await history(conn, cluster)
    decided = plan([deployment_from_row(r) for r in rows], known)
    if decided.run is None:
        return None
    try:
        async with conn.transaction():  # a savepoint: a refusal leaves the claim usable
            return await _start(conn, decided, owner, now, expires, known)
    except asyncpg.UniqueViolationError:
        # Unreachable while the lock above is honoured; the index is the last word.
        log.warning("claim refused by the one-active-per-cluster index", cluster=cluster)
        return None


async def _start(conn: asyncpg.Connection, decided: Plan, owner: str, now: datetime,
                 expires: datetime, known: History) -> Claim:
    run = decided.run
    assert run is not None
    old_ids = [d.id for d in decided.superseded]
    if old_ids:
        await conn.execute(
            "UPDATE deployments SET status = 'superseded', superseded_by = $1, finished_at = $2 "
            "WHERE id = ANY($3::bigint[])",
            run.id, now, old_ids,
        )
    row = await conn.fetchrow(
        "UPDATE deployments SET status = 'triggering', attempts = attempts + 1, "
        "lease_owner = $1, lease_expires_at = $2, fence = fence + 1 "
        f"WHERE id = $3 RETURNING {DEPLOYMENT_COLUMNS}, fence",
        owner, expires, run.id,
    )
    superseded = await _get_many(conn, old_ids)
    return Claim(deployment_from_row(row), int(row["fence"]), None, resumed=False,
                 superseded=superseded, history=known)


def cluster_key(cluster: int) -> int:
    """The cluster's advisory lock key (int4); a rare collision only delays a claim."""
    return cluster % 2_147_483_647


async def _take(conn: asyncpg.Connection, dep_id: int, owner: str, expires: datetime) -> int:
    fence = await conn.fetchval(
        "UPDATE deployments SET lease_owner = $1, lease_expires_at = $2, fence = fence + 1 "
        "WHERE id = $3 RETURNING fence",
        owner, expires, dep_id,
    )
    return int(fence)


async def _get_many(conn: asyncpg.Connection, ids: Sequence[int]) -> tuple[Deployment, ...]:
    if not ids:
        return ()
    rows = await conn.fetch(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ANY($1::bigint[]) ORDER BY id",
        list(ids),
    )
    return tuple(deployment_from_row(r) for r in rows)


async def fenced_update(conn: asyncpg.Connection, dep_id: int, fence: int, assignments: str,
                        *args: Any) -> asyncpg.Record:
    """UPDATE one deployment only if our fence still holds; else raise LeaseLost.

    `assignments` numbers its parameters from $3 ($1 is the id, $2 the fence).
    """
    row = await conn.fetchrow(
        f"UPDATE deployments SET {assignments} WHERE id = $1 AND fence = $2 "
        f"RETURNING {DEPLOYMENT_COLUMNS}",
        dep_id, fence, *args,
    )
    if row is None:
        raise LeaseLost(f"deployment {dep_id}: lease taken over (fence {fence} is stale)")
    return row


_END = ("status = $3, finished_at = $4, error = $5, lease_owner = NULL, "
        "lease_expires_at = NULL, fence = fence + 1")


async def finish(conn: asyncpg.Connection, dep_id: int, fence: int, status: DeploymentStatus,
                 now: datetime, error: str | None) -> Deployment:
    """End an open deployment whose fence is ours (and move the fence); else LeaseLost."""
    row = await conn.fetchrow(
        f"UPDATE deployments SET {_END} WHERE id = $1 AND fence = $2 "
        f"AND status = ANY($6::text[]) RETURNING {DEPLOYMENT_COLUMNS}",
        dep_id, fence, status.value, now, error, list(OPEN),
    )
    if row is None:
        raise LeaseLost(f"deployment {dep_id}: already ended or taken over (fence {fence})")
    return deployment_from_row(row)


async def cancel(conn: asyncpg.Connection, dep_id: int, now: datetime,
                 reason: str) -> Deployment:
    """End an open deployment `canceled`, whoever holds it; NotFound / Conflict otherwise."""
    row = await conn.fetchrow(
        "UPDATE deployments SET status = $2, finished_at = $3, error = $4, lease_owner = NULL, "
        "lease_expires_at = NULL, fence = fence + 1 "
        f"WHERE id = $1 AND status = ANY($5::text[]) RETURNING {DEPLOYMENT_COLUMNS}",
        dep_id, DeploymentStatus.CANCELED.value, now, reason, list(OPEN),
    )
    if row is not None:
        await notify(conn)  # the replica following it looks again at once
        return deployment_from_row(row)
    found = await conn.fetchrow(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1", dep_id)
    if found is None:
        raise NotFound(f"no deployment {dep_id}")
    dep = deployment_from_row(found)
    raise Conflict(f"deployment {dep_id} is already {dep.status.value}", dep)


async def last_successes(conn: asyncpg.Connection) -> dict[int, datetime]:
    rows = await conn.fetch(
        "SELECT cluster, MAX(finished_at) AS at FROM deployments WHERE status = 'succeeded' "
        "GROUP BY cluster")
    return {int(r["cluster"]): r["at"] for r in rows if r["at"] is not None}


async def history(conn: asyncpg.Connection, cluster: int) -> History:
    rows = await conn.fetch(
        f"SELECT {HISTORY_COLUMNS} FROM deployments WHERE cluster = $1 AND {HISTORY_WHERE} "
        f"{HISTORY_ORDER} LIMIT $2",
        cluster, HISTORY_DEPTH,
    )
    return history_from_rows(rows)


async def notify(conn: asyncpg.Connection) -> None:
    """Wake every replica's worker when this transaction commits (LISTEN/NOTIFY)."""
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
