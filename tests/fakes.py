"""Test doubles of relay's own interfaces (never of aiohttp): a clock that does not wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from relay.deployment import Deployment, DeploymentStatus


class FakeClock:
    """Time moves only when someone sleeps: timeouts are reached without waiting for them."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        self.offset = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += max(0.0, seconds)
        await asyncio.sleep(0)


class Finals:
    """A worker listener: await the final state of a deployment by id."""

    def __init__(self) -> None:
        self.done: dict[int, Deployment] = {}
        self.calls: dict[int, int] = {}  # how often each deployment was reported final
        self._waiters: dict[int, asyncio.Future[Deployment]] = {}

    def __call__(self, dep: Deployment) -> None:
        self.done[dep.id] = dep
        self.calls[dep.id] = self.calls.get(dep.id, 0) + 1
        waiter = self._waiters.pop(dep.id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(dep)

    async def wait(self, dep_id: int, within: float = 10.0) -> Deployment:
        if dep_id in self.done:
            return self.done[dep_id]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[dep_id] = waiter
        return await asyncio.wait_for(waiter, within)


class Statuses:
    """A worker status listener: await the moment a deployment reaches a status."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, DeploymentStatus]] = set()
        self._changed = asyncio.Condition()
        self._pending: list[tuple[int, DeploymentStatus]] = []

    def __call__(self, dep_id: int, status: DeploymentStatus) -> None:
        self.seen.add((dep_id, status))
        asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, dep_id: int, status: DeploymentStatus, within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: (dep_id, status) in self.seen)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    """Re-check a condition owned by another task on every turn of the loop (bounded).

    For effects that announce themselves with no event (a gauge refreshed by the worker loop).
    """
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.005)
