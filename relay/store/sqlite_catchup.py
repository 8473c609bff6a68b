"""Catch-up on SQLite: functions taking the store's connection (relay.store.catchup_sql)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from relay.store.base import NewDelivery
from relay.store.catchup_sql import (
    CATCH_UP_EVENT,
    LEASE_NAME,
    is_deletion,
    last_head_sql,
    lease_sqls,
    triggered_sql,
    twin_sql,
)


def _p(n: int) -> str:
    return f"?{n}"  # numbered: a statement may use one argument twice


def twin(conn: sqlite3.Connection, d: NewDelivery) -> str | None:
    """The id of an earlier delivery of the same push as `d` (None: `d` is the first)."""
    if d.ref is None or is_deletion(d.after) or d.ignored is not None:
        return None
    row = conn.execute(twin_sql(_p, catch_up=d.event == CATCH_UP_EVENT),
                       (d.source, d.ref, d.after, d.repo)).fetchone()
    return str(row[0]) if row is not None else None


def head_known(conn: sqlite3.Connection, source: str, repo: str, ref: str, sha: str,
               clusters: Sequence[int]) -> bool:
    """True when a stored delivery brought `sha` to `ref`, or it was triggered on a cluster."""
    if conn.execute(twin_sql(_p, catch_up=True), (source, ref, sha, repo)).fetchone():
        return True
    return bool(clusters) and conn.execute(triggered_sql(_p, len(clusters)),
                                           (sha, *clusters)).fetchone() is not None


def last_head(conn: sqlite3.Connection, source: str, repo: str, ref: str) -> str | None:
    row = conn.execute(last_head_sql(_p), (source, ref, repo)).fetchone()
    return None if row is None or is_deletion(row[0]) else str(row[0])


def take_lease(conn: sqlite3.Connection, owner: str, now: float, hold_s: float) -> bool:
    """Take (or keep) the reconcile lease until now + hold_s; False while another holds it."""
    insert, take = lease_sqls(_p)
    conn.execute(insert, (LEASE_NAME, owner, now + hold_s))
    cur = conn.execute(take, (owner, now + hold_s, LEASE_NAME, now))
    return cur.rowcount == 1
