"""Deploy gates on SQLite (docs/gates.md): waiting deployments, conditional moves between
statuses, pauses by hand, quarantined commits, rollback links.

Functions take a connection; the thin SQLiteStore methods run them (writes inside one
BEGIN IMMEDIATE transaction). Every move is conditional on the status it was decided from,
so a second replica's identical decision changes nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from relay.deployment import FINAL_STATUSES, Deployment, DeploymentStatus, iso, parse_iso
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row

_GATED = "('held', 'waiting_checks')"


def gate_waiting(conn: sqlite3.Connection) -> tuple[Deployment, ...]:
    """Every `held` / `waiting_checks` deployment, and the `queued` ones of their clusters."""
    rows = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE status IN "
        f"('held', 'waiting_checks', 'queued') AND cluster IN (SELECT cluster FROM deployments "
        f"WHERE status IN {_GATED}) ORDER BY id").fetchall()
    return tuple(deployment_from_row(r) for r in rows)


def gate_move(conn: sqlite3.Connection, dep_id: int, expect: DeploymentStatus,
              to: DeploymentStatus, now: datetime, superseded_by: int | None,
              error: str | None) -> Deployment | None:
    """Move `dep_id` from `expect` to `to` (final: with finished_at); None if it was not
    `expect` any more (another replica moved it, or it was canceled)."""
    final = to in FINAL_STATUSES
    cur = conn.execute(
        "UPDATE deployments SET status = ?, superseded_by = COALESCE(?, superseded_by), "
        "error = COALESCE(?, error), finished_at = CASE WHEN ? THEN ? ELSE finished_at END "
        "WHERE id = ? AND status = ?",
        (to.value, superseded_by, error, int(final), iso(now), dep_id, expect.value))
    if cur.rowcount != 1:
        return None
    row = conn.execute(f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?",
                       (dep_id,)).fetchone()
    return deployment_from_row(row)


def hold_claimed(conn: sqlite3.Connection, dep_id: int, fence: int) -> bool:
    """A just-claimed deployment goes back to `held` (its lease let go); False if the fence
    moved."""
    cur = conn.execute(
        "UPDATE deployments SET status = 'held', lease_owner = NULL, lease_expires_at = NULL, "
        "fence = fence + 1 WHERE id = ? AND fence = ? AND status = 'triggering'",
        (dep_id, fence))
    return cur.rowcount == 1


def pauses(conn: sqlite3.Connection) -> tuple[Pause, ...]:
    rows = conn.execute(
        "SELECT cluster, reason, until, paused_at FROM cluster_pauses ORDER BY cluster")
    return tuple(Pause(int(r[0]), r[1], parse_iso(r[2]), parse_iso(r[3])) for r in rows)


def set_pause(conn: sqlite3.Connection, pause: Pause) -> None:
    conn.execute(
        "INSERT INTO cluster_pauses (cluster, reason, until, paused_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (cluster) DO UPDATE SET reason = excluded.reason, until = excluded.until, "
        "paused_at = excluded.paused_at",
        (pause.cluster, pause.reason, iso(pause.until), iso(pause.since)))


def clear_pause(conn: sqlite3.Connection, cluster: int) -> bool:
    return conn.execute("DELETE FROM cluster_pauses WHERE cluster = ?",
                        (cluster,)).rowcount == 1


def quarantine(conn: sqlite3.Connection) -> tuple[QuarantineEntry, ...]:
    rows = conn.execute("SELECT cluster, version, deployment_id, created_at FROM quarantine "
                        "ORDER BY cluster, created_at")
    return tuple(_entry(r[0], r[1], r[2], r[3]) for r in rows)


def add_quarantine(conn: sqlite3.Connection, entry: QuarantineEntry) -> None:
    conn.execute(
        "INSERT INTO quarantine (cluster, version, deployment_id, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (cluster, version) DO UPDATE SET "
        "deployment_id = excluded.deployment_id, created_at = excluded.created_at",
        (entry.cluster, entry.version.lower(), entry.deployment_id, iso(entry.created_at)))


def clear_quarantine(conn: sqlite3.Connection, cluster: int, version: str) -> bool:
    return conn.execute("DELETE FROM quarantine WHERE cluster = ? AND version = ?",
                        (cluster, version.lower())).rowcount == 1


def link_rollback(conn: sqlite3.Connection, failed_id: int, rollback_id: int) -> None:
    conn.execute("UPDATE deployments SET rolled_back_by = ? WHERE id = ?",
                 (rollback_id, failed_id))


def last_succeeded_version(conn: sqlite3.Connection, cluster: int) -> str | None:
    row = conn.execute(
        "SELECT version FROM deployments WHERE cluster = ? AND status = 'succeeded' "
        "ORDER BY finished_at DESC, id DESC LIMIT 1", (cluster,)).fetchone()
    return None if row is None else str(row[0])


def _entry(cluster: object, version: object, dep_id: object, at: object) -> QuarantineEntry:
    created = parse_iso(str(at))
    assert created is not None  # NOT NULL column
    return QuarantineEntry(int(str(cluster)), str(version), int(str(dep_id)), created)
