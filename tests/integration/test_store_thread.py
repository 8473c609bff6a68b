"""The SQLite store's thread (relay/store/sqlite_thread.py): lanes, bounds, closing."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from structlog.testing import capture_logs

from relay.store.sqlite_thread import StoreThread, ThreadBusy, ThreadClosed


async def _blocked(thread: StoreThread) -> tuple[threading.Event, asyncio.Future[None]]:
    """Occupy the thread until the returned event is set (the thread has started the job)."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    held = thread.submit(hold)
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
    return release, held


async def _ran_in_order(thread: StoreThread, queued: list[tuple[str, bool]],
                       gave_up: str | None = None) -> list[str]:
    """Hold the thread, queue one job per (name, first lane?) in that order, cancel the one
    named `gave_up` (its caller gave up), let go: the names in the order the jobs ran."""
    release, held = await _blocked(thread)
    order: list[str] = []
    jobs = {name: thread.submit(order.append, name, first=first) for name, first in queued}
    if gave_up is not None:
        jobs.pop(gave_up).cancel()
    release.set()
    await asyncio.gather(held, *jobs.values())
    await thread.close()
    return order


async def test_the_first_lane_runs_before_jobs_queued_earlier() -> None:
    queued = [("then-0", False), ("then-1", False), ("then-2", False), ("first", True)]
    assert await _ran_in_order(StoreThread("test-store"), queued) == [
        "first", "then-0", "then-1", "then-2"]


async def test_a_waiting_then_job_lets_at_most_first_in_row_first_jobs_pass() -> None:
    queued = [("then", False), *((f"first-{i}", True) for i in range(5))]
    # A steady ingest (the group commit keeps its next batch queued) cannot starve the
    # worker's writes: two ingest jobs pass it, then it runs, then the rest of the ingest.
    assert await _ran_in_order(StoreThread("test-store", first_in_row=2), queued) == [
        "first-0", "first-1", "then", "first-2", "first-3", "first-4"]


async def test_a_then_job_whose_caller_gave_up_does_not_use_the_lanes_turn() -> None:
    queued = [("gone", False), ("then", False), *((f"first-{i}", True) for i in range(3))]
    order = await _ran_in_order(StoreThread("test-store", first_in_row=1), queued, "gone")
    assert order == ["first-0", "then", "first-1", "first-2"]


def test_first_in_row_must_let_one_first_job_pass() -> None:
    with pytest.raises(ValueError, match="first_in_row must be at least 1, not 0"):
        StoreThread("test-store", first_in_row=0)


async def test_results_and_errors_reach_the_caller() -> None:
    thread = StoreThread("test-store")
    assert await thread.submit(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await thread.submit(lambda: 1 / 0)
    assert threading.current_thread().name != "test-store"
    assert await thread.submit(lambda: threading.current_thread().name) == "test-store"
    await thread.close()


async def test_a_full_lane_refuses_at_once() -> None:
    thread = StoreThread("test-store", max_queued=2)
    release, held = await _blocked(thread)
    queued = [thread.submit(lambda: None), thread.submit(lambda: None)]
    with pytest.raises(ThreadBusy):
        thread.submit(lambda: None)
    thread.submit(lambda: None, first=True)  # the other lane has its own bound
    release.set()
    await asyncio.gather(held, *queued)
    await thread.close()


async def test_close_finishes_queued_jobs_then_refuses() -> None:
    thread = StoreThread("test-store")
    release, held = await _blocked(thread)
    done: list[int] = []
    queued = thread.submit(done.append, 1)
    closing = asyncio.create_task(thread.close())
    await asyncio.sleep(0)
    release.set()
    await closing
    await asyncio.gather(held, queued)
    assert done == [1]
    with pytest.raises(ThreadClosed):
        thread.submit(done.append, 2)
    await thread.close()  # idempotent


async def test_a_job_whose_caller_gave_up_before_its_turn_is_not_run() -> None:
    thread = StoreThread("test-store")
    release, held = await _blocked(thread)
    ran: list[str] = []
    gone = thread.submit(ran.append, "gone")
    kept = thread.submit(ran.append, "kept")
    gone.cancel()
    release.set()
    await asyncio.gather(held, kept)
    assert ran == ["kept"]
    await thread.close()


async def test_every_job_that_ran_reports_its_lane_wait_and_run_time() -> None:
    """`observe` sees (lane, waited, ran) per job: a job queued behind a held one waited at
    least from its submission to the hold's end; a cancelled job is not reported."""
    seen: list[tuple[bool, float, float]] = []
    thread = StoreThread("test-store", observe=lambda *timing: seen.append(timing))
    started, release = threading.Event(), threading.Event()
    ended: list[float] = []

    def hold() -> None:
        started.set()
        release.wait(10)
        ended.append(time.perf_counter())

    held = thread.submit(hold)
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
    behind = thread.submit(sum, [1, 2], first=True)
    submitted = time.perf_counter()  # after `behind` was queued
    gone = thread.submit(sum, [3])
    gone.cancel()
    release.set()
    await asyncio.gather(held, behind)
    await thread.close()  # the observer runs after each answer: closing awaits the last one
    assert [first for first, _, _ in seen] == [False, True]
    (_, _, held_ran), (_, behind_waited, behind_ran) = seen
    assert held_ran > 0 and behind_ran >= 0
    assert behind_waited >= ended[0] - submitted > 0


async def test_a_raising_job_is_timed_too() -> None:
    seen: list[tuple[bool, float, float]] = []
    thread = StoreThread("test-store", observe=lambda *timing: seen.append(timing))
    with pytest.raises(ZeroDivisionError):
        await thread.submit(lambda: 1 / 0, first=True)
    await thread.close()
    assert len(seen) == 1 and seen[0][0] is True and seen[0][1] >= 0 and seen[0][2] >= 0


async def test_an_observer_that_raises_does_not_stop_the_thread() -> None:
    """Timing is best effort: a failing observer is logged, and later jobs are answered."""
    def broken(first: bool, waited_s: float, ran_s: float) -> None:
        raise RuntimeError("metrics are broken")

    thread = StoreThread("test-store", observe=broken)
    with capture_logs() as logs:
        assert await thread.submit(sum, [1, 2]) == 3
        # wait_for: on a dead thread this answer never comes (a failure, not a hang)
        assert await asyncio.wait_for(thread.submit(sum, [3, 4], first=True), 10) == 7
        await thread.close()
    assert [e["event"] for e in logs] == ["store job timing failed"] * 2
