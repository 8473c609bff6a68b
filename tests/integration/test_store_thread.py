"""The SQLite store's thread (relay/store/sqlite_thread.py): lanes, bounds, closing."""

from __future__ import annotations

import asyncio
import threading

import pytest

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


async def test_the_first_lane_runs_before_jobs_queued_earlier() -> None:
    thread = StoreThread("test-store")
    release, held = await _blocked(thread)
    order: list[str] = []
    later = [thread.submit(order.append, f"then-{i}") for i in range(3)]
    batch = thread.submit(order.append, "first", first=True)
    release.set()
    await asyncio.gather(held, batch, *later)
    assert order == ["first", "then-0", "then-1", "then-2"]
    await thread.close()


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
