"""Catch-up: read the routed branch heads from the git hosts and deploy a missed push.

GitHub never redelivers a failed delivery and GitLab switches a failing hook off: a push sent
while relay was down is lost. The reconciler reads, at start, every `reconcile.interval_s`
(plus up to JITTER of it), and soon after the store comes back from an outage, the head of
every branch a route names exactly (relay.reconcile_plan) on a source with `api`. A head
that no stored delivery of that ref brought and that was not triggered on the route's
clusters becomes a stored `catch_up` delivery (relay.ingest.catch_up), whose deployments the
worker runs like a push's. The store recognises the real delivery of the same push arriving
later (relay.store.catchup_sql) and deploys it no second time.

Reads are conditional (the ETag of the last answer in `If-None-Match`): an unchanged head is
a 304, free on GitHub's rate limit. A rate limit (`RateLimited`) ends the poll and the next
one waits at least what the host asked. With several replicas, one replica polls per
interval: the store's reconcile lease (a row) is taken for one interval.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
import structlog

from relay.clock import Clock
from relay.fakegit import api_url
from relay.githost import GitHost, GitHostError, Head, RateLimited, client_for
from relay.ingest import catch_up
from relay.live import LiveSettings
from relay.metrics import Metrics
from relay.reconcile_plan import Target, targets
from relay.settings import Route, Settings
from relay.store.base import Store, StoreError

log = structlog.get_logger("relay.reconcile")

JITTER = 0.1  # each wait is interval x (1 + up to this)
STORE_RETRY_S = 10.0  # after a store error: try again soon (the store "recovers")
MAX_RATE_LIMIT_WAIT_S = 3600.0


@dataclass(slots=True)
class _Seen:
    etag: str | None = None
    sha: str | None = None


@dataclass(frozen=True, slots=True)
class PollReport:
    """One poll: `polled` False when another replica held the lease; `read` heads asked for,
    `not_modified` of them 304, `caught_up` catch_up deliveries stored (missed pushes),
    `retry_after` the host's wait after a rate limit (seconds), `store_failed` when the store
    failed (the next poll comes after STORE_RETRY_S)."""

    polled: bool
    read: int = 0
    not_modified: int = 0
    caught_up: int = 0
    retry_after: float | None = None
    store_failed: bool = False
    errors: tuple[str, ...] = field(default=())


class Reconciler:
    """Polls the branch heads of one configuration; `run` until cancelled."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, metrics: Metrics,
                 hosts: Mapping[str, GitHost], *, wake: Callable[[list[int]], None],
                 owner: str | None = None, rng: Callable[[], float] = random.random,
                 live: LiveSettings | None = None) -> None:
        self._store = store
        self._live = live  # the routes in force: a reload (SIGHUP) changes what is polled
        self._routes: Sequence[Route] = settings.routes
        self._interval_s = float(settings.reconcile.interval_s)
        self._clock = clock
        self._metrics = metrics
        self._hosts = hosts
        self._wake = wake
        self._owner = owner or f"reconcile-{uuid.uuid4().hex[:12]}"
        self._rng = rng
        self._sources = [s for s in settings.sources if s.value in hosts]
        self._targets = targets(settings.routes, self._sources)
        self._seen: dict[Target, _Seen] = {}

    @property
    def targets(self) -> tuple[Target, ...]:
        self._follow_reload()
        return self._targets

    def _follow_reload(self) -> None:
        """Poll what the routes in force name (a route removed by a reload is not polled)."""
        routes = self._live.current.routes if self._live is not None else self._routes
        if routes is not self._routes:
            self._routes = routes
            self._targets = targets(routes, self._sources)
            self._seen = {t: seen for t, seen in self._seen.items() if t in self._targets}

    async def run(self) -> None:
        """Poll at once, then after every wait, until cancelled."""
        while True:
            report = await self.poll()
            await self._clock.sleep(self.next_wait(report))

    def next_wait(self, report: PollReport) -> float:
        """Seconds until the next poll: the interval with jitter; soon after a store error;
        at least the host's wait after a rate limit."""
        if report.store_failed:
            return min(STORE_RETRY_S, self._interval_s)
        wait = self._interval_s * (1 + JITTER * self._rng())
        if report.retry_after is not None:
            wait = max(wait, min(report.retry_after, MAX_RATE_LIMIT_WAIT_S))
        return wait

    async def poll(self) -> PollReport:
        """One poll of every target, when this replica takes the lease."""
        try:
            if not await self._store.take_reconcile_lease(
                    owner=self._owner, now=self._clock.now(), hold_s=self._interval_s):
                return PollReport(polled=False)
        except StoreError as exc:
            log.warning("catch_up_store_error", error=str(exc))
            return PollReport(polled=True, store_failed=True)
        read = not_modified = caught = 0
        errors: list[str] = []
        for target in self.targets:
            try:
                outcome = await self._one(target)
            except RateLimited as exc:
                log.warning("catch_up_rate_limited", source=target.source.value,
                            retry_after=exc.retry_after)
                return PollReport(True, read + 1, not_modified, caught,
                                  retry_after=exc.retry_after or self._interval_s,
                                  errors=tuple(errors))
            except GitHostError as exc:
                read += 1
                errors.append(f"{target.source} {target.repo} {target.branch}: {exc}")
                log.warning("catch_up_read_failed", source=target.source.value,
                            repo=target.repo, branch=target.branch, error=str(exc))
                continue
            except StoreError as exc:
                log.warning("catch_up_store_error", error=str(exc))
                return PollReport(True, read + 1, not_modified, caught, store_failed=True,
                                  errors=tuple(errors))
            read += 1
            not_modified += outcome == "not_modified"
            caught += outcome == "caught_up"
        return PollReport(True, read, not_modified, caught, errors=tuple(errors))

    async def _one(self, target: Target) -> str:
        """Read one head: 'not_modified', 'known' or 'caught_up'."""
        seen = self._seen.setdefault(target, _Seen())
        answer = await self._hosts[target.source.value].branch_head(
            target.repo, target.branch, etag=seen.etag if seen.sha else None)
        if not isinstance(answer, Head):
            return "not_modified"
        previous = seen.sha
        clusters = self._clusters(target)
        if await self._store.head_known(source=target.source.value, repo=target.repo,
                                        ref=target.ref,
                                        sha=answer.sha, clusters=clusters):
            if previous is not None and previous != answer.sha:
                # Back to a commit relay already had (a force push back, a revert of the
                # ref): never deployed again silently; said here.
                log.warning("catch_up_head_moved_to_known_commit", source=target.source.value,
                            repo=target.repo, branch=target.branch, before=previous,
                            after=answer.sha)
            seen.etag, seen.sha = answer.etag, answer.sha
            return "known"
        before = previous or await self._store.last_head(
            source=target.source.value, repo=target.repo, ref=target.ref)
        # Gated like a push: the sources polled here have an `api`, which the checks gate and
        # the compare API of path filters read too.
        plan = catch_up(target.source, target.repo, target.branch, before=before,
                        sha=answer.sha, routes=self._routes, now=self._clock.now(),
                        can_compare=self._sources, can_check=self._sources)
        accepted = await self._store.accept(plan.record, plan.deployments)
        seen.etag, seen.sha = answer.etag, answer.sha
        if accepted.duplicate:
            return "known"
        self._metrics.missed_pushes.labels(source=target.source.value).inc()
        log.info("caught_up", source=target.source.value, repo=target.repo,
                 branch=target.branch, before=before, after=answer.sha,
                 delivery_id=accepted.delivery_id,
                 deployments=[d.id for d in accepted.deployments])
        if accepted.deployments:
            self._wake([d.cluster for d in accepted.deployments])
        return "caught_up"

    def _clusters(self, target: Target) -> list[int]:
        probe = catch_up(target.source, target.repo, target.branch, before=None, sha="0" * 40,
                        routes=self._routes, now=self._clock.now())
        return sorted({d.cluster for d in probe.deployments})


def git_hosts(settings: Settings, session: aiohttp.ClientSession,
              embedded_origin: str) -> dict[str, GitHost]:
    """One client per source with `api` (`embedded`: the fake host under relay's own port at
    `embedded_origin`, mounted at relay.fakegit.PREFIX)."""
    found: dict[str, GitHost] = {}
    for source, conf in settings.sources.items():
        if conf.api is None:
            continue
        url = api_url(embedded_origin, source) if conf.api.url == "embedded" else conf.api.url
        found[source.value] = client_for(source, session, url, conf.api.token,
                                         request_timeout_s=10.0)
    return found


__all__ = ["JITTER", "PollReport", "Reconciler", "git_hosts"]
