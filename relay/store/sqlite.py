"""The embedded store: one SQLite file in WAL mode with synchronous=FULL.

Every statement runs on one dedicated thread that owns the connection, so the event loop never
blocks on disk and writes never interleave. Write transactions start with BEGIN IMMEDIATE: the
write lock is taken up front, so two writers (threads or processes) can never deadlock on a
read-to-write upgrade; a second process waits up to `busy_timeout_ms` for the lock.

Before every write (and on `ping`) the store checks that its path still names the file it
has open (same device and inode): when the directory was removed, writes would otherwise go
into deleted files and be lost at the next start. A missing file is a StoreError (the web
layer answers 503, /readyz is not ready); a path that names another file again (the volume is
back, the file was restored) is reopened.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from relay.deployment import Deployment, DeploymentStatus, NewDeployment, iso
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.reports import Policy
from relay.rollout import Observation
from relay.scheduling import History
from relay.store import admin_reads as reads
from relay.store import sqlite_accept
from relay.store import sqlite_catchup as catchup
from relay.store import sqlite_deliveries as deliveries
from relay.store import sqlite_gates as gates
from relay.store import sqlite_outbox as outbox
from relay.store import sqlite_queue as queue
from relay.store import sqlite_retention as retention
from relay.store.base import (
    Accepted,
    Claim,
    NewDelivery,
    QueueSummary,
    StoredDelivery,
    StoreError,
)
from relay.store.outbox_rows import OutboxRow, PendingMessage
from relay.store.retention_sql import Keep
from relay.store.rows import (
    DEPLOYMENT_COLUMNS,
    QUEUE_SUMMARY_SQL,
    deployment_from_row,
    migrations,
    summary_from_rows,
)
from relay.store.sqlite_batch import GroupCommit
from relay.store.sqlite_thread import StoreThread, ThreadBusy, ThreadClosed

if TYPE_CHECKING:
    from relay.metrics import Metrics

T = TypeVar("T")


class SQLiteStore:
    """Store implementation on a local SQLite file (single process, or several on one host)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = StoreThread("relay-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self.last_write_error: str | None = None  # None once a write succeeded again
        # What each status change writes to the outbox (relay.reports; None: nothing).
        self.outbox_policy: Policy | None = None
        # Deliveries are written in group transactions, many per fsync (sqlite_batch.py),
        # set-based (sqlite_accept.py), in the store thread's first lane.
        self._accepts: GroupCommit[sqlite_accept.Item] = GroupCommit(
            functools.partial(self._run_write, first=True), self._checked_db,
            label=f"sqlite {self.path}",
            transaction=lambda conn, items: sqlite_accept.accept_batch(
                conn, items, self.outbox_policy))

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self.path)!r})"

    def observe_with(self, metrics: Metrics) -> None:
        """Time every job of the store's thread into `metrics` (relay_store_wait_seconds,
        relay_store_job_seconds: how long ingest and other work waited and ran)."""
        self._thread.observe = metrics.store_observer()

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_ms: int = 5000) -> SQLiteStore:
        store = cls(path, busy_timeout_ms=busy_timeout_ms)
        try:
            await store._run(store._connect)
        except BaseException:
            await store.close()
            raise
        return store

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, first: bool = False) -> T:
        """`fn(*args)` on the store's thread (`first`: in the ingest lane, sqlite_thread.py);
        sqlite3 and OS errors, a closed store and a full queue become StoreError."""
        try:
            future = self._thread.submit(fn, *args, first=first)
        except (ThreadClosed, ThreadBusy) as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc
        try:
            return await future
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    async def _run_write(self, fn: Callable[..., T], *args: Any, first: bool = False) -> T:
        """`_run` for a write: remembers whether the last write failed (for `ready`)."""
        try:
            result = await self._run(fn, *args, first=first)
        except StoreError as exc:
            self.last_write_error = str(exc)
            raise
        self.last_write_error = None
        return result

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        # A new file gives pruned space back (relay.retention); takes effect only before the
        # first table is created: an existing store is switched by VACUUM (docs/operations.md).
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migrations("sqlite"):
                if version in done:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, iso(datetime.now(UTC))),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.OperationalError("store is closed")
        return self._conn

    def _checked_db(self) -> sqlite3.Connection:
        """The connection, once the path is known to name the open file (store thread only).

        Raises OperationalError when the file is gone; reopens the path when it names
        another file (restored), so the store recovers by itself.
        """
        conn = self._db()
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise sqlite3.OperationalError(
                f"the database file is gone ({exc.strerror}): was its directory removed?"
            ) from exc
        if (st.st_dev, st.st_ino) != self._identity:
            self._conn = None
            conn.close()
            if not self.path.parent.is_dir():
                raise sqlite3.OperationalError("the database directory is gone")
            self._connect()
            conn = self._db()
        return conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one IMMEDIATE transaction: all of it is committed, or none."""
        conn = self._checked_db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    # -- Store interface ---------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda: self._checked_db().execute("SELECT 1").fetchone())

    async def ready(self) -> None:
        """A write probe (one row rewritten): raises StoreError unless a write lands now."""
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO write_probe (id, at) VALUES (1, ?) "
                         "ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                         (iso(datetime.now(UTC)),))

        await self._run_write(self._write, probe)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await self._thread.submit(conn.close)  # after the jobs queued before it
        except (ThreadClosed, ThreadBusy, sqlite3.Error):
            pass  # closed already, or the queue is full: the thread closes it below
        finally:
            await self._thread.close()
            if conn is not None:
                conn.close()  # idempotent; the thread has stopped, nothing else uses it

    async def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Nothing to listen to: the only writer in this process wakes its worker itself."""
        return lambda: None

    async def accept(
        self, delivery: NewDelivery, deployments: Sequence[NewDeployment]
    ) -> Accepted:
        done: Accepted = await self._accepts.submit((delivery, deployments))
        return done

    async def get_delivery(self, delivery_id: str) -> StoredDelivery | None:
        return await self._run(deliveries.get_delivery, self._db(), delivery_id)

    async def get_deployment(self, deployment_id: int) -> Deployment | None:
        def query() -> Deployment | None:
            row = self._db().execute(
                f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", (deployment_id,)
            ).fetchone()
            return deployment_from_row(row) if row else None

        return await self._run(query)

    async def list_deployments(
        self,
        *,
        cluster: int | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 50,
    ) -> tuple[Deployment, ...]:
        where, args = _filters(cluster=cluster, status=status)

        def query() -> tuple[Deployment, ...]:
            rows = self._db().execute(
                f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            return tuple(deployment_from_row(r) for r in rows)

        return await self._run(query)

    # -- the admin API's reads (SQL in relay.store.admin_reads) ---------------------------

    async def query_deployments(self, query: reads.DeploymentFilter) -> tuple[Deployment, ...]:
        sql, args = reads.deployment_query(query, "sqlite")
        return await self._run(lambda: tuple(
            deployment_from_row(r) for r in self._db().execute(sql, args)))

    async def query_deliveries(
            self, query: reads.DeliveryFilter) -> tuple[reads.DeliverySummary, ...]:
        sql, args = reads.delivery_query(query, "sqlite")
        return await self._run(lambda: tuple(
            reads.delivery_summary_from_row(r) for r in self._db().execute(sql, args)))

    async def known_versions(self, cluster: int, prefix: str) -> tuple[str, ...]:
        sql, args = reads.known_versions_query(cluster, prefix, "sqlite")
        return await self._run(lambda: tuple(r[0] for r in self._db().execute(sql, args)))

    async def enqueue(
        self, deployment: NewDeployment, *, delivery_id: str | None = None, now: datetime
    ) -> Deployment:
        def tx(conn: sqlite3.Connection) -> Deployment:
            dep = deliveries.insert_deployment(conn, deployment, delivery_id, now)
            outbox.record(conn, self.outbox_policy, (dep,), now.timestamp())
            return dep

        return await self._run_write(self._write, tx)

    async def queue_summary(self) -> QueueSummary:
        def query() -> QueueSummary:
            rows = self._db().execute(QUEUE_SUMMARY_SQL)
            return summary_from_rows((s, n, oldest) for s, n, oldest in rows)

        return await self._run(query)

    # -- the worker's side -------------------------------------------------------------------

    async def claim(self, *, owner: str, now: datetime, lease_s: float) -> Claim | None:
        def tx(c: sqlite3.Connection) -> Claim | None:
            got = queue.claim(c, owner, now, lease_s)
            if got is not None and not got.resumed:
                outbox.record(c, self.outbox_policy, (*got.superseded, got.deployment),
                              now.timestamp())
            return got

        return await self._run_write(self._write, tx)

    async def renew(self, deployment_id: int, *, fence: int, now: datetime,
                    lease_s: float) -> None:
        args = (now.timestamp() + lease_s,)
        await self._run_write(self._write, lambda c: queue.fenced_update(
            c, deployment_id, fence, "lease_expires_at = ?", args))

    async def save_snapshot(self, deployment_id: int, *, fence: int,
                            snapshot: Observation) -> None:
        args = (snapshot.to_json(),)
        await self._run_write(self._write, lambda c: queue.fenced_update(
            c, deployment_id, fence, "snapshot = ?", args))

    async def save_progress(self, deployment_id: int, *, fence: int,
                            progress: dict[str, Any]) -> None:
        args = (json.dumps(progress),)
        await self._run_write(self._write, lambda c: queue.fenced_update(
            c, deployment_id, fence, "progress = ?", args))

    async def mark_triggering(self, deployment_id: int, *, fence: int, now: datetime,
                              snapshot: Observation | None = None) -> None:
        assignments = "trigger_started_at = ?"
        args: tuple[object, ...] = (iso(now),)
        if snapshot is not None:
            assignments, args = f"{assignments}, snapshot = ?", (*args, snapshot.to_json())
        await self._run_write(self._write, lambda c: queue.fenced_update(
            c, deployment_id, fence, assignments, args))

    async def cancel(self, deployment_id: int, *, now: datetime, reason: str) -> Deployment:
        def tx(c: sqlite3.Connection) -> Deployment:
            dep = queue.cancel(c, deployment_id, now, reason)
            outbox.record(c, self.outbox_policy, (dep,), now.timestamp())
            return dep

        return await self._run_write(self._write, tx)

    async def last_successes(self) -> dict[int, datetime]:
        return await self._run(queue.last_successes, self._db())

    async def mark_rolling_out(self, deployment_id: int, *, fence: int,
                               triggered_at: datetime) -> None:
        args = (iso(triggered_at),)
        def tx(c: sqlite3.Connection) -> None:
            queue.fenced_update(c, deployment_id, fence,
                                "status = 'rolling_out', triggered_at = ?", args)
            outbox.record(c, self.outbox_policy, (outbox.get(c, deployment_id),),
                          triggered_at.timestamp())

        await self._run_write(self._write, tx)

    async def finish(self, deployment_id: int, *, fence: int, status: DeploymentStatus,
                     now: datetime, error: str | None = None) -> Deployment:
        def tx(c: sqlite3.Connection) -> Deployment:
            dep = queue.finish(c, deployment_id, fence, status, now, error)
            outbox.record(c, self.outbox_policy, (dep,), now.timestamp())
            return dep

        return await self._run_write(self._write, tx)

    async def release(self, deployment_id: int, *, fence: int) -> None:
        await self._run_write(self._write, lambda c: queue.fenced_update(
            c, deployment_id, fence, "lease_owner = NULL, lease_expires_at = NULL", ()))

    async def history(self, cluster: int) -> History:
        return await self._run(queue.history, self._db(), cluster)

    # -- the outbox sender's side (relay.outbox_sender; SQL in relay.store.sqlite_outbox) ----

    async def outbox_claim(self, *, owner: str, now: float, lease_s: float, limit: int,
                           max_age_s: float,
                           ) -> tuple[tuple[OutboxRow, ...], tuple[tuple[str, str, str], ...]]:
        return await self._run_write(self._write, lambda c: outbox.claim(
            c, owner, now, lease_s, limit, max_age_s))

    async def outbox_done(self, *, owner: str, settled: Sequence[int],
                          retries: Sequence[tuple[int, float]]) -> None:
        await self._run_write(self._write, lambda c: outbox.done(c, owner, settled, retries))

    async def outbox_pending(self) -> int:
        return await self._run(outbox.pending, self._db())

    async def outbox_for(self, deployment_id: int) -> tuple[PendingMessage, ...]:
        return await self._run(outbox.pending_for, self._db(), deployment_id)

    async def host_deployment_id(self, deployment_id: int) -> str | None:
        return await self._run(outbox.host_deployment_id, self._db(), deployment_id)

    async def save_host_deployment_id(self, deployment_id: int, host_id: str) -> None:
        await self._run_write(self._write, lambda c: outbox.save_host_deployment_id(
            c, deployment_id, host_id))

    # -- catch-up (SQL in relay.store.sqlite_catchup) --------------------------------------

    async def head_known(self, *, source: str, repo: str, ref: str, sha: str,
                         clusters: Sequence[int]) -> bool:
        """True when a stored delivery brought `sha` to `ref`, or it was triggered on one of
        `clusters`."""
        return await self._run(catchup.head_known, self._db(), source, repo, ref, sha,
                               clusters)

    async def last_head(self, *, source: str, repo: str, ref: str) -> str | None:
        """The head the newest stored delivery of `ref` brought (None: none, or a deletion)."""
        return await self._run(catchup.last_head, self._db(), source, repo, ref)

    async def take_reconcile_lease(self, *, owner: str, now: datetime, hold_s: float) -> bool:
        """Take (or keep) the one catch-up lease until now + hold_s; False: another holds it."""
        at = now.timestamp()
        return await self._run_write(self._write, lambda c: catchup.take_lease(
            c, owner, at, hold_s))

    # -- retention, backup, schema (SQL in relay.store.sqlite_retention) ------------------

    async def prune_keep(self) -> Keep:
        """What a prune run must keep (relay.store.retention_sql)."""
        def read() -> Keep:
            conn = self._db()
            return Keep(tuple(retention.protected_ids(conn)), retention.table_guards(conn))

        return await self._run(read)

    async def count_prunable(self, *, deliveries_before: datetime, deployments_before: datetime,
                             keep: Keep) -> tuple[int, int]:
        """(deliveries, deployments) a prune would remove now."""
        return await self._run(lambda: retention.count_prunable(
            self._db(), deliveries_before, deployments_before, list(keep.protected),
            keep.guards))

    async def prune_deployments(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete up to `limit` prunable deployments in one short transaction; how many."""
        return await self._run_write(self._write, lambda c: retention.delete_deployments_batch(
            c, before, list(keep.protected), keep.guards, limit))

    async def prune_deliveries(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete up to `limit` unreferenced deliveries in one short transaction; how many."""
        return await self._run_write(self._write, lambda c: retention.delete_deliveries_batch(
            c, before, keep.guards, limit))

    async def give_back_space(self) -> int:
        """One step of incremental vacuum; the free pages left (0: nothing more to do)."""
        return await self._run_write(lambda: retention.vacuum_step(self._checked_db()))

    async def schema_versions(self) -> list[tuple[int, str]]:
        """(version, applied_at) of the applied migrations, oldest first."""
        return await self._run(retention.schema_versions, self._db())

    async def backup(self, target: str | Path, *, pages: int = 256) -> None:
        """A consistent copy of the store at `target` (the sqlite3 online backup API), made
        `pages` at a time so that writers wait only between steps."""
        def copy() -> None:
            dest = sqlite3.connect(target)
            try:
                self._checked_db().backup(dest, pages=pages)
            finally:
                dest.close()

        await self._run(copy)

    # -- deploy gates (SQL in relay.store.sqlite_gates) -----------------------------------

    async def gate_waiting(self) -> tuple[Deployment, ...]:
        return await self._run(gates.gate_waiting, self._db())

    async def gate_move(self, deployment_id: int, *, expect: DeploymentStatus,
                        to: DeploymentStatus, now: datetime, superseded_by: int | None = None,
                        error: str | None = None) -> Deployment | None:
        def tx(c: sqlite3.Connection) -> Deployment | None:
            moved = gates.gate_move(c, deployment_id, expect, to, now, superseded_by, error)
            if moved is not None:  # reported and notified like every status change
                outbox.record(c, self.outbox_policy, (moved,), now.timestamp())
            return moved

        return await self._run_write(self._write, tx)

    async def hold_claimed(self, deployment_id: int, *, fence: int, now: datetime) -> bool:
        def tx(c: sqlite3.Connection) -> bool:
            held = gates.hold_claimed(c, deployment_id, fence)
            if held:
                outbox.record(c, self.outbox_policy, (outbox.get(c, deployment_id),),
                              now.timestamp())
            return held

        return await self._run_write(self._write, tx)

    async def pauses(self) -> tuple[Pause, ...]:
        return await self._run(gates.pauses, self._db())

    async def set_pause(self, pause: Pause) -> None:
        await self._run_write(self._write, lambda c: gates.set_pause(c, pause))

    async def clear_pause(self, cluster: int) -> bool:
        return await self._run_write(self._write, lambda c: gates.clear_pause(c, cluster))

    async def quarantine(self) -> tuple[QuarantineEntry, ...]:
        return await self._run(gates.quarantine, self._db())

    async def add_quarantine(self, entry: QuarantineEntry) -> None:
        await self._run_write(self._write, lambda c: gates.add_quarantine(c, entry))

    async def clear_quarantine(self, cluster: int, version: str) -> bool:
        return await self._run_write(self._write, lambda c: gates.clear_quarantine(
            c, cluster, version))

    async def link_rollback(self, failed_id: int, rollback_id: int) -> None:
        await self._run_write(self._write, lambda c: gates.link_rollback(
            c, failed_id, rollback_id))

    async def last_succeeded_version(self, cluster: int) -> str | None:
        return await self._run(gates.last_succeeded_version, self._db(), cluster)


def _filters(*, cluster: int | None, status: DeploymentStatus | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if cluster is not None:
        clauses.append("cluster = ?")
        args.append(cluster)
    if status is not None:
        clauses.append("status = ?")
        args.append(status.value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _statements(sql: str) -> list[str]:
    """Split a migration script on semicolons (the scripts hold no procedural code)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
