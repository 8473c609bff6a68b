"""Retention on SQLite: functions taking the store's connection (run on its thread).

Each `delete_*_batch` is one short IMMEDIATE transaction of at most `limit` rows, so that
deliveries arriving meanwhile wait for the write lock a few milliseconds at most; the caller
(relay.retention) loops, yielding to the event loop between batches. The rules of what is
kept are in relay.store.retention_sql.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from relay.deployment import iso
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

VACUUM_PAGES = 256  # pages given back per step of incremental vacuum (1 MiB at 4 KiB pages)


def _p(n: int) -> str:
    return f"?{n}"  # numbered: a statement may use one argument twice


def table_guards(conn: sqlite3.Connection) -> Guards:
    """The guards of the optional tables present in this store."""
    columns: dict[str, set[str]] = {}
    for table in OPTIONAL_TABLES:
        found = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if found:
            columns[table] = found
    return guards(columns)


def protected_ids(conn: sqlite3.Connection) -> list[int]:
    """Ids of the deployments no prune may remove (newest succeeded / triggered per cluster)."""
    keep = {int(r[0]) for r in conn.execute(NEWEST_SUCCEEDED_SQL) if r[0] is not None}
    for (cluster,) in conn.execute(CLUSTERS_SQL).fetchall():
        for timed in (False, True):
            row = conn.execute(newest_triggered_sql(_p, timed=timed), (cluster,)).fetchone()
            if row is not None:
                keep.add(int(row[0]))
    return sorted(keep)


def count_prunable(conn: sqlite3.Connection, deliveries_before: datetime,
                   deployments_before: datetime, protected: list[int],
                   g: Guards) -> tuple[int, int]:
    """(deliveries, deployments) a prune would remove now; deliveries that only deployments
    pruned in the same run refer to are not counted."""
    dep = conn.execute(prunable_deployments_sql(_p, len(protected), g, count=True),
                       (iso(deployments_before), *protected)).fetchone()[0]
    dlv = conn.execute(prunable_deliveries_sql(_p, g, count=True),
                       (iso(deliveries_before),)).fetchone()[0]
    return int(dlv), int(dep)


def delete_deployments_batch(conn: sqlite3.Connection, before: datetime, protected: list[int],
                             g: Guards, limit: int) -> int:
    """Delete up to `limit` prunable deployments (inside the caller's transaction)."""
    ids = [r[0] for r in conn.execute(prunable_deployments_sql(_p, len(protected), g,
                                                               count=False),
                                      (iso(before), *protected, limit))]
    if ids:
        conn.execute(f"DELETE FROM deployments WHERE id IN ({', '.join('?' * len(ids))})", ids)
    return len(ids)


def delete_deliveries_batch(conn: sqlite3.Connection, before: datetime, g: Guards,
                            limit: int) -> int:
    """Delete up to `limit` deliveries no deployment refers to (inside the caller's
    transaction)."""
    ids = [r[0] for r in conn.execute(prunable_deliveries_sql(_p, g, count=False),
                                      (iso(before), limit))]
    if ids:
        conn.execute(f"DELETE FROM deliveries WHERE delivery_id IN "
                     f"({', '.join('?' * len(ids))})", ids)
    return len(ids)


def vacuum_step(conn: sqlite3.Connection, pages: int = VACUUM_PAGES) -> int:
    """Give up to `pages` free pages back to the file system; the free pages left.

    Only when the file uses `auto_vacuum = INCREMENTAL` (new stores do; docs/operations.md
    says how to switch an existing one): otherwise 0, and the free pages are reused by later
    writes instead.
    """
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    # executescript steps the pragma to its end: through execute(), Python's sqlite3 steps it
    # once, and one page is freed per call.
    conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def schema_versions(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(version, applied_at) of every applied migration, oldest first ([] on a new file)."""
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'schema_migrations'").fetchone()
    if not exists:
        return []
    return [(int(v), str(at)) for v, at in conn.execute(
        "SELECT version, applied_at FROM schema_migrations ORDER BY version")]
