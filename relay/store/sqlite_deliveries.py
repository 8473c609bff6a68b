"""The web side's queries on SQLite: store a delivery once with its deployments, read back.

Each function runs on the store's thread, inside the caller's transaction where it writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from relay.deployment import Deployment, NewDeployment, iso
from relay.store import sqlite_catchup as catchup
from relay.store.base import Accepted, NewDelivery, StoredDelivery
from relay.store.catchup_sql import CATCH_UP_EVENT
from relay.store.rows import (
    DELIVERY_COLUMNS,
    DEPLOYMENT_COLUMNS,
    INSERT_COLUMNS,
    delivery_from_row,
    deployment_from_row,
    headers_json,
    insert_values,
)


def accept(
    conn: sqlite3.Connection, d: NewDelivery, deployments: Sequence[NewDeployment]
) -> Accepted:
    # Catch-up: the same push stored twice (a catch_up delivery and the real one) deploys once.
    earlier = catchup.twin(conn, d)
    if earlier is not None and d.event == CATCH_UP_EVENT:
        found = get_delivery(conn, earlier)
        assert found is not None  # read in this transaction
        return Accepted(found.delivery.delivery_id, True, found.deployments)
    cur = conn.execute(
        f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (source, delivery_key) DO NOTHING",
        (
            d.delivery_id, d.source, d.delivery_key, d.event, d.event_name, iso(d.received_at),
            d.content_type, headers_json(d.headers), d.body, d.repo, d.ref, d.before, d.after,
            d.commit, iso(d.head_commit_at), d.ignored,
        ),
    )
    if cur.rowcount == 0:
        existing = get_delivery_by_key(conn, d.source, d.delivery_key)
        return Accepted(existing.delivery.delivery_id, True, existing.deployments)
    if earlier is not None:  # a real delivery of a push catch-up already stored: kept, no deploy
        conn.execute("UPDATE deliveries SET ignored = ? WHERE delivery_id = ?",
                     (f"already caught up by delivery {earlier}", d.delivery_id))
        found = get_delivery(conn, earlier)
        return Accepted(d.delivery_id, True, found.deployments if found else ())
    created = tuple(
        insert_deployment(conn, dep, d.delivery_id, d.received_at)
        for dep in deployments
    )
    return Accepted(d.delivery_id, False, created)


def insert_deployment(
    conn: sqlite3.Connection, dep: NewDeployment, delivery_id: str | None, now: datetime
) -> Deployment:
    values = insert_values(dep, delivery_id, now, time=iso, flag=int)
    marks = ", ".join("?" for _ in values)
    row = conn.execute(
        f"INSERT INTO deployments ({INSERT_COLUMNS}) VALUES ({marks}) "
        f"RETURNING {DEPLOYMENT_COLUMNS}",
        values,
    ).fetchone()
    return deployment_from_row(row)


def get_delivery(conn: sqlite3.Connection, delivery_id: str) -> StoredDelivery | None:
    row = conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)
    ).fetchone()
    return with_deployments(conn, row) if row else None


def get_delivery_by_key(conn: sqlite3.Connection, source: str, key: str) -> StoredDelivery:
    row = conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE source = ? AND delivery_key = ?",
        (source, key),
    ).fetchone()
    return with_deployments(conn, row)


def with_deployments(conn: sqlite3.Connection, row: sqlite3.Row) -> StoredDelivery:
    deps = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE delivery_id = ? ORDER BY id",
        (row["delivery_id"],),
    )
    return StoredDelivery(delivery_from_row(row), tuple(deployment_from_row(r) for r in deps))
