"""Live updates for the status page: one shared poller, many bounded subscriptions.

However many pages are open, one task reads the store: every `interval_s` (sooner when the
worker commits a status and calls `nudge`) it reads the open deployments and the newest ones,
and hands the ones that changed since its last look to every subscriber. It reads nothing
while no page is open. Each subscriber keeps only the newest state per deployment, at most
`max_pending` of them; past that it is told to reload instead (a slow page never grows
memory). `close` ends every subscription (application shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from relay.deployment import OPEN_STATUSES, Deployment
from relay.store import Store
from relay.store.admin_reads import DeploymentFilter
from relay.store.base import StoreError

log = structlog.get_logger("relay.ui")
NEWEST = 25  # the newest deployments looked at each tick (new rows, quick endings)
OPEN_LIMIT = 500  # open deployments looked at per status each tick


@dataclass(frozen=True, slots=True)
class Change:
    """A deployment as it is now, and its list row's event data, rendered once for all pages."""

    deployment: Deployment
    row: str


class Subscription:
    """The changes one page has yet to receive (newest state per deployment id)."""

    def __init__(self, max_pending: int) -> None:
        self._pending: dict[int, Change] = {}
        self._max = max_pending
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def offer(self, change: Change) -> None:
        dep_id = change.deployment.id
        if dep_id not in self._pending and len(self._pending) >= self._max:
            self.overflowed = True
        else:
            self._pending[dep_id] = change
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next_batch(self, timeout_s: float) -> list[Change]:
        """The pending changes (oldest id first), or [] after `timeout_s` without any."""
        if not self._pending and not self.closed and not self.overflowed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout_s)
        self._ready.clear()
        batch = [self._pending[k] for k in sorted(self._pending)]
        self._pending.clear()
        return batch


def fingerprint(dep: Deployment) -> tuple[Any, ...]:
    """What a page shows of a deployment that can change."""
    return (dep.status, dep.triggered_at, dep.trigger_started_at, dep.finished_at, dep.error,
            dep.superseded_by, dep.attempts,
            json.dumps(dep.progress, sort_keys=True) if dep.progress else None)


class LiveFeed:
    """The shared poller. `run` is the task; `subscribe` a page's context manager."""

    def __init__(self, store: Store, *, render: Callable[[Deployment], str] = str,
                 interval_s: float = 1.0, min_interval_s: float = 0.25,
                 max_pending: int = 200, max_subscribers: int = 500) -> None:
        self._store = store
        self._render = render
        self.interval_s = interval_s  # the longest wait between looks while pages are open
        self.min_interval_s = min_interval_s  # the shortest: nudges are coalesced
        self._max_pending = max_pending
        self.max_subscribers = max_subscribers
        self._subs: set[Subscription] = set()
        self._nudged = asyncio.Event()
        self._someone = asyncio.Event()
        self._seen: dict[int, tuple[Any, ...]] = {}
        self._closed = False
        self.ticks = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def nudge(self, *_: Any) -> None:
        """Look now (a status was committed): the worker's status listener calls this."""
        self._nudged.set()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for one page; raises OverflowError past `max_subscribers`."""
        if len(self._subs) >= self.max_subscribers:
            raise OverflowError("too many live pages open")
        sub = Subscription(self._max_pending)
        if self._closed:
            sub.close()
        self._subs.add(sub)
        self._someone.set()
        try:
            yield sub
        finally:
            self._subs.discard(sub)
            if not self._subs:
                self._someone.clear()

    def close(self) -> None:
        """End every subscription now and refuse to poll again."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()
        self._someone.set()
        self._nudged.set()

    async def run(self) -> None:
        """Poll while pages are open, until `close` (or cancellation)."""
        while not self._closed:
            if not self._subs:
                self._seen.clear()
                await self._someone.wait()
                continue
            self._nudged.clear()
            try:
                await self.tick()
            except StoreError as exc:
                log.warning("live page poll failed", error=str(exc))
            await asyncio.sleep(self.min_interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(),
                                       max(0.0, self.interval_s - self.min_interval_s))

    async def tick(self) -> list[Deployment]:
        """One look at the store: hand the changed deployments out and return them."""
        self.ticks += 1
        current: dict[int, Deployment] = {}
        for dep in await self._store.query_deployments(DeploymentFilter(limit=NEWEST)):
            current[dep.id] = dep
        for status in OPEN_STATUSES:
            for dep in await self._store.list_deployments(status=status, limit=OPEN_LIMIT):
                current[dep.id] = dep
        for dep_id, seen in list(self._seen.items()):
            if dep_id not in current and seen[0] in OPEN_STATUSES:
                ended = await self._store.get_deployment(dep_id)  # it ended since
                if ended is not None:
                    current[ended.id] = ended
        changed = []
        for dep in current.values():
            mark = fingerprint(dep)
            if self._seen.get(dep.id) != mark:
                changed.append(dep)
            self._seen[dep.id] = mark
        if len(self._seen) > 4 * (NEWEST + OPEN_LIMIT):  # forget finished, old ones
            self._seen = {k: v for k, v in self._seen.items() if k in current}
        changes = [Change(dep, self._render(dep)) for dep in changed]  # once, for every page
        for sub in list(self._subs):
            for change in changes:
                sub.offer(change)
        return changed
