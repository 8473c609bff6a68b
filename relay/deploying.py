"""Run one claimed deployment: (skip?) -> snapshot -> trigger -> follow -> finish, once.

The worker (relay/worker.py) keeps only the loop: claims, tasks, leases, gauges. Everything
about one deployment is here (the triggers in relay/triggers.py), and it ends in one place:

1. `_decide` works the deployment out to an `Ending` (a final status and its reason). The
   one catch-all of relay lives here: a deployment that raises something unexpected ends
   `error`, "internal error: <type>".
2. `_finish` commits that status with the claim's fence. The store moves only an open
   deployment, so a deployment ends exactly once (a cancel or a takeover wins: LeaseLost).
3. `Outcomes.ended` (relay/outcomes.py), the post-finish seam, runs only after the final
   status is committed, shielded from cancellation (model: procrastinate's worker):
   metrics, the canonical log line, then every listener, each one guarded. Nothing there can
   finish the deployment again. A future outbox (reporting back, notifications) writes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from relay.clock import Clock
from relay.cluster.client import RetryTally
from relay.cluster.errors import ClusterApiError
from relay.cluster.models import Cluster
from relay.cluster.retry import RetryPolicy
from relay.config import Settings
from relay.deployment import Deployment, DeploymentStatus
from relay.follow import FollowSettings, Outcome, WatchApi, follow, observe, read_cluster
from relay.gatekeeper import Gatekeeper
from relay.live import LiveSettings
from relay.logs import bind_log_context, reset_log_context
from relay.metrics import Metrics
from relay.outcomes import Outcomes
from relay.rollout import Judge, Observation, Progress, Verdict, is_failure_status
from relay.scheduling import skip_reason
from relay.store import Store, StoreError
from relay.store.base import Claim, LeaseLost
from relay.triggers import (
    TRIGGERS,
    Trigger,
    TriggerApi,
    TriggerInput,
    TriggerRefused,
    allowed_hook_hosts,
    route_of,
)

log = structlog.get_logger("relay.worker")


class ClusterApi(TriggerApi, WatchApi, Protocol):
    """What a deployment needs of the cluster API (relay.cluster.ClusterClient)."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """The worker's timings, in seconds (from `rollout` and `cluster_api` of the settings)."""

    rollout_timeout_s: float = 900.0
    lease_s: float = 30.0
    idle_poll_s: float = 1.0  # how often an idle worker looks for expired leases
    max_in_flight: int = 5000
    shutdown_grace_s: float = 5.0
    gauge_interval_s: float = 1.0  # queue gauges are read from the store at most this often
    follow: FollowSettings = FollowSettings()
    # The longest one trigger can take; None: from the request timeout and the client's
    # default RetryPolicy (`trigger_hold_s`). A resumed `triggering` deployment waits this
    # long from the stored start of the old attempt before triggering again.
    trigger_max_s: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerSettings:
        r = settings.rollout
        return cls(
            rollout_timeout_s=r.timeout_s,
            lease_s=r.lease_s,
            trigger_max_s=_longest_call_s(settings.cluster_api.request_timeout_s,
                                          RetryPolicy(total_s=settings.cluster_api.retry_total_s)),
            follow=FollowSettings(
                watch_timeout_s=settings.cluster_api.watch_timeout_s,
                request_timeout_s=settings.cluster_api.request_timeout_s,
                min_poll_interval_s=r.poll_interval_s,
            ),
        )

    @property
    def trigger_hold_s(self) -> float:
        """`trigger_max_s`, or the longest the client's default RetryPolicy lets one call
        take: request timeout x attempts, at most its total budget plus one request timeout
        (10 s requests: 55 s)."""
        if self.trigger_max_s is not None:
            return self.trigger_max_s
        return _longest_call_s(self.follow.request_timeout_s, RetryPolicy())


def _longest_call_s(request_timeout_s: float, policy: RetryPolicy) -> float:
    """The longest one retried call can take, in seconds: `attempts` requests, and no attempt
    starts after the policy's `total_s` (`cluster_api.retry_total_s`)."""
    return min(request_timeout_s * policy.attempts, policy.total_s + request_timeout_s)


@dataclass(frozen=True, slots=True)
class Ending:
    """How a deployment ends, before it is committed."""

    status: DeploymentStatus
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # for the canonical log line


class InFlight:
    """The deployments whose trigger is being sent now (shutdown waits for them, bounded)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def __bool__(self) -> bool:
        return bool(self._ids)

    @contextlib.contextmanager
    def sending(self, dep_id: int) -> Any:
        self._ids.add(dep_id)
        self.idle.clear()
        try:
            yield
        finally:
            self._ids.discard(dep_id)
            if not self._ids:
                self.idle.set()


# -- one deployment ---------------------------------------------------------------------------

class Deploying:
    """Drives claimed deployments to their end; one instance serves every claim of a worker."""

    def __init__(self, store: Store, api: ClusterApi, live: LiveSettings, *,
                 worker_settings: WorkerSettings, clock: Clock, metrics: Metrics,
                 outcomes: Outcomes, in_flight: InFlight,
                 gatekeeper: Gatekeeper | None = None) -> None:
        self._store = store
        self._gates = gatekeeper
        self._snapshots: dict[int, Observation] = {}  # taken before the trigger, per deployment
        self._api = api
        self._live = live  # the routes in force (a SIGHUP may replace them)
        self._ws = worker_settings
        self._clock = clock
        self._metrics = metrics
        self._outcomes = outcomes
        self._in_flight = in_flight
        self._hook_hosts = allowed_hook_hosts(live.current)  # cluster_api: restart-only

    async def run(self, claim: Claim) -> Deployment | None:
        """Work `claim` to its end and commit it; the final row, or None when it ended
        elsewhere (canceled, taken over) or the store is away (the lease runs out and a
        later claim resumes it)."""
        dep = claim.deployment
        retries: RetryTally = RetryTally()
        context = bind_log_context(deployment_id=dep.id, cluster=dep.cluster)
        try:
            if claim.resumed:
                log.info("resuming deployment", status=dep.status.value,
                         snapshot=claim.snapshot is not None)
            gate = (await self._gates.at_claim(dep, claim.fence)
                    if self._gates is not None and not claim.resumed else None)
            if gate is not None and gate.held:
                return None  # back to `held`: the gate pass releases it when the hold ends
            try:
                ending = (Ending(DeploymentStatus.SKIPPED, gate.skip)
                          if gate is not None and gate.skip is not None
                          else await self._decide(claim, retries))
            except Exception as exc:  # noqa: BLE001 - the one catch-all: log, end `error`
                if isinstance(exc, LeaseLost | StoreError):
                    raise
                log.exception("deployment crashed")
                ending = Ending(DeploymentStatus.ERROR, f"internal error: {type(exc).__name__}")
            return await self._finish(claim, ending, api_retries=sum(retries.values()))
        except LeaseLost as exc:
            log.warning("deployment ended elsewhere (canceled or taken over); stopping",
                        error=str(exc))
        except StoreError as exc:
            # The database is away: the outcome is not known to be wrong, so do not end it
            # `error`. Its lease runs out and a claim (here or on another replica) resumes it.
            log.warning("store unavailable; the deployment resumes when its lease expires",
                        error=str(exc))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release(dep.id, fence=claim.fence))
            raise
        finally:
            self._snapshots.pop(dep.id, None)
            # ValueError: closed outside its task (garbage-collected while pending)
            with contextlib.suppress(ValueError):
                reset_log_context(context)
        return None

    async def _after_end(self, final: Deployment, snapshot: Observation | None) -> None:
        """The gates' consequences of an end (rollback, pause, quarantine); a store error
        is logged, never raised: the deployment's own end is committed already."""
        if self._gates is None:
            return
        try:
            await self._gates.after_end(final, snapshot)
        except StoreError as exc:
            log.error("rollback / quarantine not recorded: store unavailable", error=str(exc))

    async def _finish(self, claim: Claim, ending: Ending, **extra: Any) -> Deployment:
        """Commit `ending`; then the gates' consequences (rollback, pause, quarantine: so
        that listeners see them recorded); then, shielded, the post-finish seam."""
        write = asyncio.ensure_future(self._store.finish(
            claim.deployment.id, fence=claim.fence, status=ending.status,
            now=self._clock.now(), error=ending.error))
        try:
            final = await asyncio.shield(write)
        except asyncio.CancelledError:
            # Committed or not, learn which before giving up; the cancel wins either way.
            with contextlib.suppress(Exception):
                final = await write
                self._outcomes.ended(final, **extra, **ending.extra)
            raise
        try:
            snapshot = self._snapshots.pop(claim.deployment.id, None) or claim.snapshot
            await asyncio.shield(self._after_end(final, snapshot))
        finally:
            self._outcomes.ended(final, **extra, **ending.extra)
        return final

    async def _decide(self, claim: Claim, retries: RetryTally) -> Ending:
        dep = claim.deployment
        trigger = TRIGGERS[dep.action]
        version = dep.version if trigger.reads_back_version else None
        if claim.resumed and dep.status is DeploymentStatus.ROLLING_OUT and claim.snapshot:
            return await self._follow(dep, claim, Judge(claim.snapshot, version),
                                      dep.triggered_at, retries)
        if claim.resumed and dep.trigger_started_at is not None:
            await self._wait_out(dep.trigger_started_at)
        deadline = self._clock.monotonic() + self._ws.rollout_timeout_s
        try:
            cluster = await read_cluster(self._api, dep.cluster, clock=self._clock,
                                         deadline=deadline, settings=self._ws.follow,
                                         retries=retries)
        except ClusterApiError as exc:
            return Ending(DeploymentStatus.ERROR, f"reading cluster {dep.cluster}: {exc.detail}")
        now = observe(cluster)
        judge = Judge(claim.snapshot or now, version)
        if claim.snapshot is not None and judge.shows_effect(now):
            log.info("resumed deployment: trigger already took effect; following")
        else:
            if claim.snapshot is None:
                history = (claim.history if claim.history is not None
                           else await self._store.history(dep.cluster))
                reason = skip_reason(dep, cluster_version=now.version,
                                     cluster_failed=is_failure_status(now.status),
                                     history=history)
                if reason is not None:
                    return Ending(DeploymentStatus.SKIPPED, reason)
                self._snapshots[dep.id] = now
            try:  # a first attempt stores its snapshot with the triggering mark: one write
                await self._trigger(dep, cluster, trigger, claim.fence, retries,
                                    snapshot=now if claim.snapshot is None else None)
            except TriggerRefused as exc:
                return Ending(DeploymentStatus.ERROR, str(exc))
        triggered_at = self._clock.now()
        await self._store.mark_rolling_out(dep.id, fence=claim.fence, triggered_at=triggered_at)
        self._outcomes.status(dep.id, DeploymentStatus.ROLLING_OUT)
        self._metrics.delivery_to_trigger.observe(
            max(0.0, (triggered_at - dep.created_at).total_seconds()))
        return await self._follow(dep, claim, judge, triggered_at, retries)

    async def _wait_out(self, started: datetime) -> None:
        """Before triggering again, let the old attempt (started at `started`) run out: a
        trigger held at the API longer than the lease must not land after a newer one."""
        left = (started - self._clock.now()).total_seconds() + self._ws.trigger_hold_s
        if left > 0:
            log.info("waiting out the interrupted trigger attempt", wait_s=round(left, 3))
            await self._clock.sleep(left)

    async def _trigger(self, dep: Deployment, cluster: Cluster, trigger: Trigger, fence: int,
                       retries: RetryTally, *, snapshot: Observation | None = None) -> None:
        await self._store.mark_triggering(dep.id, fence=fence, now=self._clock.now(),
                                          snapshot=snapshot)
        with self._in_flight.sending(dep.id):
            try:
                await trigger.send(TriggerInput(
                    api=self._api, deployment=dep, cluster=cluster,
                    route=route_of(dep, self._live.current.routes), hook_hosts=self._hook_hosts,
                    payload=lambda: self._hook_payload(dep), retries=retries))
            except ClusterApiError as exc:
                raise TriggerRefused(f"trigger refused: {exc}") from exc

    async def _hook_payload(self, dep: Deployment) -> tuple[bytes, dict[str, str]]:
        stored = await self._store.get_delivery(dep.delivery_id) if dep.delivery_id else None
        if stored is None:  # by hand: there is no delivery to forward
            body = json.dumps({"relay": {"deployment": dep.id, "cluster": dep.cluster,
                                         "version": dep.version, "manual": True}}).encode()
            return body, {"Content-Type": "application/json"}
        d = stored.delivery
        return d.body, {"Content-Type": d.content_type, **dict(d.headers)}

    async def _follow(self, dep: Deployment, claim: Claim, judge: Judge,
                      triggered_at: datetime | None, retries: RetryTally) -> Ending:
        elapsed = (self._clock.now() - triggered_at).total_seconds() if triggered_at else 0.0
        deadline = self._clock.monotonic() + max(0.0, self._ws.rollout_timeout_s - elapsed)

        async def progress(now: Observation, p: Progress) -> None:
            data = {"status": now.status, "replaced": p.replaced, "of": p.of,
                    "running": p.running, "replicas": p.replicas}
            log.debug("rollout progress", **data)
            with contextlib.suppress(StoreError):
                await self._store.save_progress(dep.id, fence=claim.fence, progress=data)

        outcome = await follow(self._api, dep.cluster, judge, clock=self._clock,
                               deadline=deadline, settings=self._ws.follow, on_progress=progress,
                               retries=retries)
        return ending_of(outcome, self._ws.rollout_timeout_s)


def ending_of(outcome: Outcome, timeout_s: float) -> Ending:
    """A follow's outcome -> how the deployment ends (pure)."""
    extra = {"api_errors": outcome.api_errors, "polls": outcome.polls}
    if outcome.verdict is Verdict.SUCCEEDED:
        return Ending(DeploymentStatus.SUCCEEDED, None, extra)
    if outcome.verdict is Verdict.FAILED:
        return Ending(DeploymentStatus.FAILED, outcome.error, extra)
    p = outcome.progress
    where = (f": {p.replaced}/{p.of} containers replaced, {p.running}/{p.replicas} running"
             if p else "")
    return Ending(DeploymentStatus.TIMED_OUT, f"no verdict after {timeout_s:g} s{where}", extra)
