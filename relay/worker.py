"""The worker loop: claims, one task per deployment, leases, queue gauges.

What happens to one deployment (skip?, snapshot, trigger, follow, finish once) is
relay/deploying.py; the loop itself never dies of a deployment's error, and survives its own
with a bounded backoff. Every wait goes through the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog

from relay.clock import Clock
from relay.config import Settings
from relay.deploying import ClusterApi, Deploying, InFlight, WorkerSettings
from relay.deployment import Deployment, DeploymentStatus
from relay.gatekeeper import Gatekeeper
from relay.live import LiveSettings
from relay.metrics import Metrics
from relay.outcomes import Outcomes
from relay.store import Store, StoreError
from relay.store.base import Claim, LeaseLost
from relay.triggers import TriggerRefused

__all__ = ["ClusterApi", "TriggerRefused", "Worker", "WorkerSettings"]

log = structlog.get_logger("relay.worker")

RECHECK_MIN_S = 1.0  # a lease is renewed early (on a wake-up) at most this often


class Leases:
    """Keeps the leases of the deployments a worker runs, on the worker's clock.

    Each is renewed every `lease_s / 3`, and early on `recheck` (a wake-up from the store:
    perhaps a cancel on another replica), at most once per min(RECHECK_MIN_S, lease_s / 3).
    A lost lease (taken over, canceled) cancels the task working on the deployment.
    """

    def __init__(self, store: Store, clock: Clock, lease_s: float) -> None:
        self._store = store
        self._clock = clock
        self._lease_s = lease_s
        self._early: set[asyncio.Event] = set()

    def recheck(self) -> None:
        """Renew every lease now (throttled), so a moved fence is noticed at once."""
        for event in self._early:
            event.set()

    async def keep(self, dep_id: int, fence: int, owner: asyncio.Task[Any] | None) -> None:
        """Renew until cancelled; on LeaseLost cancel `owner` and return."""
        early = asyncio.Event()
        self._early.add(early)
        try:
            await self._renew_until_lost(dep_id, fence, owner, early)
        finally:
            self._early.discard(early)

    async def _renew_until_lost(self, dep_id: int, fence: int, owner: asyncio.Task[Any] | None,
                                early: asyncio.Event) -> None:
        period = self._lease_s / 3
        last = self._clock.monotonic()
        while True:
            await first_of(self._clock.sleep(period), early.wait())
            early.clear()
            gap = min(RECHECK_MIN_S, period) - (self._clock.monotonic() - last)
            if gap > 0:  # woken early, too soon after the last renewal
                await self._clock.sleep(gap)
            last = self._clock.monotonic()
            try:
                await self._store.renew(dep_id, fence=fence, now=self._clock.now(),
                                        lease_s=self._lease_s)
            except LeaseLost:
                log.warning("lease lost (canceled or taken over); stopping work on it",
                            deployment_id=dep_id)
                if owner is not None:
                    owner.cancel()
                return
            except StoreError as exc:
                log.warning("lease renewal failed; will retry", deployment_id=dep_id,
                            error=str(exc))


async def first_of(*waits: Awaitable[Any]) -> None:
    """Wait until the first of `waits` is done; cancel (and await) the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Worker:
    """Runs deployments from the store until stopped; many clusters in parallel."""

    def __init__(self, store: Store, api: ClusterApi, settings: Settings, *, metrics: Metrics,
                 clock: Clock, worker_settings: WorkerSettings | None = None,
                 owner: str | None = None, live: LiveSettings | None = None) -> None:
        self._store = store
        self._ws = worker_settings or WorkerSettings.from_settings(settings)
        self._metrics = metrics
        self._clock = clock
        self.owner = owner or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._running_clusters: set[int] = set()
        self.loop_errors = 0  # unexpected errors the claim loop survived
        self._gauges_at = float("-inf")
        self._in_flight = InFlight()
        self._outcomes = Outcomes(metrics)
        self._leases = Leases(store, clock, self._ws.lease_s)
        live = live or LiveSettings(settings)
        self.gatekeeper = Gatekeeper(store, live, clock=clock, metrics=metrics)
        self.gatekeeper.ended.append(self._outcomes.ended)
        self.gatekeeper.moved.append(self._outcomes.status)
        self._next_gate_change: float | None = None  # worker clock (monotonic) of a hold end
        self._deploying = Deploying(store, api, live,
                                    worker_settings=self._ws, clock=clock,
                                    metrics=metrics, outcomes=self._outcomes,
                                    in_flight=self._in_flight, gatekeeper=self.gatekeeper)

    def add_listener(self, listener: Callable[[Deployment], None]) -> None:
        """Call `listener` with every deployment that reaches a final status here, once its
        status is committed (a listener that raises is logged; the others still run)."""
        self._outcomes.listeners.append(listener)

    def add_status_listener(self, listener: Callable[[int, DeploymentStatus], None]) -> None:
        """Call `listener(deployment_id, status)` on every status this worker writes."""
        self._outcomes.status_listeners.append(listener)

    def wake(self, clusters: Iterable[int] | None = None) -> None:
        """Look for work now (a delivery was stored, a deployment ended).

        With `clusters`, the work is for those clusters only: when this worker is already
        running a deployment of each, there is nothing to claim until those end (and their
        end wakes the loop), so the claim is skipped.
        """
        if clusters is None:  # the store's news (another replica): perhaps a cancel
            self._leases.recheck()
        elif self._running_clusters.issuperset(clusters):
            return
        self._wake.set()

    @property
    def running(self) -> frozenset[int]:
        """Ids of the deployments this worker is working on now."""
        return frozenset(self._tasks)

    def canceled(self, dep: Deployment) -> None:
        """`dep` was canceled through the admin API (its fence moved): stop following it now
        if it runs here, and record its end (metrics, log line, listeners)."""
        task = self._tasks.get(dep.id)
        if task is not None:
            task.cancel()  # its release then finds the fence moved: nothing is written
        self._outcomes.ended(dep)
        self._wake.set()

    async def prime(self) -> None:
        """Set the per-cluster last-success gauge from the store (best effort)."""
        with contextlib.suppress(StoreError):
            for cluster, at in (await self._store.last_successes()).items():
                self._metrics.last_success.labels(cluster=str(cluster)).set(at.timestamp())

    async def run(self) -> None:
        """Claim and start deployments until `stop()`; never dies of a deployment's error."""
        log.info("worker started", owner=self.owner)  # the lease_owner of its claims
        await self.prime()
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                await self._gate_sweep()
                await self._claim_all()  # before the checks reads: a slow host delays no claim
                await self._check_waiting()
                await self._refresh_gauges()
                failures = 0
            except Exception:  # noqa: BLE001 - the loop's catch-all: log, back off, go on
                failures += 1
                log.exception("worker loop error; retrying", failures=failures)
                self.loop_errors += 1
            await self._idle(self._ws.idle_poll_s * min(2 ** failures, 30))

    async def _idle(self, pause_s: float) -> None:
        """Wait for a wake-up, or `pause_s` of the worker's clock, whichever comes first
        (sooner when a hold ends before: its newest held deployment is released then)."""
        if self._wake.is_set():
            return
        if self._next_gate_change is not None:
            pause_s = max(0.0, min(pause_s, self._next_gate_change - self._clock.monotonic()))
        await first_of(self._clock.sleep(pause_s), self._wake.wait())

    async def _gate_sweep(self) -> None:
        """The gates' pass before each claim round (relay.gatekeeper.Gatekeeper.sweep):
        supersede older waiting deployments, release the newest held one when its hold is
        over. A store error is logged; the next round tries again."""
        try:
            change = await self.gatekeeper.sweep()
        except StoreError as exc:
            log.warning("gate pass failed", error=str(exc))
            return
        self._next_gate_change = None
        if change is not None:
            left = (change - self._clock.now()).total_seconds()
            self._next_gate_change = self._clock.monotonic() + max(0.0, left)

    async def _check_waiting(self) -> None:
        """Read the checks of the deployments waiting for them (relay.gatekeeper), and wake
        the loop again when the next look is due."""
        try:
            due = await self.gatekeeper.check_waiting()
        except StoreError as exc:
            log.warning("checks pass failed", error=str(exc))
            return
        if due is not None:
            left = self._clock.monotonic() + max(0.0, (due - self._clock.now()).total_seconds())
            self._next_gate_change = (left if self._next_gate_change is None
                                      else min(self._next_gate_change, left))

    async def stop(self) -> None:
        """Stop claiming; let triggers in flight end (bounded); leave the rest to resume."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ws.shutdown_grace_s):
                    await self._in_flight.idle.wait()
        while self._tasks:  # a claim in flight may add one more; it checks _stopping first
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim_all(self) -> None:
        while not self._stopping and len(self._tasks) < self._ws.max_in_flight:
            try:
                claim = await self._store.claim(
                    owner=self.owner, now=self._clock.now(), lease_s=self._ws.lease_s)
            except StoreError as exc:
                log.warning("claim failed", error=str(exc))
                return
            if claim is None:
                return
            if self._stopping:  # stop() began while the claim was in flight: hand it back
                with contextlib.suppress(StoreError, LeaseLost):
                    await self._store.release(claim.deployment.id, fence=claim.fence)
                return
            for old in claim.superseded:
                self._outcomes.ended(old)
            self._start(claim)

    def _start(self, claim: Claim) -> None:
        dep = claim.deployment
        task = asyncio.create_task(self._run(claim), name=f"deployment-{dep.id}")
        self._tasks[dep.id] = task
        self._running_clusters.add(dep.cluster)
        # A done-callback, not a `finally`: it also runs for a task cancelled unstarted.
        task.add_done_callback(functools.partial(self._forget, dep))

    async def _run(self, claim: Claim) -> None:
        dep = claim.deployment
        renewer = asyncio.create_task(
            self._leases.keep(dep.id, claim.fence, asyncio.current_task()),
            name=f"lease-{dep.id}")
        try:
            await self._deploying.run(claim)
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

    def _forget(self, dep: Deployment, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(dep.id, None)
        self._running_clusters.discard(dep.cluster)
        self._wake.set()

    async def _refresh_gauges(self) -> None:
        """Set the queue gauges from the store, at most once per `gauge_interval_s`."""
        now = self._clock.monotonic()
        if now - self._gauges_at < self._ws.gauge_interval_s:
            return
        self._gauges_at = now
        with contextlib.suppress(StoreError):
            summary = await self._store.queue_summary()
            counts = summary.counts
            self._metrics.deployments_queued.set(counts.get(DeploymentStatus.QUEUED, 0))
            self._metrics.deployments_in_progress.set(
                counts.get(DeploymentStatus.TRIGGERING, 0)
                + counts.get(DeploymentStatus.ROLLING_OUT, 0))
            oldest = summary.oldest_queued_at
            age = (self._clock.now() - oldest).total_seconds() if oldest else 0.0
            self._metrics.oldest_queued_age.set(max(0.0, age))
