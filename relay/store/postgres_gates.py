"""Deploy gates on PostgreSQL (docs/gates.md): the same queries as relay.store.sqlite_gates.

Every move is one conditional UPDATE (`WHERE id = $1 AND status = $2`): with several replicas
deciding the same release, exactly one moves the row and the others change nothing.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from relay.deployment import FINAL_STATUSES, Deployment, DeploymentStatus
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row

_GATED = "('held', 'waiting_checks')"


async def gate_waiting(conn: asyncpg.Connection) -> tuple[Deployment, ...]:
    rows = await conn.fetch(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE status IN "
        f"('held', 'waiting_checks', 'queued') AND cluster IN (SELECT cluster FROM deployments "
        f"WHERE status IN {_GATED}) ORDER BY id")
    return tuple(deployment_from_row(r) for r in rows)


async def gate_move(conn: asyncpg.Connection, dep_id: int, expect: DeploymentStatus,
                    to: DeploymentStatus, now: datetime, superseded_by: int | None,
                    error: str | None) -> Deployment | None:
    row = await conn.fetchrow(
        "UPDATE deployments SET status = $3, superseded_by = COALESCE($4, superseded_by), "
        "error = COALESCE($5, error), finished_at = CASE WHEN $6 THEN $7 ELSE finished_at END "
        f"WHERE id = $1 AND status = $2 RETURNING {DEPLOYMENT_COLUMNS}",
        dep_id, expect.value, to.value, superseded_by, error, to in FINAL_STATUSES, now)
    return None if row is None else deployment_from_row(row)


async def hold_claimed(conn: asyncpg.Connection, dep_id: int, fence: int) -> bool:
    row = await conn.fetchrow(
        "UPDATE deployments SET status = 'held', lease_owner = NULL, lease_expires_at = NULL, "
        "fence = fence + 1 WHERE id = $1 AND fence = $2 AND status = 'triggering' RETURNING id",
        dep_id, fence)
    return row is not None


async def pauses(conn: asyncpg.Connection) -> tuple[Pause, ...]:
    rows = await conn.fetch(
        "SELECT cluster, reason, until, paused_at FROM cluster_pauses ORDER BY cluster")
    return tuple(Pause(int(r["cluster"]), r["reason"], r["until"], r["paused_at"]) for r in rows)


async def set_pause(conn: asyncpg.Connection, pause: Pause) -> None:
    await conn.execute(
        "INSERT INTO cluster_pauses (cluster, reason, until, paused_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (cluster) DO UPDATE SET reason = excluded.reason, until = excluded.until, "
        "paused_at = excluded.paused_at",
        pause.cluster, pause.reason, pause.until, pause.since)


async def clear_pause(conn: asyncpg.Connection, cluster: int) -> bool:
    row = await conn.fetchrow("DELETE FROM cluster_pauses WHERE cluster = $1 RETURNING cluster",
                              cluster)
    return row is not None


async def quarantine(conn: asyncpg.Connection) -> tuple[QuarantineEntry, ...]:
    rows = await conn.fetch("SELECT cluster, version, deployment_id, created_at FROM quarantine "
                            "ORDER BY cluster, created_at")
    return tuple(QuarantineEntry(int(r["cluster"]), r["version"], int(r["deployment_id"]),
                                 r["created_at"]) for r in rows)


async def add_quarantine(conn: asyncpg.Connection, entry: QuarantineEntry) -> None:
    await conn.execute(
        "INSERT INTO quarantine (cluster, version, deployment_id, created_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (cluster, version) DO UPDATE SET "
        "deployment_id = excluded.deployment_id, created_at = excluded.created_at",
        entry.cluster, entry.version.lower(), entry.deployment_id, entry.created_at)


async def clear_quarantine(conn: asyncpg.Connection, cluster: int, version: str) -> bool:
    row = await conn.fetchrow("DELETE FROM quarantine WHERE cluster = $1 AND version = $2 "
                              "RETURNING cluster", cluster, version.lower())
    return row is not None


async def link_rollback(conn: asyncpg.Connection, failed_id: int, rollback_id: int) -> None:
    await conn.execute("UPDATE deployments SET rolled_back_by = $2 WHERE id = $1",
                       failed_id, rollback_id)


async def last_succeeded_version(conn: asyncpg.Connection, cluster: int) -> str | None:
    value = await conn.fetchval(
        "SELECT version FROM deployments WHERE cluster = $1 AND status = 'succeeded' "
        "ORDER BY finished_at DESC, id DESC LIMIT 1", cluster)
    return None if value is None else str(value)
