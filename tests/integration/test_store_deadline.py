"""relay.web.Deadlines: one timer for all store calls in flight, a TimeoutError past the
deadline, a result before it, and a cancellation from elsewhere left a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from relay.web import Deadlines


async def test_a_call_past_its_deadline_raises_timeout_error() -> None:
    deadlines = Deadlines(0.02, tick_s=0.01)
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await deadlines.run(never)
    assert never.cancelled()
    assert not deadlines._waiting and not deadlines._expired
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_calls_in_time_return_their_value_and_share_one_timer() -> None:
    deadlines = Deadlines(5.0, tick_s=0.01)

    async def answer(n: int) -> int:
        await asyncio.sleep(0.03)
        return n

    assert await asyncio.gather(*(deadlines.run(answer(i)) for i in range(50))) == list(
        range(50))
    assert not deadlines._waiting


async def test_only_the_late_call_times_out() -> None:
    deadlines = Deadlines(0.05, tick_s=0.01)
    loop = asyncio.get_running_loop()
    late = loop.create_future()
    ready = loop.create_future()
    loop.call_soon(ready.set_result, "ok")
    results = await asyncio.gather(deadlines.run(late), deadlines.run(ready),
                                   return_exceptions=True)
    assert isinstance(results[0], TimeoutError) and results[1] == "ok"


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(5.0, tick_s=0.01)
    started = asyncio.Event()

    async def call() -> None:
        started.set()
        await deadlines.run(asyncio.get_running_loop().create_future())

    task = asyncio.create_task(call())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._waiting
