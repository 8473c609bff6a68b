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

Pipelined: while one batch is written, the next one's job already waits in the store thread's
ingest lane and takes its items when it starts there, so it starts the moment the previous
one commits: neither the trip of the answer back to the event loop nor a worker write that
would slip in meanwhile delays it. At 500 deliveries/s while deploying the acknowledgement's
p99 fell from 14.5 to 6.8 ms between two runs of the benchmark, and from 11.9-12.7 to
8.5-9.4 ms in alternated rounds of an earlier form (bench/RESULTS.md, issue 17 part 8). One
job waits and one runs; the store thread gives its other lane a turn after two ingest jobs
in a row (sqlite_thread.py). Each job answers the callers it took itself, from the store's
thread, and queues the job for what `max_batch` left over before it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections import deque
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


class _JobState:
    """Whether a job has started on the store's thread (set there, read on the loop)."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = False


class _NothingToWrite(Exception):
    """A job found no live request when it started (every caller of its batch gave up, timed
    out, after it was queued): not a write, so not a success either."""


class GroupCommit(Generic[ItemT]):
    """Runs submitted items in shared IMMEDIATE transactions on the store's thread.

    `run` runs a function on the thread that owns the connection (and maps its errors to
    StoreError); `connection` returns that connection there; `transaction` writes one batch
    (default: items are write functions, each run in its own SAVEPOINT); `label` prefixes the
    StoreError of an item that failed with an sqlite3 or OS error.

    Threads: `submit` (on the event loop) appends to the queue and queues a job unless one is
    waiting; a job (on the store's thread) marks that no job is waiting and takes its requests
    from the queue, both under `_lock`, so each request is taken by exactly one job, and one
    that comes after a job took its requests finds a new job queued for it. The job answers
    the requests it took itself (one `call_soon_threadsafe`), whatever becomes of the task
    that queued it.
    """

    def __init__(self, run: RunInThread, connection: Callable[[], sqlite3.Connection], *,
                 label: str, max_batch: int = MAX_BATCH,
                 transaction: Transaction | None = None) -> None:
        self._run = run
        self._connection = connection
        self._label = label
        self._max_batch = max_batch
        self._transaction: Transaction = transaction or each_in_savepoint
        self._lock = threading.Lock()  # the queue and the flag, between loop and store thread
        self._queue: deque[_Request[ItemT]] = deque()
        self._job_waiting = False  # a job is queued on the store's thread and has not started
        self._jobs: set[asyncio.Task[None]] = set()  # the tasks awaiting those jobs
        self.batches = 0  # transactions committed or attempted (for tests and benchmarks)

    async def submit(self, item: ItemT) -> Any:
        """Write `item` in the next group transaction; its outcome once that is committed.

        Raises what the item's own write raised (sqlite3 and OS errors as StoreError); when
        the whole transaction failed, that error (StoreError for sqlite3 and OS errors, and
        RuntimeError when the transaction gave a wrong number of outcomes) for every item of
        the batch; StoreError when the store is closed or its thread's queue is full;
        CancelledError when the job was cancelled before it ran (shutdown).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._queue.append(_Request(item, future))
            queue_job = not self._job_waiting
            self._job_waiting = True
        if queue_job:
            self._start_job(loop)
        return await future

    def _start_job(self, loop: asyncio.AbstractEventLoop) -> None:
        state = _JobState()
        task = loop.create_task(self._job(loop, state), name="relay-sqlite-group-commit")
        self._jobs.add(task)
        task.add_done_callback(functools.partial(self._job_done, state))

    async def _job(self, loop: asyncio.AbstractEventLoop, state: _JobState) -> None:
        """One batch: queued on the store's thread now, its requests taken when it starts."""
        with self._lock:
            if not any(not r.future.done() for r in self._queue):  # every caller gave up
                self._queue.clear()
                self._job_waiting = False
                return

        def write(connection: Callable[[], sqlite3.Connection]) -> None:
            state.started = True
            taken: list[_Request[ItemT]] = []
            with self._lock:
                while self._queue and len(taken) < self._max_batch:
                    request = self._queue.popleft()
                    if not request.future.done():  # a caller that gave up is not written
                        taken.append(request)
                # What comes from now on needs a job of its own; what max_batch left over
                # gets one now, queued behind this one.
                leftover = self._job_waiting = bool(self._queue)
            if leftover:
                _post(loop, self._start_job, loop)
            if not taken:
                raise _NothingToWrite()
            try:
                outcomes = self._transaction(connection, [r.item for r in taken])
                if len(outcomes) != len(taken):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(taken)} items")
            except BaseException as exc:
                error = (self._store_error(exc) if isinstance(exc, Exception)
                         else StoreError(f"{self._label}: {exc!r}"))
                _post(loop, self._fail, taken, error)
                raise  # the store notes the failed write (SQLiteStore.last_write_error)
            _post(loop, self._answer, taken, outcomes)

        with contextlib.suppress(_NothingToWrite):
            await self._run(write, self._connection)

    def _job_done(self, state: _JobState, task: asyncio.Task[None]) -> None:
        """A job's task ended. A job that started answered its callers itself; one that never
        did (cancelled at shutdown, or refused by a closed store's thread) leaves the waiting
        requests to nobody: they get its cancellation or error."""
        self._jobs.discard(task)
        error = None if task.cancelled() else task.exception()  # retrieved either way
        if state.started:
            return
        if task.cancelled():
            self._abandon(asyncio.CancelledError())
        elif error is not None:
            self._abandon(error)

    def _abandon(self, exc: BaseException) -> None:
        with self._lock:
            waiting = list(self._queue)
            self._queue.clear()
            self._job_waiting = False
        for r in waiting:
            if r.future.done():
                continue
            if isinstance(exc, asyncio.CancelledError):
                r.future.cancel()
            else:
                r.future.set_exception(exc)

    def _answer(self, batch: list[_Request[ItemT]], outcomes: list[Any]) -> None:
        """On the loop: each caller's outcome."""
        self.batches += 1
        for r, outcome in zip(batch, outcomes, strict=True):
            if r.future.done():  # the caller gave up (timeout): the write stands regardless
                continue
            if isinstance(outcome, Failed):
                r.future.set_exception(self._store_error(outcome.error))
            else:
                r.future.set_result(outcome)

    def _fail(self, batch: list[_Request[ItemT]], exc: Exception) -> None:
        """On the loop: the whole transaction failed; every caller of the batch gets `exc`."""
        self.batches += 1
        for r in batch:
            if not r.future.done():
                r.future.set_exception(exc)

    def _store_error(self, exc: Exception) -> Exception:
        if isinstance(exc, (sqlite3.Error, OSError)):
            error = StoreError(f"{self._label}: {exc}")
            error.__cause__ = exc
            return error
        return exc


def _post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    """`fn(*args)` on `loop`, from the store's thread; nothing when the loop is closed."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


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
