"""The worker: claim -> (skip?) -> snapshot -> trigger -> follow -> finish, one task per cluster.

The only catch-all of relay lives here: a deployment that raises something unexpected is
logged, counted and ended `error`; the loop itself never dies of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog

from relay.clock import Clock
from relay.cluster.client import RETRIES
from relay.cluster.errors import ClusterApiError
from relay.cluster.models import Cluster, Container
from relay.config import Action, Settings
from relay.deployment import Deployment, DeploymentStatus
from relay.follow import FollowSettings, Outcome, follow, observe
from relay.metrics import Metrics
from relay.rollout import Judge, Observation, Progress, Verdict, is_failure_status
from relay.scheduling import skip_reason
from relay.store import Store, StoreError
from relay.store.base import Claim, LeaseLost

log = structlog.get_logger("relay.worker")


class ClusterApi(Protocol):
    async def get(self, cluster_id: int) -> Cluster: ...

    async def update(self, cluster_id: int, patch: dict[str, Any]) -> None: ...

    async def watch(
        self, cluster_id: int, *, timeout_s: float | None = None
    ) -> tuple[Container, ...]: ...

    async def post_hook(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    rollout_timeout_s: float = 900.0
    lease_s: float = 30.0
    idle_poll_s: float = 1.0  # how often an idle worker looks for expired leases
    max_in_flight: int = 5000
    shutdown_grace_s: float = 5.0
    gauge_interval_s: float = 1.0  # queue gauges are read from the store at most this often
    follow: FollowSettings = FollowSettings()

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerSettings:
        r = settings.rollout
        return cls(
            rollout_timeout_s=r.timeout_s,
            lease_s=r.lease_s,
            follow=FollowSettings(
                watch_timeout_s=settings.cluster_api.watch_timeout_s,
                request_timeout_s=settings.cluster_api.request_timeout_s,
                min_poll_interval_s=r.poll_interval_s,
            ),
        )


class TriggerRefused(Exception):
    """The trigger cannot or must not be sent: the deployment ends `error`."""


class Worker:
    """Runs deployments from the store until stopped; many clusters in parallel."""

    def __init__(self, store: Store, api: ClusterApi, settings: Settings, *, metrics: Metrics,
                 clock: Clock, worker_settings: WorkerSettings | None = None,
                 owner: str | None = None) -> None:
        self._store = store
        self._api = api
        self._settings = settings
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
        self._triggering: set[int] = set()
        self._no_triggers = asyncio.Event()
        self._listeners: list[Callable[[Deployment], None]] = []
        self._status_listeners: list[Callable[[int, DeploymentStatus], None]] = []

    def add_listener(self, listener: Callable[[Deployment], None]) -> None:
        """Call `listener` with every deployment that reaches a final status here."""
        self._listeners.append(listener)

    def add_status_listener(self, listener: Callable[[int, DeploymentStatus], None]) -> None:
        """Call `listener(deployment_id, status)` on every status this worker writes."""
        self._status_listeners.append(listener)

    def _notify(self, dep_id: int, status: DeploymentStatus) -> None:
        for listener in self._status_listeners:
            listener(dep_id, status)

    def wake(self, clusters: Iterable[int] | None = None) -> None:
        """Look for work now (a delivery was stored, a deployment ended).

        With `clusters`, the work is for those clusters only: when this worker is already
        running a deployment of each, there is nothing to claim until those end (and their
        end wakes the loop), so the claim is skipped.
        """
        if clusters is not None and self._running_clusters.issuperset(clusters):
            return
        self._wake.set()

    async def run(self) -> None:
        """Claim and start deployments until `stop()`; never dies of a deployment's error."""
        log.info("worker started", owner=self.owner)  # the lease_owner of its claims
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim_all()
                await self._refresh_gauges()
                failures = 0
            except Exception:  # noqa: BLE001 - the loop's catch-all: log, back off, go on
                failures += 1
                log.exception("worker loop error; retrying", failures=failures)
                self.loop_errors += 1
            pause = self._ws.idle_poll_s * min(2 ** failures, 30)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def stop(self) -> None:
        """Stop claiming; let triggers in flight end (bounded); leave the rest to resume."""
        self._stopping = True
        self._wake.set()
        if self._triggering:
            self._no_triggers.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ws.shutdown_grace_s):
                    await self._no_triggers.wait()
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
                self._record_final(old)
            dep = claim.deployment
            task = asyncio.create_task(self._run(claim), name=f"deployment-{dep.id}")
            self._tasks[dep.id] = task
            self._running_clusters.add(dep.cluster)
            # A done-callback, not a `finally`: it also runs for a task cancelled unstarted.
            task.add_done_callback(functools.partial(self._forget, dep))

    def _forget(self, dep: Deployment, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(dep.id, None)
        self._running_clusters.discard(dep.cluster)
        self.wake()

    async def _refresh_gauges(self) -> None:
        """Set the queue gauges from the store, at most once per `gauge_interval_s`."""
        now = asyncio.get_running_loop().time()
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

    # -- one deployment -----------------------------------------------------------------------

    async def _run(self, claim: Claim) -> None:
        dep = claim.deployment
        structlog.contextvars.bind_contextvars(deployment_id=dep.id, cluster=dep.cluster)
        retries: dict[str, int] = {}
        RETRIES.set(retries)  # this task's own context: counts only this deployment's retries
        if claim.resumed:
            log.info("resuming deployment", status=dep.status.value,
                     snapshot=claim.snapshot is not None)
        renewer = asyncio.create_task(self._renew(dep.id, claim.fence, asyncio.current_task()))
        try:
            status, error, extra = await self._drive(claim)
            final = await self._store.finish(
                dep.id, fence=claim.fence, status=status, now=self._clock.now(), error=error)
            self._record_final(final, api_retries=sum(retries.values()), **extra)
        except LeaseLost as exc:
            log.warning("deployment taken over by another worker", error=str(exc))
        except StoreError as exc:
            # The database is away: the outcome is not known to be wrong, so do not end it
            # `error`. Its lease runs out and a claim (here or on another replica) resumes it.
            log.warning("store unavailable; the deployment resumes when its lease expires",
                        error=str(exc))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release(dep.id, fence=claim.fence))
            raise
        except Exception as exc:  # noqa: BLE001 - the one catch-all: log, count, end `error`
            log.exception("deployment crashed")
            with contextlib.suppress(Exception):
                final = await self._store.finish(
                    dep.id, fence=claim.fence, status=DeploymentStatus.ERROR,
                    now=self._clock.now(), error=f"internal error: {type(exc).__name__}")
                self._record_final(final)
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            structlog.contextvars.unbind_contextvars("deployment_id", "cluster")

    async def _renew(self, dep_id: int, fence: int, owner: asyncio.Task[Any] | None) -> None:
        while True:
            await asyncio.sleep(self._ws.lease_s / 3)
            try:
                await self._store.renew(dep_id, fence=fence, now=self._clock.now(),
                                        lease_s=self._ws.lease_s)
            except LeaseLost:
                log.warning("lease lost; stopping work on the deployment")
                if owner is not None:
                    owner.cancel()
                return
            except StoreError as exc:
                log.warning("lease renewal failed; will retry", error=str(exc))

    async def _drive(self, claim: Claim) -> tuple[DeploymentStatus, str | None, dict[str, Any]]:
        dep = claim.deployment
        version = dep.version if dep.action == Action.VERSION.value else None
        if claim.resumed and dep.status is DeploymentStatus.ROLLING_OUT and claim.snapshot:
            return await self._follow(dep, claim, Judge(claim.snapshot, version), dep.triggered_at)
        try:
            cluster = await self._api.get(dep.cluster)
        except ClusterApiError as exc:
            return DeploymentStatus.ERROR, f"reading cluster {dep.cluster}: {exc.detail}", {}
        now = observe(cluster)
        judge = Judge(claim.snapshot or now, version)
        if claim.snapshot is not None and judge.shows_effect(now):
            log.info("resumed deployment: trigger already took effect; following")
        else:
            if claim.snapshot is None:
                reason = skip_reason(dep, cluster_version=now.version,
                                     cluster_failed=is_failure_status(now.status),
                                     history=await self._store.history(dep.cluster))
                if reason is not None:
                    return DeploymentStatus.SKIPPED, reason, {}
                await self._store.save_snapshot(dep.id, fence=claim.fence, snapshot=now)
            try:
                await self._trigger(dep, cluster)
            except TriggerRefused as exc:
                return DeploymentStatus.ERROR, str(exc), {}
        triggered_at = self._clock.now()
        await self._store.mark_rolling_out(dep.id, fence=claim.fence, triggered_at=triggered_at)
        self._notify(dep.id, DeploymentStatus.ROLLING_OUT)
        self._metrics.delivery_to_trigger.observe(
            max(0.0, (triggered_at - dep.created_at).total_seconds()))
        return await self._follow(dep, claim, judge, triggered_at)

    async def _trigger(self, dep: Deployment, cluster: Cluster) -> None:
        self._triggering.add(dep.id)
        try:
            if dep.action == Action.VERSION.value:
                await self._api.update(dep.cluster, self._version_patch(dep))
            else:
                await self._post_hook(dep, cluster)
        except ClusterApiError as exc:
            raise TriggerRefused(f"trigger refused: {exc}") from exc
        finally:
            self._triggering.discard(dep.id)
            if not self._triggering:
                self._no_triggers.set()

    def _version_patch(self, dep: Deployment) -> dict[str, Any]:
        """Only the version plus the route's configured block: never a value read back."""
        block: dict[str, Any] = {}
        for route in self._settings.routes:
            if route.cluster == dep.cluster and route.version_control is not None and (
                    dep.route_index is None or route.index == dep.route_index):
                block = route.version_control.to_api()
                break
        return {"version_control": {**block, "version": dep.version}}

    async def _post_hook(self, dep: Deployment, cluster: Cluster) -> None:
        url = cluster.web_hook_url
        if not url:
            raise TriggerRefused(f"cluster {dep.cluster} has no web_hook_url")
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._allowed_hook_hosts():
            raise TriggerRefused(
                f"web_hook_url host {host!r} is not the API's host nor in cluster_api.hook_hosts")
        body, headers = await self._hook_payload(dep)
        await self._api.post_hook(url, body, headers)

    def _allowed_hook_hosts(self) -> set[str]:
        api = self._settings.cluster_api
        base = api.base_url if not api.embedded else "http://127.0.0.1"
        hosts = {h.lower() for h in api.hook_hosts}
        hosts.add((urlsplit(base).hostname or "").lower())
        if api.embedded:
            hosts.update({"localhost", "127.0.0.1", self._settings.server.host.lower()})
        return hosts

    async def _hook_payload(self, dep: Deployment) -> tuple[bytes, dict[str, str]]:
        stored = await self._store.get_delivery(dep.delivery_id) if dep.delivery_id else None
        if stored is None:  # by hand: there is no delivery to forward
            body = json.dumps({"relay": {"deployment": dep.id, "cluster": dep.cluster,
                                         "version": dep.version, "manual": True}}).encode()
            return body, {"Content-Type": "application/json"}
        d = stored.delivery
        return d.body, {"Content-Type": d.content_type, **dict(d.headers)}

    async def _follow(self, dep: Deployment, claim: Claim, judge: Judge,
                      triggered_at: datetime | None) -> tuple[DeploymentStatus, str | None,
                                                              dict[str, Any]]:
        elapsed = (self._clock.now() - triggered_at).total_seconds() if triggered_at else 0.0
        deadline = self._clock.monotonic() + max(0.0, self._ws.rollout_timeout_s - elapsed)

        async def progress(now: Observation, p: Progress) -> None:
            data = {"status": now.status, "replaced": p.replaced, "of": p.of,
                    "running": p.running, "replicas": p.replicas}
            log.debug("rollout progress", **data)
            with contextlib.suppress(StoreError):
                await self._store.save_progress(dep.id, fence=claim.fence, progress=data)

        outcome = await follow(self._api, dep.cluster, judge, clock=self._clock,
                               deadline=deadline, settings=self._ws.follow, on_progress=progress)
        return _final(outcome, self._ws.rollout_timeout_s)

    def _record_final(self, dep: Deployment, **extra: Any) -> None:
        for listener in self._listeners:
            listener(dep)
        self._notify(dep.id, dep.status)
        m = self._metrics
        cluster = str(dep.cluster)
        m.deployments.labels(cluster=cluster, action=dep.action, outcome=dep.status.value).inc()
        rollout_s = None
        if dep.triggered_at and dep.finished_at:
            rollout_s = (dep.finished_at - dep.triggered_at).total_seconds()
            m.deployment_duration.labels(cluster=cluster, outcome=dep.status.value).observe(
                rollout_s)
        total_s = (dep.finished_at - dep.created_at).total_seconds() if dep.finished_at else None
        log.info("deployment finished", deployment_id=dep.id, cluster=dep.cluster,
                 action=dep.action, version=dep.version, outcome=dep.status.value,
                 error=dep.error, superseded_by=dep.superseded_by, rollout_s=rollout_s,
                 total_s=total_s, attempts=dep.attempts, **extra)


def _final(outcome: Outcome, timeout_s: float) -> tuple[DeploymentStatus, str | None,
                                                         dict[str, Any]]:
    extra = {"api_errors": outcome.api_errors, "polls": outcome.polls}
    if outcome.verdict is Verdict.SUCCEEDED:
        return DeploymentStatus.SUCCEEDED, None, extra
    if outcome.verdict is Verdict.FAILED:
        return DeploymentStatus.FAILED, outcome.error, extra
    p = outcome.progress
    where = (f": {p.replaced}/{p.of} containers replaced, {p.running}/{p.replicas} running"
             if p else "")
    return DeploymentStatus.TIMED_OUT, f"no verdict after {timeout_s:g} s{where}", extra
