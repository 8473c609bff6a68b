"""The one thread that owns the SQLite connection: two queues, ingest batches first.

Every statement of `SQLiteStore` runs here, so the event loop never blocks on disk and writes
never interleave. Work comes in two lanes:

- `first`: the ingest group commits (relay.store.sqlite_batch). A git host waits for each
  answer, so a batch goes before the worker's writes and the admin API's reads queued with it;
- `then`: everything else, in order of submission.

The group commit keeps the next ingest batch queued while one is written, so that it starts
the moment the running one commits. So that a steady ingest cannot starve the other lane:
while `then` jobs wait, at most `first_in_row` (default 2) `first` jobs start in a row, then
one `then` job runs. A busy ingest slows the worker's writes (one per few batches), never
stops them.

A job's result or error reaches the event loop through one `call_soon_threadsafe` per job
(a batch is one job). With an `observe` callback, every job that ran reports its lane, how
long it waited in its queue and how long it ran (relay_store_wait_seconds and
relay_store_job_seconds, docs/metrics.md): how long ingest waits for the thread (behind the
running batch or a worker write), and how long the batches and the other jobs run.

`close` lets the jobs already queued finish, then stops the thread; a job submitted after
that gets `ThreadClosed`. Both lanes are bounded (`max_queued`): past that `submit` raises
`ThreadBusy` at once instead of queueing without end (the web side answers 503; the server's
connection cap keeps it far from that in practice).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger("relay.store")

MAX_QUEUED = 10_000  # jobs per lane
FIRST_IN_ROW = 2  # `first` jobs that may go before a waiting `then` job


class ThreadClosed(RuntimeError):
    """The store thread was stopped (the store is closed)."""


class ThreadBusy(RuntimeError):
    """A lane already holds `max_queued` jobs."""


# (fn, args, the loop to answer on, its future, perf_counter at submit)
_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop,
             "asyncio.Future[Any]", float]
# (first lane?, seconds the job waited in its queue, seconds it ran): called on the thread
Observer = Callable[[bool, float, float], None]


class StoreThread:
    """A daemon thread running submitted functions one at a time, the `first` lane first.

    `submit(fn, *args, first=False)` returns an asyncio future of `fn(*args)`'s result, to
    be awaited on the loop that called `submit`. Exceptions raised by `fn` are set on the
    future unchanged (the store maps them to StoreError). `observe`, when set, is called on
    the thread after each job that ran, once its answer is posted: (lane is `first`, seconds
    queued, seconds running), by `time.perf_counter`; an exception it raises is logged and
    the thread goes on. A job whose caller gave up before its turn is not run, nor timed.
    `first_in_row`: how many `first` jobs may start in a row while `then` jobs wait (at
    least 1, else ValueError); a `then` job whose caller gave up does not count as the other
    lane's turn.
    """

    def __init__(self, name: str, *, max_queued: int = MAX_QUEUED,
                 observe: Observer | None = None, first_in_row: int = FIRST_IN_ROW) -> None:
        if first_in_row < 1:
            raise ValueError(f"first_in_row must be at least 1, not {first_in_row}")
        self.observe = observe
        self._first: deque[_Job] = deque()
        self._then: deque[_Job] = deque()
        self._max = max_queued
        self._first_in_row = first_in_row
        self._passed = 0  # `first` jobs started in a row while the `then` lane was waiting
        self._ready = threading.Condition(threading.Lock())
        self._closing = False
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self._thread.name

    def submit(self, fn: Callable[..., T], *args: Any, first: bool = False) -> asyncio.Future[T]:
        """Queue `fn(*args)`; ThreadClosed after `close`, ThreadBusy when the lane is full."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        lane = self._first if first else self._then
        with self._ready:
            if self._closing:
                raise ThreadClosed("store is closed")
            if len(lane) >= self._max:
                raise ThreadBusy(f"{len(lane)} store jobs are waiting already")
            lane.append((fn, args, loop, future, time.perf_counter()))
            self._ready.notify()
        return future

    async def close(self) -> None:
        """Finish the queued jobs, then stop the thread (idempotent)."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        if self._thread.is_alive():
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _main(self) -> None:
        while True:
            with self._ready:
                while not self._first and not self._then and not self._closing:
                    self._ready.wait()
                first = bool(self._first) and (
                    not self._then or self._passed < self._first_in_row)
                if first:
                    job = self._first.popleft()
                    if self._then:
                        self._passed += 1
                elif self._then:
                    job = self._then.popleft()
                    if not job[3].cancelled():  # skipped, not run: the lane's turn is not used
                        self._passed = 0
                else:
                    return  # closing, and nothing is left
            self._run(job, first)

    def _run(self, job: _Job, first: bool) -> None:
        fn, args, loop, future, queued_at = job
        if future.cancelled():  # the caller gave up before its turn (a read of one flag)
            return
        started = time.perf_counter()
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            _post(loop, future, _settle_error, exc)
        else:
            _post(loop, future, _settle, result)
        observe = self.observe
        if observe is not None:
            try:
                observe(first, started - queued_at, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - timing must never stop the store's thread
                log.exception("store job timing failed")


def _post(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any],
          settle: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
    try:
        loop.call_soon_threadsafe(settle, future, value)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller may have given up (cancelled)
        future.set_result(result)


def _settle_error(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
