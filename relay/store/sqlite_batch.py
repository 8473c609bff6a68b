"""Group commit for the SQLite store: many write requests per transaction, so per fsync.

With `synchronous=FULL` every COMMIT waits for the disk; one transaction per delivery caps
ingest at the disk's fsync rate. `GroupCommit` queues the items submitted while the store's
thread is busy and hands all of them to one transaction function in the ingest lane of the
store's thread (relay/store/sqlite_thread.py). The default one, `each_in_savepoint`, takes
items that are write functions and runs each inside a SAVEPOINT of its own; the deliveries'
one (relay/store/sqlite_accept.py) writes a whole batch set-based and falls back to this
per-item path only when the batch meets a duplicate, a catch-up delivery or twin, or
an error. Either way:

- a function that raises rolls back its own savepoint only and gets its own exception; the
  others are unaffected;
- every caller is answered only after the COMMIT: a result always means "on disk";
- if BEGIN or COMMIT fails (or a failure aborts the whole transaction), every caller of the
  batch gets the error and nothing of the batch is written;
- functions run one after another in submission order inside the transaction, so a write sees
  the rows of earlier ones in the same batch (a duplicate delivery within a batch is found).

No timer: a batch is whatever queued up while the previous one was being written, so a lone
request is written at once and a busy store writes larger batches.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from relay.store.base import StoreError

T = TypeVar("T")
ItemT = TypeVar("ItemT")
WriteFn = Callable[[sqlite3.Connection], Any]
RunInThread = Callable[..., Awaitable[Any]]

MAX_BATCH = 256  # bounds one transaction's length (and the latency of its first caller)


@dataclass(slots=True)
class _Request(Generic[ItemT]):
    item: ItemT
    future: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class Failed:
    """One item's own error, in the outcomes of a batch transaction (the others stand)."""

    error: Exception


# (connection getter, items) -> one outcome per item (a value, or Failed), run on the store's
# thread; raises when the whole transaction failed (every caller gets that error).
Transaction = Callable[[Callable[[], sqlite3.Connection], list[Any]], list[Any]]


class GroupCommit(Generic[ItemT]):
    """Runs submitted items in shared IMMEDIATE transactions on the store's thread.

    `run` runs a function on the thread that owns the connection (and maps its errors to
    StoreError); `connection` returns that connection there; `transaction` writes one batch
    (default: items are write functions, each run in its own SAVEPOINT); `label` prefixes the
    StoreError of an item that failed with an sqlite3 or OS error.
    """

    def __init__(self, run: RunInThread, connection: Callable[[], sqlite3.Connection], *,
                 label: str, max_batch: int = MAX_BATCH,
                 transaction: Transaction | None = None) -> None:
        self._run = run
        self._connection = connection
        self._label = label
        self._max_batch = max_batch
        self._transaction: Transaction = transaction or each_in_savepoint
        self._queue: list[_Request[ItemT]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed or attempted (for tests and benchmarks)

    async def submit(self, item: ItemT) -> Any:
        """Write `item` in the next group transaction; its outcome once that is committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="relay-sqlite-group-commit")
        return await future

    async def _drain(self) -> None:
        """Write batches until the queue is empty."""
        while self._queue:
            batch = [r for r in self._queue[: self._max_batch] if not r.future.done()]
            del self._queue[: self._max_batch]
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[_Request[ItemT]]) -> None:
        self.batches += 1
        items = [r.item for r in batch]
        try:
            outcomes = await self._run(self._transaction, self._connection, items)
        except asyncio.CancelledError:
            for r in batch:
                r.future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(exc)
            return
        for r, outcome in zip(batch, outcomes, strict=True):
            if r.future.done():  # the caller gave up (timeout): the write stands regardless
                continue
            if isinstance(outcome, Failed):
                r.future.set_exception(self._store_error(outcome.error))
            else:
                r.future.set_result(outcome)

    def _store_error(self, exc: Exception) -> Exception:
        if isinstance(exc, (sqlite3.Error, OSError)):
            error = StoreError(f"{self._label}: {exc}")
            error.__cause__ = exc
            return error
        return exc


def each_in_savepoint(connection: Callable[[], sqlite3.Connection],
                      fns: list[WriteFn]) -> list[Any]:
    """On the store's thread: BEGIN IMMEDIATE, one SAVEPOINT per function, COMMIT."""
    conn = connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes = [in_savepoint(conn, fn) for fn in fns]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def in_savepoint(conn: sqlite3.Connection, fn: WriteFn) -> Any:
    """`fn(conn)` inside a SAVEPOINT of the open transaction: its result, or Failed with its
    own error (its writes rolled back); raises when SQLite aborted the whole transaction."""
    conn.execute("SAVEPOINT relay_item")
    try:
        result = fn(conn)
    except Exception as exc:  # noqa: BLE001 - this item's own error
        if not conn.in_transaction:
            raise  # SQLite aborted the whole transaction (disk full, I/O error): fail the batch
        conn.execute("ROLLBACK TO relay_item")
        conn.execute("RELEASE relay_item")
        return Failed(exc)
    conn.execute("RELEASE relay_item")
    return result
