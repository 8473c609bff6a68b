"""Catch-up on PostgreSQL: functions taking a connection (relay.store.catchup_sql)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg  # type: ignore[import-untyped, unused-ignore]

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
    return f"${n}"


async def twin(conn: asyncpg.Connection, d: NewDelivery) -> str | None:
    """The id of an earlier delivery of the same push as `d` (None: `d` is the first)."""
    if d.ref is None or is_deletion(d.after) or d.ignored is not None:
        return None
    found = await conn.fetchval(twin_sql(_p, catch_up=d.event == CATCH_UP_EVENT),
                                d.source, d.ref, d.after, d.repo)
    return str(found) if found is not None else None


async def head_known(conn: asyncpg.Connection, source: str, repo: str, ref: str, sha: str,
                     clusters: Sequence[int]) -> bool:
    """True when a stored delivery brought `sha` to `ref`, or it was triggered on a cluster."""
    if await conn.fetchval(twin_sql(_p, catch_up=True), source, ref, sha, repo) is not None:
        return True
    return bool(clusters) and await conn.fetchval(
        triggered_sql(_p, len(clusters)), sha, *clusters) is not None


async def last_head(conn: asyncpg.Connection, source: str, repo: str, ref: str) -> str | None:
    found = await conn.fetchval(last_head_sql(_p), source, ref, repo)
    return None if found is None or is_deletion(found) else str(found)


async def take_lease(conn: asyncpg.Connection, owner: str, now: float, hold_s: float) -> bool:
    """Take (or keep) the reconcile lease until now + hold_s; False while another holds it."""
    insert, take = lease_sqls(_p)
    await conn.execute(insert, LEASE_NAME, owner, now + hold_s)
    status = await conn.execute(take, owner, now + hold_s, LEASE_NAME, now)
    return bool(status == "UPDATE 1")
