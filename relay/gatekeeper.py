"""Carries out the deploy gates' decisions (relay.gates) against the store: holds, latest-wins
release, quarantine, rollback. The decisions are pure (relay.gates.*); this module only reads
what they need (scheduled holds from the settings, pauses and quarantine from the store, the
clock) and applies their answers as conditional store updates.

Where each gate runs (docs/gates.md):
- at claim (`at_claim`, called by relay.deploying before the cluster is read): a quarantined
  commit of an automatic deployment ends `skipped`; a fresh claim a hold covers goes back to
  `held` (its lease let go), so no deployment starts during a hold, whichever replica claims;
- in the worker loop (`sweep`, before each claim round and at the next hold change): per
  cluster with waiting deployments, relay.gates.release.decide_release supersedes the older
  ones and releases the newest `held` one when nothing holds the cluster any more. Each move
  is a conditional update (`held` -> `queued` only while still `held`), so replicas and
  restarts release it exactly once;
- after a deployment ends (`after_failure`): relay.gates.rollback decides rollback, pause,
  quarantine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from relay.clock import Clock
from relay.config import Route, Settings
from relay.deployment import (
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    NewDeployment,
    WaitingStatus,
)
from relay.events import Source
from relay.gates.checks import ChecksResult, Outcome, State, decide_checks, poll_delay
from relay.gates.filters import Verdict, decide_files
from relay.gates.holds import ActiveHold, Pause, active_holds, next_change
from relay.gates.release import Waiting, decide_release
from relay.gates.rollback import (
    Action,
    FailedDeployment,
    OnFailure,
    RollbackDecision,
    check_quarantine,
    consequences,
    decide_rollback,
)
from relay.githost import (
    Checks,
    ChecksState,
    Comparison,
    GitHost,
    GitHostError,
    RateLimited,
)
from relay.live import LiveSettings
from relay.metrics import Metrics
from relay.rollout import Observation, is_failure_status
from relay.store import Store, StoreError

log = structlog.get_logger("relay.gates")

_WAITING = frozenset({DeploymentStatus.HELD, DeploymentStatus.WAITING_CHECKS,
                      DeploymentStatus.QUEUED})
# Deliveries that may mean a commit's checks changed: they wake every checks wait early
# (the host's API stays the truth). GitHub / Gitea event header values, GitLab's hook name.
CHECK_EVENTS = frozenset({"status", "check_run", "check_suite", "pipeline hook"})


class ChecksReader(Protocol):
    """Reads a commit's checks from its git host (a relay.githost client per source).

    `sources`: the sources it can read (those with an `api`); `checks` raises
    relay.githost errors (RateLimited with `retry_after`).
    """

    sources: Collection[Source]

    async def checks(self, source: Source, repo: str, sha: str) -> Checks: ...


class CompareReader(Protocol):
    """Reads the files changed between two commits from the git host (compare API)."""

    sources: Collection[Source]

    async def compare(self, source: Source, repo: str, base: str, head: str) -> Comparison: ...


class GitHostChecks:
    """A ChecksReader and CompareReader over relay.githost clients, one per source with an
    `api` (the application builds it from the sources' api settings)."""

    def __init__(self, clients: Mapping[Source, GitHost]) -> None:
        self._clients = dict(clients)
        self.sources: Collection[Source] = frozenset(self._clients)

    async def checks(self, source: Source, repo: str, sha: str) -> Checks:
        """The commit's checks on `source`'s host (KeyError for a source without a client)."""
        return await self._clients[source].checks(repo, sha)

    async def compare(self, source: Source, repo: str, base: str, head: str) -> Comparison:
        """The files changed from `base` to `head` on `source`'s host."""
        return await self._clients[source].compare(repo, base, head)


def checks_result(checks: Checks, contexts: Sequence[str] = ()) -> ChecksResult:
    """A githost summary -> the gate's result. Nothing reported is pending (docs/gates.md);
    with `contexts`, a required name still pending keeps it pending (names of green checks
    are not in the summary, so a required name never reported cannot be told apart)."""
    if checks.state is ChecksState.RED:
        return ChecksResult(State.RED, checks.failing, checks.pending)
    if checks.state is ChecksState.PENDING or checks.total == 0:
        return ChecksResult(State.PENDING, (), checks.pending)
    if contexts and set(contexts) & set(checks.pending):
        return ChecksResult(State.PENDING, (), checks.pending)
    return ChecksResult(State.GREEN)


@dataclass(frozen=True, slots=True)
class ClaimGate:
    """What the gates say about a fresh claim: run it, skip it (`skip` reason), or it went
    back to `held` (`held`)."""

    skip: str | None = None
    held: bool = False


# Checks reads in flight at once in one pass (relay.gatekeeper.Gatekeeper.check_waiting).
CHECKS_AT_ONCE = 8

class Gatekeeper:
    """One per worker: applies the gates' decisions; every wait uses the injected clock."""

    def __init__(self, store: Store, live: LiveSettings, *, clock: Clock,
                 metrics: Metrics) -> None:
        self._store = store
        self._live = live  # routes in force (SIGHUP may replace them); holds: restart-only
        self._clock = clock
        self._metrics = metrics
        self.ended: list[Callable[[Deployment], None]] = []  # superseded ones, for Outcomes
        self.moved: list[Callable[[int, DeploymentStatus], None]] = []  # held / queued again
        self.checks: ChecksReader | None = None  # None: `wait_for_checks` is off
        self.compare: CompareReader | None = None  # None: incomplete file lists deploy
        self._polls: dict[int, tuple[int, datetime]] = {}  # id -> (attempt, next look at)
        self._waiting_checks: list[Deployment] = []  # found by the last sweep

    @property
    def _settings(self) -> Settings:
        return self._live.current

    async def holds_for(self, cluster: int, repo: str | None,
                        now: datetime) -> tuple[ActiveHold, ...]:
        """Every hold covering a deployment of `repo` on `cluster` at `now`."""
        pauses = await self._store.pauses()
        return active_holds(self._settings.holds, pauses, cluster, repo, now)

    async def at_claim(self, dep: Deployment, fence: int) -> ClaimGate:
        """Quarantine, then holds, for a fresh claim (never for a resumed one)."""
        kind = dep.kind or DeploymentKind.PUSH
        entries = await self._store.quarantine()
        verdict = check_quarantine(entries, cluster=dep.cluster, version=dep.version, kind=kind)
        if verdict.skip:
            return ClaimGate(skip=verdict.reason)
        if dep.needs_compare:
            skip = await self._compared(dep)
            if skip is not None:
                return ClaimGate(skip=skip)
        if verdict.lift is not None:
            await self._store.clear_quarantine(dep.cluster, dep.version)
            log.info("quarantine lifted by a manual deployment", cluster=dep.cluster,
                     version=dep.version, deployment_id=dep.id)
        if _exempt(dep):
            return ClaimGate()
        held = await self.holds_for(dep.cluster, dep.repo, self._clock.now())
        if not held:
            return ClaimGate()
        if await self._store.hold_claimed(dep.id, fence=fence, now=self._clock.now()):
            log.info("deployment held", deployment_id=dep.id, cluster=dep.cluster,
                     status=DeploymentStatus.HELD.value, kind=kind.value,
                     holds=[h.name for h in held])
            self._moved(dep.id, DeploymentStatus.HELD)
            return ClaimGate(held=True)
        return ClaimGate()

    def compare_sources(self) -> frozenset[Source]:
        """The sources whose compare API can be asked (routing marks `needs_compare`)."""
        return frozenset(self.compare.sources) if self.compare is not None else frozenset()

    async def _compared(self, dep: Deployment) -> str | None:
        """For a `needs_compare` deployment: the paths filter's reason to skip it, from the
        host's compare API; None to go on (no reader, an error, a truncated comparison)."""
        route = self._route(dep)
        if (self.compare is None or route is None or dep.source is None or dep.repo is None
                or not dep.before or dep.before.strip("0") == ""):
            return None
        try:
            comparison = await self.compare.compare(dep.source, dep.repo, dep.before,
                                                    dep.version)
        except GitHostError as exc:
            log.warning("compare API failed; deploying rather than guessing",
                        deployment_id=dep.id, error=str(exc))
            return None
        if not comparison.complete:
            return None
        decision = decide_files(route.filters, comparison.files)
        if decision.verdict is Verdict.IGNORE:
            return f"paths: {decision.reason} (compare API)"
        return None

    def checks_sources(self) -> frozenset[Source]:
        """The sources whose checks can be read (routing admits `waiting_checks` for them)."""
        return frozenset(self.checks.sources) if self.checks is not None else frozenset()

    def poke(self) -> None:
        """A status / check / pipeline delivery arrived: look at every checks wait now."""
        self._polls = {dep_id: (attempt, datetime.min.replace(tzinfo=now.tzinfo))
                       for dep_id, (attempt, now) in self._polls.items()}

    async def sweep(self) -> datetime | None:
        """Supersede and release per cluster (see the module docstring); the earliest time a
        hold now in force ends (when to sweep again), or None."""
        now = self._clock.now()
        waiting = await self._store.gate_waiting()
        by_cluster: dict[int, list[Deployment]] = defaultdict(list)
        for dep in waiting:
            by_cluster[dep.cluster].append(dep)
        wake: list[datetime] = []
        for cluster, deps in sorted(by_cluster.items()):
            newest = max(deps, key=lambda d: (d.created_at, d.id))
            holds = await self.holds_for(cluster, newest.repo, now)
            if holds:
                change = next_change(holds)
                if change is not None:
                    wake.append(change)
            await self._apply(deps, hold_active=bool(holds) and not _exempt(newest), now=now)
        self._gauges(waiting)
        self._waiting_checks = [d for d in waiting if d.status is DeploymentStatus.WAITING_CHECKS]
        return min(wake) if wake else None

    async def check_waiting(self) -> datetime | None:
        """Look at the checks of the deployments the last sweep found waiting for them, at
        most CHECKS_AT_ONCE at a time (each read is bounded by the reader's own timeout, so a
        slow host costs one timeout per wave, not one per deployment); the earliest next look."""
        now = self._clock.now()
        limit = asyncio.Semaphore(CHECKS_AT_ONCE)

        async def look(dep: Deployment) -> datetime | None:
            async with limit:
                return await self._look_at_checks(dep, now)

        due = await asyncio.gather(*(look(dep) for dep in self._waiting_checks))
        found = [when for when in due if when is not None]
        return min(found) if found else None

    async def _look_at_checks(self, dep: Deployment, now: datetime) -> datetime | None:
        """One look at a waiting deployment's checks when it is due; the next look's time."""
        attempt, due = self._polls.get(dep.id, (0, now))
        if due > now:
            return due
        route = self._route(dep)
        config = route.wait_for_checks if route is not None else None
        if config is None or self.checks is None or dep.source is None or dep.repo is None:
            await self._after_checks(dep, DeploymentStatus.QUEUED, None, now)
            return None
        deadline = dep.created_at + timedelta(seconds=config.timeout_s)
        retry_after = None
        try:
            found = await self.checks.checks(dep.source, dep.repo, dep.version)
            result = checks_result(found, config.contexts)
        except GitHostError as exc:
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            log.warning("reading checks failed; will look again", deployment_id=dep.id,
                        error=str(exc))
            result = ChecksResult(State.PENDING)
        decision = decide_checks(config, result, waiting_since=dep.created_at, now=now)
        if decision.outcome is Outcome.RELEASE:
            await self._after_checks(dep, DeploymentStatus.QUEUED, None, now)
            return None
        if decision.outcome is Outcome.SKIP:
            await self._after_checks(dep, DeploymentStatus.SKIPPED, decision.reason, now)
            return None
        delay = poll_delay(attempt, now=now, deadline=deadline, retry_after_s=retry_after)
        nxt = now + timedelta(seconds=delay)
        self._polls[dep.id] = (attempt + 1, nxt)
        return nxt

    async def _after_checks(self, dep: Deployment, to: DeploymentStatus, reason: str | None,
                            now: datetime) -> None:
        self._polls.pop(dep.id, None)
        moved = await self._store.gate_move(dep.id, expect=DeploymentStatus.WAITING_CHECKS,
                                            to=to, now=now, error=reason)
        if moved is None:
            return
        log.info("checks gate decided", deployment_id=dep.id, cluster=dep.cluster,
                 status=to.value, reason=reason)
        if to is DeploymentStatus.QUEUED:
            self._moved(dep.id, to)
        else:
            for listener in self.ended:
                listener(moved)

    async def _apply(self, deps: Sequence[Deployment], *, hold_active: bool,
                     now: datetime) -> None:
        items = [Waiting(d.id, WaitingStatus(d.status.value), d.created_at,
                         override_hold=_exempt(d)) for d in deps if d.status in _WAITING]
        decision = decide_release(items, hold_active=hold_active)
        status = {d.id: d.status for d in deps}
        for move in decision.superseded:
            gone = await self._store.gate_move(
                move.id, expect=status[move.id], to=DeploymentStatus.SUPERSEDED, now=now,
                superseded_by=move.by)
            if gone is not None:
                for listener in self.ended:
                    listener(gone)
        if decision.queue is not None:
            moved = await self._store.gate_move(decision.queue, expect=DeploymentStatus.HELD,
                                                to=DeploymentStatus.QUEUED, now=now)
            if moved is not None:
                log.info("hold ended: deployment released", deployment_id=moved.id,
                         cluster=moved.cluster, status=moved.status.value)
                self._moved(moved.id, DeploymentStatus.QUEUED)
        if decision.hold is not None:
            again = await self._store.gate_move(decision.hold, expect=DeploymentStatus.QUEUED,
                                                to=DeploymentStatus.HELD, now=now)
            if again is not None:
                self._moved(again.id, DeploymentStatus.HELD)

    def _moved(self, dep_id: int, status: DeploymentStatus) -> None:
        for listener in self.moved:
            listener(dep_id, status)

    def _gauges(self, waiting: Sequence[Deployment]) -> None:
        counts = {s: 0 for s in (DeploymentStatus.HELD, DeploymentStatus.WAITING_CHECKS)}
        for dep in waiting:
            if dep.status in counts:
                counts[dep.status] += 1
        self._metrics.deployments_waiting.labels(reason="held").set(
            counts[DeploymentStatus.HELD])
        self._metrics.deployments_waiting.labels(reason="checks").set(
            counts[DeploymentStatus.WAITING_CHECKS])

    async def held_gauge(self) -> None:
        """relay_cluster_held{cluster} for every cluster a route names (best effort)."""
        with contextlib.suppress(StoreError):
            pauses = await self._store.pauses()
            now = self._clock.now()
            for cluster in sorted({r.cluster for r in self._settings.routes}):
                held = active_holds(self._settings.holds, pauses, cluster, None, now)
                self._metrics.cluster_held.labels(cluster=str(cluster)).set(1 if held else 0)

    # -- after a failure (relay.gates.rollback) ---------------------------------------------

    async def after_end(self, dep: Deployment, snapshot: Observation | None) -> Deployment | None:
        """Rollback / pause / quarantine after `dep` ended; the rollback deployment queued, if
        any. Only `failed` / `timed_out` deployments of routes with `on_failure: rollback`."""
        if dep.kind is DeploymentKind.ROLLBACK:  # outcome: the rollback's final status
            self._metrics.rollbacks.labels(cluster=str(dep.cluster),
                                           outcome=dep.status.value).inc()
        if dep.status not in (DeploymentStatus.FAILED, DeploymentStatus.TIMED_OUT):
            return None
        route = self._route(dep)
        if route is None:
            return None
        now = self._clock.now()
        failed = FailedDeployment(
            id=dep.id, cluster=dep.cluster, version=dep.version,
            kind=dep.kind or DeploymentKind.PUSH, status=dep.status,
            snapshot_version=snapshot.version if snapshot else None,
            snapshot_failing=bool(snapshot and is_failure_status(snapshot.status)))
        waiting = await self._store.gate_waiting()
        queued = await self._store.list_deployments(cluster=dep.cluster,
                                                    status=DeploymentStatus.QUEUED, limit=5)
        newer = any(w.cluster == dep.cluster and w.id > dep.id
                    for w in (*waiting, *queued) if w.status in _WAITING)
        decision = decide_rollback(
            failed, on_failure=OnFailure(route.on_failure), action=route.action.value,
            last_succeeded_version=await self._store.last_succeeded_version(dep.cluster),
            newer_waiting=newer)
        return await self._carry_out(decision, failed, dep, now)

    async def _carry_out(self, decision: RollbackDecision, failed: FailedDeployment,
                         dep: Deployment, now: datetime) -> Deployment | None:
        pause, entry = consequences(decision, failed, now)
        if entry is not None:
            await self._store.add_quarantine(entry)
            log.warning("commit quarantined", cluster=dep.cluster, version=dep.version,
                        deployment_id=dep.id)
        if pause is not None:
            await self._store.set_pause(pause)
            self._metrics.cluster_held.labels(cluster=str(dep.cluster)).set(1)
            log.error("cluster paused: rollback failed", cluster=dep.cluster,
                      deployment_id=dep.id, reason=decision.reason)
            return None
        if decision.action is not Action.ROLLBACK or decision.version is None:
            return None
        rollback = await self._store.enqueue(NewDeployment(
            cluster=dep.cluster, action=dep.action, version=decision.version,
            source=dep.source, repo=dep.repo, ref=dep.ref, manual=True,
            route_index=dep.route_index, kind=DeploymentKind.ROLLBACK, rollback_of=dep.id),
            now=now)
        await self._store.link_rollback(dep.id, rollback.id)
        log.warning("rollback queued", cluster=dep.cluster, deployment_id=rollback.id,
                    rollback_of=dep.id, version=decision.version, reason=decision.reason,
                    kind=DeploymentKind.ROLLBACK.value)
        return rollback

    def _route(self, dep: Deployment) -> Route | None:
        routes = self._settings.routes
        if dep.route_index is not None and dep.route_index < len(routes):
            route = routes[dep.route_index]
            if route.cluster == dep.cluster:
                return route
        return next((r for r in routes if r.cluster == dep.cluster), None)


def _exempt(dep: Deployment) -> bool:
    """Not held: a rollback (it restores the cluster), or a manual override with a reason."""
    return dep.kind is DeploymentKind.ROLLBACK or dep.override_reason is not None


def pause_of(cluster: int, reason: str, until: datetime | None, now: datetime) -> Pause:
    """A pause by hand (relay.gates.holds.Pause; HoldError for an empty reason)."""
    return Pause(cluster=cluster, reason=reason, until=until, since=now)
