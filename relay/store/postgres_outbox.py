"""The outbox on PostgreSQL: write messages inside a status change's transaction, claim with
`FOR UPDATE SKIP LOCKED` and a lease (so replicas never send one message twice at once), settle.

`record` runs inside the caller's transaction; the sender's functions in their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg  # type: ignore[import-untyped, unused-ignore]

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
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row

_MARKS = ", ".join(f"${i + 1}" for i in range(len(INSERT_COLUMNS.split(","))))


async def record(conn: asyncpg.Connection, policy: Policy | None,
                 deployments: Iterable[Deployment], now: float) -> None:
    """Write the messages of `deployments`' new statuses (a final one also reports the
    deployments it superseded). Nothing when no policy is set.

    Set-based: one SELECT for the deployments every final status superseded (an index:
    deployments_by_superseded_by), one executemany of all the messages; a claim that
    supersedes 1,000 queued pushes costs two round trips here, not 2,000."""
    if policy is None:
        return
    deps = list(deployments)
    finals = [dep.id for dep in deps if not dep.status.is_open]
    superseded: dict[int, list[Deployment]] = {}
    if finals:
        for r in await conn.fetch(
                f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE superseded_by = "
                "ANY($1::bigint[]) AND status = 'superseded' ORDER BY id", finals):
            old = deployment_from_row(r)
            assert old.superseded_by is not None  # the WHERE clause
            superseded.setdefault(old.superseded_by, []).append(old)
    rows = [insert_values(m, now) for dep in deps
            for m in policy(dep, tuple(superseded.get(dep.id, ())))]
    if rows:
        await conn.executemany(f"INSERT INTO outbox ({INSERT_COLUMNS}) VALUES ({_MARKS})", rows)


async def get(conn: asyncpg.Connection, dep_id: int) -> Deployment:
    """The deployment `dep_id` as stored now (inside the caller's transaction)."""
    row = await conn.fetchrow(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1", dep_id)
    return deployment_from_row(row)


async def claim(conn: asyncpg.Connection, owner: str, now: float, lease_s: float, limit: int,
                max_age_s: float,
                ) -> tuple[tuple[OutboxRow, ...], tuple[tuple[str, str, str], ...]]:
    """As relay.store.sqlite_outbox.claim; rows another replica is claiming are skipped."""
    dropped = await conn.fetch(
        "DELETE FROM outbox WHERE id IN (SELECT o.id FROM outbox o WHERE "
        "(o.lease_expires_at IS NULL OR o.lease_expires_at < $1) AND (o.created_at < $2 OR "
        "(o.coalesce_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox n WHERE "
        "n.coalesce_key = o.coalesce_key AND n.id > o.id))) FOR UPDATE SKIP LOCKED) "
        "RETURNING host, kind, target", now, now - max_age_s)
    rows = await conn.fetch(
        f"SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE next_attempt_at <= $1 AND "
        "(lease_expires_at IS NULL OR lease_expires_at < $1) AND NOT EXISTS "
        "(SELECT 1 FROM outbox p WHERE p.deployment_id = o.deployment_id AND p.id < o.id) "
        "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)
    if rows:
        await conn.execute(
            "UPDATE outbox SET lease_owner = $1, lease_expires_at = $2 WHERE id = ANY($3)",
            owner, now + lease_s, [r["id"] for r in rows])
    return (tuple(row_from(r) for r in rows),
            tuple((str(r["host"]), str(r["kind"]), str(r["target"])) for r in dropped))


async def done(conn: asyncpg.Connection, owner: str, settled: Sequence[int],
               retries: Sequence[tuple[int, float]]) -> None:
    """As relay.store.sqlite_outbox.done: a batch settled in one transaction."""
    if settled:
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND lease_owner = $2",
                           list(settled), owner)
    if retries:
        await conn.executemany(
            "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + 1, "
            "lease_owner = NULL, lease_expires_at = NULL WHERE id = $2 AND lease_owner = $3",
            [(at, i, owner) for i, at in retries])


async def pending(conn: asyncpg.Connection) -> int:
    """Messages not yet delivered (reports and notifications)."""
    return int(await conn.fetchval("SELECT COUNT(*) FROM outbox"))


async def pending_for(conn: asyncpg.Connection, dep_id: int,
                      limit: int = 100) -> tuple[PendingMessage, ...]:
    """As relay.store.sqlite_outbox.pending_for."""
    rows = await conn.fetch(f"SELECT {PENDING_COLUMNS} FROM outbox WHERE deployment_id = $1 "
                            "ORDER BY id LIMIT $2", dep_id, limit)
    return tuple(pending_from(r) for r in rows)


async def host_deployment_id(conn: asyncpg.Connection, dep_id: int) -> str | None:
    """The git host's deployment id stored for relay deployment `dep_id` (None: not created)."""
    value = await conn.fetchval(
        "SELECT host_deployment_id FROM deployments WHERE id = $1", dep_id)
    return None if value is None else str(value)


async def save_host_deployment_id(conn: asyncpg.Connection, dep_id: int, host_id: str) -> None:
    """Remember the host deployment created for `dep_id` (before anything else is sent)."""
    await conn.execute("UPDATE deployments SET host_deployment_id = $1 WHERE id = $2",
                       host_id, dep_id)
