"""The platform's slow work, as background tasks: creation, rolling replacement, resize.

A cluster runs at most one operation: starting one cancels the one in progress (the newer
request supersedes it; every step is applied atomically, so a cancelled operation leaves a
consistent cluster). Every task is tracked and `close()` cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from relay.simulator.faults import Faults
from relay.simulator.model import (
    CREATE_SUCC,
    CREATING,
    RESIZING,
    UPDATE_FAIL,
    UPDATING,
)
from relay.simulator.state import SimState

log = logging.getLogger("relay.simulator")


class Operations:
    """Starts, supersedes and cancels the per-cluster background operations."""

    def __init__(
        self, state: SimState, faults: Faults, *, step_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._state = state
        self._faults = faults
        self._step_s = step_s
        self.sleep = sleep  # time is a seam: tests may replace it to release steps one by one
        self._current: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """How many operation tasks are alive (tests assert it drops to 0)."""
        return len(self._tasks)

    def create(self, cluster_id: int) -> None:
        """After one step, start `replicas` containers and report create_succ."""
        self._start(cluster_id, self._finish_after_step(cluster_id))

    def resize(self, cluster_id: int, replicas: int) -> None:
        """Show `resizing`, then after one step add or remove containers to `replicas`."""
        self._state.set_fields(cluster_id, replicas=replicas, status=RESIZING)
        self._start(cluster_id, self._finish_after_step(cluster_id))

    def roll(self, cluster_id: int, *, trigger: str) -> None:
        """Replace every container, one per step (docs/cluster-api.md §8: the watch sees each
        step)."""
        cluster = self._state.clusters[cluster_id]
        self._state.record_deploy(cluster_id, cluster.version, trigger)
        fail = self._faults.fails_version(cluster.version or "")
        self._state.set_fields(cluster_id, status=UPDATING)
        self._start(cluster_id, self._roll(cluster_id, fail=fail))

    def resume(self) -> None:
        """Restart the operations a saved state was in the middle of."""
        for cluster in list(self._state.clusters.values()):
            if cluster.status == UPDATING:
                self._start(cluster.id, self._roll(cluster.id, fail=False))
            elif cluster.status in (CREATING, RESIZING):
                self._start(cluster.id, self._finish_after_step(cluster.id))

    def cancel(self, cluster_id: int) -> None:
        task = self._current.pop(cluster_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Cancel every operation and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._current.clear()

    def _start(self, cluster_id: int, work: Coroutine[Any, Any, None]) -> None:
        self.cancel(cluster_id)
        task = asyncio.get_running_loop().create_task(work, name=f"sim-op-{cluster_id}")
        self._current[cluster_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        for cluster_id, current in list(self._current.items()):
            if current is task:
                del self._current[cluster_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator operation failed", exc_info=task.exception())

    async def _finish_after_step(self, cluster_id: int) -> None:
        await self.sleep(self._step_s)
        if cluster_id in self._state.clusters:
            self._state.settle(cluster_id, CREATE_SUCC)

    async def _roll(self, cluster_id: int, *, fail: bool) -> None:
        old = [c.container_id for c in self._state.clusters[cluster_id].containers]
        # A failing rollout replaces fewer than half, so old containers are left behind.
        todo = old[: len(old) // 2] if fail else old
        for container_id in todo:
            await self.sleep(self._step_s)
            if cluster_id not in self._state.clusters:
                return
            self._state.swap_container(cluster_id, container_id)
        if fail or not todo:
            await self.sleep(self._step_s)
        if cluster_id in self._state.clusters:
            self._state.settle(cluster_id, UPDATE_FAIL if fail else CREATE_SUCC)
