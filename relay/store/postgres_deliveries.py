"""The web side's queries on PostgreSQL: store a delivery once with its deployments, read back.

Each function runs on a connection inside the caller's READ COMMITTED transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from relay.deployment import Deployment, NewDeployment
from relay.store import postgres_catchup as catchup
from relay.store import postgres_queue as queue
from relay.store.base import Accepted, NewDelivery, StoredDelivery, StoreError
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


def _same(value: datetime | None) -> datetime | None:
    return value


async def accept(
    conn: asyncpg.Connection, d: NewDelivery, deployments: Sequence[NewDeployment]
) -> Accepted:
    """Insert the delivery and queue its deployments, or return the copy already stored."""
    # Catch-up: the same push stored twice (a catch_up delivery and the real one) deploys once.
    earlier = await catchup.twin(conn, d)
    if earlier is not None and d.event == CATCH_UP_EVENT:
        row = await conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1", earlier)
        found = await with_deployments(conn, row)
        return Accepted(found.delivery.delivery_id, True, found.deployments)
    inserted = await conn.fetchval(
        f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16) "
        "ON CONFLICT DO NOTHING RETURNING delivery_id",
        d.delivery_id, d.source, d.delivery_key, d.event, d.event_name, d.received_at,
        d.content_type, headers_json(d.headers), d.body, d.repo, d.ref, d.before, d.after,
        d.commit, d.head_commit_at, d.ignored,
    )
    if inserted is None:
        # Every unique index arbitrates (a concurrent copy may meet the primary key first).
        # The row that won is committed (ON CONFLICT waited for it), and this new statement
        # sees it: READ COMMITTED takes a fresh snapshot per statement.
        row = await conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE source = $1 AND delivery_key = $2",
            d.source, d.delivery_key)
        if row is None:
            raise StoreError(f"delivery id {d.delivery_id} is taken by another delivery")
        existing = await with_deployments(conn, row)
        return Accepted(existing.delivery.delivery_id, True, existing.deployments)
    if earlier is not None:  # a real delivery of a push catch-up already stored: kept, no deploy
        await conn.execute("UPDATE deliveries SET ignored = $1 WHERE delivery_id = $2",
                           f"already caught up by delivery {earlier}", d.delivery_id)
        row = await conn.fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1", earlier)
        found = await with_deployments(conn, row)
        return Accepted(d.delivery_id, True, found.deployments)
    created = [await insert_deployment(conn, dep, d.delivery_id, d.received_at)
               for dep in deployments]
    if created:
        await queue.notify(conn)
    return Accepted(d.delivery_id, False, tuple(created))


async def insert_deployment(
    conn: asyncpg.Connection, dep: NewDeployment, delivery_id: str | None, now: datetime
) -> Deployment:
    values = insert_values(dep, delivery_id, now, time=_same, flag=bool)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO deployments ({INSERT_COLUMNS}) VALUES ({marks}) "
        f"RETURNING {DEPLOYMENT_COLUMNS}",
        *values,
    )
    return deployment_from_row(row)


async def with_deployments(conn: asyncpg.Connection, row: asyncpg.Record) -> StoredDelivery:
    deps = await conn.fetch(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE delivery_id = $1 ORDER BY id",
        row["delivery_id"],
    )
    return StoredDelivery(delivery_from_row(row), tuple(deployment_from_row(r) for r in deps))
