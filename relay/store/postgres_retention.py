"""Retention on PostgreSQL: functions taking a connection (each call its own short statement).

Each `delete_*_batch` is one statement of at most `limit` rows in autocommit (no long
transaction, no long lock); rows locked by another transaction are skipped (SKIP LOCKED) and
taken by a later batch. The rules of what is kept are in relay.store.retention_sql.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from relay.store.retention_sql import (
    CLUSTERS_SQL,
    NEWEST_SUCCEEDED_SQL,
    OPTIONAL_TABLES,
    Guards,
    guards,
    newest_triggered_sql,
    prunable_deliveries_sql,
    prunable_deployments_sql,
)


def _p(n: int) -> str:
    return f"${n}"


async def table_guards(conn: asyncpg.Connection) -> Guards:
    """The guards of the optional tables present in this database (current schema)."""
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
        list(OPTIONAL_TABLES))
    columns: dict[str, set[str]] = {}
    for r in rows:
        columns.setdefault(r["table_name"], set()).add(r["column_name"])
    return guards(columns)


async def protected_ids(conn: asyncpg.Connection) -> list[int]:
    """Ids of the deployments no prune may remove (newest succeeded / triggered per cluster)."""
    keep = {int(r[0]) for r in await conn.fetch(NEWEST_SUCCEEDED_SQL) if r[0] is not None}
    for r in await conn.fetch(CLUSTERS_SQL):
        for timed in (False, True):
            found = await conn.fetchval(newest_triggered_sql(_p, timed=timed), r[0])
            if found is not None:
                keep.add(int(found))
    return sorted(keep)


async def count_prunable(conn: asyncpg.Connection, deliveries_before: datetime,
                         deployments_before: datetime, protected: list[int],
                         g: Guards) -> tuple[int, int]:
    """(deliveries, deployments) a prune would remove now (see sqlite_retention)."""
    dep = await conn.fetchval(prunable_deployments_sql(_p, len(protected), g, count=True),
                              deployments_before, *protected)
    dlv = await conn.fetchval(prunable_deliveries_sql(_p, g, count=True), deliveries_before)
    return int(dlv), int(dep)


async def delete_deployments_batch(conn: asyncpg.Connection, before: datetime,
                                   protected: list[int], g: Guards, limit: int) -> int:
    """Delete up to `limit` prunable deployments in one statement."""
    select = prunable_deployments_sql(_p, len(protected), g, count=False)
    status = await conn.execute(
        f"DELETE FROM deployments WHERE id IN ({select} FOR UPDATE SKIP LOCKED)",
        before, *protected, limit)
    return int(status.split()[-1])


async def delete_deliveries_batch(conn: asyncpg.Connection, before: datetime, g: Guards,
                                  limit: int) -> int:
    """Delete up to `limit` deliveries no deployment refers to, in one statement."""
    select = prunable_deliveries_sql(_p, g, count=False)
    status = await conn.execute(
        f"DELETE FROM deliveries WHERE delivery_id IN ({select} FOR UPDATE SKIP LOCKED)",
        before, limit)
    return int(status.split()[-1])


async def schema_versions(conn: asyncpg.Connection) -> list[tuple[int, str]]:
    """(version, applied_at) of every applied migration, oldest first ([] on a new database)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return []
    return [(int(r["version"]), r["applied_at"].isoformat()) for r in await conn.fetch(
        "SELECT version, applied_at FROM schema_migrations ORDER BY version")]
