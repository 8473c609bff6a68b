"""The shared store for several replicas: PostgreSQL through an asyncpg connection pool.

Every call is bounded: acquiring a connection by `connect_timeout_s`, each statement by
`query_timeout_s` (asyncpg's command_timeout), the whole call by their sum. Any failure to
reach or use the database is a StoreError (the web layer answers 503); the pool opens new
connections as they are needed, so the store recovers by itself when the database is back.
Leases compare the `now` the worker passes in (as SQLiteStore does), so replicas' clocks must
agree to well within `rollout.lease_s` (NTP does); see docs/replicas.md.

The SQL lives beside it: postgres_deliveries.py (the web side), postgres_queue.py (claims,
leases, fencing) and postgres_notify.py (LISTEN for wake-ups).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped, unused-ignore]

from relay.deployment import Deployment, DeploymentStatus, NewDeployment
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.reports import Policy
from relay.rollout import Observation
from relay.scheduling import History
from relay.store import admin_reads as reads
from relay.store import postgres_catchup as catchup
from relay.store import postgres_deliveries as deliveries
from relay.store import postgres_gates as gates
from relay.store import postgres_outbox as outbox
from relay.store import postgres_queue as queue
from relay.store import postgres_retention as retention
from relay.store.base import (
    Accepted,
    Claim,
    NewDelivery,
    QueueSummary,
    StoredDelivery,
    StoreError,
)
from relay.store.outbox_rows import OutboxRow, PendingMessage
from relay.store.postgres_notify import Listener
from relay.store.retention_sql import Keep
from relay.store.rows import (
    DELIVERY_COLUMNS,
    DEPLOYMENT_COLUMNS,
    QUEUE_SUMMARY_SQL,
    deployment_from_row,
    migrations,
    summary_from_rows,
)

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[T]]
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
           OSError, TimeoutError)


def mask_url(url: str) -> str:
    """The URL with any password (user info or query) replaced by ***, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = [(k, "***" if k.lower() in _SECRET_PARAMS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


_SECRET_PARAMS = frozenset({"password", "sslpassword"})


class PostgresStore:
    """Store implementation on PostgreSQL: one database shared by every replica."""

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0,
                 query_timeout_s: float = 5.0) -> None:
        self._url = url
        self._safe_url = mask_url(url)
        self._password = urlsplit(url).password
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._query_timeout_s = query_timeout_s
        self._pool: asyncpg.Pool | None = None
        self.last_write_error: str | None = None  # None once a write succeeded again
        # What each status change writes to the outbox (relay.reports; None: nothing).
        self.outbox_policy: Policy | None = None
        self._listener = Listener(self._connect_listener, queue.NOTIFY_CHANNEL,
                                  ping_timeout_s=query_timeout_s, describe=self._describe)

    def __repr__(self) -> str:
        return f"PostgresStore(url={self._safe_url!r}, pool_size={self._pool_size})"

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0,
                   query_timeout_s: float = 5.0) -> PostgresStore:
        """Connect, and bring the schema up to date (safe when replicas start together)."""
        store = cls(url, pool_size=pool_size, connect_timeout_s=connect_timeout_s,
                    query_timeout_s=query_timeout_s)
        try:
            store._pool = await store._guard(asyncpg.create_pool(
                # No floor of idle connections: nothing to restore (and log) during an outage.
                url, min_size=0, max_size=pool_size,
                timeout=connect_timeout_s, command_timeout=query_timeout_s,
                max_inactive_connection_lifetime=60.0,
                server_settings={"application_name": "relay"},
            ), within=connect_timeout_s * 3)
            await store._tx(_migrate)
        except BaseException:
            await store.close()
            raise
        return store

    # -- plumbing ---------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        """An error's text, naming the database but never its password."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            text = "did not answer in time"
        if self._password:
            text = text.replace(self._password, "***")
        return f"postgresql {self._safe_url}: {text}"

    async def _guard(self, work: Awaitable[T], *, within: float) -> T:
        try:
            async with asyncio.timeout(within):
                return await work
        except _ERRORS as exc:
            raise StoreError(self._describe(exc)) from exc

    async def _call(self, work: Work[T], *, transaction: bool) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"postgresql {self._safe_url}: store is closed")

        async def run() -> T:
            async with pool.acquire(timeout=self._connect_timeout_s) as conn:
                if not transaction:
                    return await work(conn)
                async with conn.transaction(isolation="read_committed"):
                    return await work(conn)

        return await self._guard(run(), within=self._connect_timeout_s + self._query_timeout_s)

    async def _tx(self, work: Work[T]) -> T:
        """Run `work` in one transaction: all of it is committed, or none."""
        try:
            result = await self._call(work, transaction=True)
        except StoreError as exc:
            self.last_write_error = str(exc)
            raise
        self.last_write_error = None
        return result

    async def _read(self, work: Work[T]) -> T:
        return await self._call(work, transaction=False)

    async def _connect_listener(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._url, timeout=self._connect_timeout_s,
                                     command_timeout=self._query_timeout_s,
                                     server_settings={"application_name": "relay-listen"})

    # -- Store interface ---------------------------------------------------------------------

    async def ping(self) -> None:
        await self._read(lambda c: c.fetchval("SELECT 1"))

    async def ready(self) -> None:
        """A write probe (one row rewritten): raises StoreError unless a write commits now."""
        await self._tx(lambda c: c.execute(
            "INSERT INTO write_probe (id, at) VALUES (1, now()) "
            "ON CONFLICT (id) DO UPDATE SET at = excluded.at"))

    async def close(self) -> None:
        await self._listener.close()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._query_timeout_s)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - close it hard instead
            pool.terminate()

    async def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on every NOTIFY relay_work (new work stored by any replica).

        Waits a little for LISTEN to be in effect; when the database does not answer, the
        listener keeps reconnecting in the background. Returns the way to unsubscribe.
        """
        unsubscribe = self._listener.subscribe(callback)
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await self._listener.listening.wait()
        except TimeoutError:
            pass
        return unsubscribe

    async def accept(
        self, delivery: NewDelivery, deployments: Sequence[NewDeployment]
    ) -> Accepted:
        async def tx(c: asyncpg.Connection) -> Accepted:
            done = await deliveries.accept(c, delivery, deployments)
            await outbox.record(c, self.outbox_policy,
                                () if done.duplicate else done.deployments,
                                delivery.received_at.timestamp())
            return done

        return await self._tx(tx)

    async def get_delivery(self, delivery_id: str) -> StoredDelivery | None:
        async def query(conn: asyncpg.Connection) -> StoredDelivery | None:
            row = await conn.fetchrow(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1", delivery_id)
            return await deliveries.with_deployments(conn, row) if row else None

        return await self._read(query)

    async def get_deployment(self, deployment_id: int) -> Deployment | None:
        row = await self._read(lambda c: c.fetchrow(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1", deployment_id))
        return deployment_from_row(row) if row else None

    async def list_deployments(
        self,
        *,
        cluster: int | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 50,
    ) -> tuple[Deployment, ...]:
        rows = await self._read(lambda c: c.fetch(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments "
            "WHERE ($1::bigint IS NULL OR cluster = $1) AND ($2::text IS NULL OR status = $2) "
            "ORDER BY id DESC LIMIT $3",
            cluster, status.value if status is not None else None, limit))
        return tuple(deployment_from_row(r) for r in rows)

    # -- the admin API's reads (SQL in relay.store.admin_reads) ---------------------------

    async def query_deployments(self, query: reads.DeploymentFilter) -> tuple[Deployment, ...]:
        sql, args = reads.deployment_query(query, "postgres")
        rows = await self._read(lambda c: c.fetch(sql, *args))
        return tuple(deployment_from_row(r) for r in rows)

    async def query_deliveries(
            self, query: reads.DeliveryFilter) -> tuple[reads.DeliverySummary, ...]:
        sql, args = reads.delivery_query(query, "postgres")
        rows = await self._read(lambda c: c.fetch(sql, *args))
        return tuple(reads.delivery_summary_from_row(r) for r in rows)

    async def known_versions(self, cluster: int, prefix: str) -> tuple[str, ...]:
        sql, args = reads.known_versions_query(cluster, prefix, "postgres")
        rows = await self._read(lambda c: c.fetch(sql, *args))
        return tuple(r[0] for r in rows)

    async def enqueue(
        self, deployment: NewDeployment, *, delivery_id: str | None = None, now: datetime
    ) -> Deployment:
        async def tx(conn: asyncpg.Connection) -> Deployment:
            created = await deliveries.insert_deployment(conn, deployment, delivery_id, now)
            await outbox.record(conn, self.outbox_policy, (created,), now.timestamp())
            await queue.notify(conn)
            return created

        return await self._tx(tx)

    async def queue_summary(self) -> QueueSummary:
        rows = await self._read(lambda c: c.fetch(QUEUE_SUMMARY_SQL))
        return summary_from_rows((r["status"], r["n"], r["oldest"]) for r in rows)

    # -- the worker's side -------------------------------------------------------------------

    async def claim(self, *, owner: str, now: datetime, lease_s: float) -> Claim | None:
        async def tx(c: asyncpg.Connection) -> Claim | None:
            got = await queue.claim(c, owner, now, lease_s)
            if got is not None and not got.resumed:
                await outbox.record(c, self.outbox_policy, (*got.superseded, got.deployment),
                                    now.timestamp())
            return got

        return await self._tx(tx)

    async def renew(self, deployment_id: int, *, fence: int, now: datetime,
                    lease_s: float) -> None:
        expires = now + timedelta(seconds=lease_s)
        await self._tx(lambda c: queue.fenced_update(
            c, deployment_id, fence, "lease_expires_at = $3", expires))

    async def save_snapshot(self, deployment_id: int, *, fence: int,
                            snapshot: Observation) -> None:
        await self._tx(lambda c: queue.fenced_update(
            c, deployment_id, fence, "snapshot = $3::jsonb", snapshot.to_json()))

    async def save_progress(self, deployment_id: int, *, fence: int,
                            progress: dict[str, Any]) -> None:
        await self._tx(lambda c: queue.fenced_update(
            c, deployment_id, fence, "progress = $3::jsonb", json.dumps(progress)))

    async def mark_triggering(self, deployment_id: int, *, fence: int, now: datetime,
                              snapshot: Observation | None = None) -> None:
        assignments = "trigger_started_at = $3"
        args: tuple[object, ...] = (now,)
        if snapshot is not None:
            assignments, args = f"{assignments}, snapshot = $4::jsonb", (*args, snapshot.to_json())
        await self._tx(lambda c: queue.fenced_update(c, deployment_id, fence, assignments, *args))

    async def cancel(self, deployment_id: int, *, now: datetime, reason: str) -> Deployment:
        async def tx(c: asyncpg.Connection) -> Deployment:
            dep = await queue.cancel(c, deployment_id, now, reason)
            await outbox.record(c, self.outbox_policy, (dep,), now.timestamp())
            return dep

        return await self._tx(tx)

    async def last_successes(self) -> dict[int, datetime]:
        return await self._read(queue.last_successes)

    async def mark_rolling_out(self, deployment_id: int, *, fence: int,
                               triggered_at: datetime) -> None:
        async def tx(c: asyncpg.Connection) -> None:
            await queue.fenced_update(
                c, deployment_id, fence, "status = 'rolling_out', triggered_at = $3",
                triggered_at)
            await outbox.record(c, self.outbox_policy, (await outbox.get(c, deployment_id),),
                                triggered_at.timestamp())

        await self._tx(tx)

    async def finish(self, deployment_id: int, *, fence: int, status: DeploymentStatus,
                     now: datetime, error: str | None = None) -> Deployment:
        async def tx(c: asyncpg.Connection) -> Deployment:
            dep = await queue.finish(c, deployment_id, fence, status, now, error)
            await outbox.record(c, self.outbox_policy, (dep,), now.timestamp())
            return dep

        return await self._tx(tx)

    async def release(self, deployment_id: int, *, fence: int) -> None:
        async def tx(conn: asyncpg.Connection) -> None:
            await queue.fenced_update(conn, deployment_id, fence,
                                      "lease_owner = NULL, lease_expires_at = NULL")
            await queue.notify(conn)  # another replica resumes it at once

        await self._tx(tx)

    async def history(self, cluster: int) -> History:
        return await self._read(lambda c: queue.history(c, cluster))

    # -- the outbox sender's side (relay.outbox_sender; SQL in relay.store.postgres_outbox) --

    async def outbox_claim(self, *, owner: str, now: float, lease_s: float, limit: int,
                           max_age_s: float,
                           ) -> tuple[tuple[OutboxRow, ...], tuple[tuple[str, str, str], ...]]:
        return await self._tx(lambda c: outbox.claim(c, owner, now, lease_s, limit, max_age_s))

    async def outbox_done(self, *, owner: str, settled: Sequence[int],
                          retries: Sequence[tuple[int, float]]) -> None:
        await self._tx(lambda c: outbox.done(c, owner, settled, retries))

    async def outbox_pending(self) -> int:
        return await self._read(outbox.pending)

    async def outbox_for(self, deployment_id: int) -> tuple[PendingMessage, ...]:
        return await self._read(lambda c: outbox.pending_for(c, deployment_id))

    async def host_deployment_id(self, deployment_id: int) -> str | None:
        return await self._read(lambda c: outbox.host_deployment_id(c, deployment_id))

    async def save_host_deployment_id(self, deployment_id: int, host_id: str) -> None:
        await self._tx(lambda c: outbox.save_host_deployment_id(c, deployment_id, host_id))

    # -- catch-up (SQL in relay.store.postgres_catchup) ------------------------------------

    async def head_known(self, *, source: str, repo: str, ref: str, sha: str,
                         clusters: Sequence[int]) -> bool:
        """True when a stored delivery brought `sha` to `ref`, or it was triggered on one of
        `clusters`."""
        return await self._read(lambda c: catchup.head_known(
            c, source, repo, ref, sha, clusters))

    async def last_head(self, *, source: str, repo: str, ref: str) -> str | None:
        """The head the newest stored delivery of `ref` brought (None: none, or a deletion)."""
        return await self._read(lambda c: catchup.last_head(c, source, repo, ref))

    async def take_reconcile_lease(self, *, owner: str, now: datetime, hold_s: float) -> bool:
        """Take (or keep) the one catch-up lease until now + hold_s; False: another holds it."""
        at = now.timestamp()
        return await self._tx(lambda c: catchup.take_lease(c, owner, at, hold_s))

    # -- retention, schema (SQL in relay.store.postgres_retention) ------------------------

    async def prune_keep(self) -> Keep:
        """What a prune run must keep (relay.store.retention_sql)."""
        async def read(conn: asyncpg.Connection) -> Keep:
            protected = await retention.protected_ids(conn)
            return Keep(tuple(protected), await retention.table_guards(conn))

        return await self._read(read)

    async def count_prunable(self, *, deliveries_before: datetime, deployments_before: datetime,
                             keep: Keep) -> tuple[int, int]:
        """(deliveries, deployments) a prune would remove now."""
        return await self._read(lambda c: retention.count_prunable(
            c, deliveries_before, deployments_before, list(keep.protected), keep.guards))

    async def prune_deployments(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete up to `limit` prunable deployments in one statement; how many."""
        return await self._read(lambda c: retention.delete_deployments_batch(
            c, before, list(keep.protected), keep.guards, limit))

    async def prune_deliveries(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete up to `limit` unreferenced deliveries in one statement; how many."""
        return await self._read(lambda c: retention.delete_deliveries_batch(
            c, before, keep.guards, limit))

    async def give_back_space(self) -> int:
        """Nothing to do: autovacuum reuses the space of deleted rows."""
        return 0

    async def schema_versions(self) -> list[tuple[int, str]]:
        """(version, applied_at) of the applied migrations, oldest first."""
        return await self._read(retention.schema_versions)

    # -- deploy gates (SQL in relay.store.postgres_gates) ---------------------------------

    async def gate_waiting(self) -> tuple[Deployment, ...]:
        return await self._read(gates.gate_waiting)

    async def gate_move(self, deployment_id: int, *, expect: DeploymentStatus,
                        to: DeploymentStatus, now: datetime, superseded_by: int | None = None,
                        error: str | None = None) -> Deployment | None:
        async def tx(conn: asyncpg.Connection) -> Deployment | None:
            moved = await gates.gate_move(conn, deployment_id, expect, to, now, superseded_by,
                                          error)
            if moved is not None:  # reported and notified like every status change
                await outbox.record(conn, self.outbox_policy, (moved,), now.timestamp())
                if to is DeploymentStatus.QUEUED:
                    await queue.notify(conn)
            return moved

        return await self._tx(tx)

    async def hold_claimed(self, deployment_id: int, *, fence: int, now: datetime) -> bool:
        async def tx(conn: asyncpg.Connection) -> bool:
            held = await gates.hold_claimed(conn, deployment_id, fence)
            if held:
                await outbox.record(conn, self.outbox_policy,
                                    (await outbox.get(conn, deployment_id),), now.timestamp())
            return held

        return await self._tx(tx)

    async def pauses(self) -> tuple[Pause, ...]:
        return await self._read(gates.pauses)

    async def set_pause(self, pause: Pause) -> None:
        await self._tx(lambda c: gates.set_pause(c, pause))

    async def clear_pause(self, cluster: int) -> bool:
        return await self._tx(lambda c: gates.clear_pause(c, cluster))

    async def quarantine(self) -> tuple[QuarantineEntry, ...]:
        return await self._read(gates.quarantine)

    async def add_quarantine(self, entry: QuarantineEntry) -> None:
        await self._tx(lambda c: gates.add_quarantine(c, entry))

    async def clear_quarantine(self, cluster: int, version: str) -> bool:
        return await self._tx(lambda c: gates.clear_quarantine(c, cluster, version))

    async def link_rollback(self, failed_id: int, rollback_id: int) -> None:
        await self._tx(lambda c: gates.link_rollback(c, failed_id, rollback_id))

    async def last_succeeded_version(self, cluster: int) -> str | None:
        return await self._read(lambda c: gates.last_succeeded_version(c, cluster))


async def _migrate(conn: asyncpg.Connection) -> None:
    """Apply the missing migrations; the lock makes replicas starting together take turns."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *queue.MIGRATION_LOCK)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    for version, sql in migrations("postgres"):
        if version not in done:
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

