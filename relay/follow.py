"""Follow one rollout through the watch long-poll until a verdict or the deadline.

Robust against a misbehaving watch: a watch that answers at once without change cannot make
the loop spin (at most one poll per `min_poll_interval_s`), a failed watch is retried with a
bounded backoff, and a watch that never answers is cut off by a timeout of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from relay.clock import Clock
from relay.cluster.client import RetryTally
from relay.cluster.errors import ClusterApiError, NotFound
from relay.cluster.models import Cluster, Container
from relay.rollout import Judge, Observation, Progress, Verdict


class WatchApi(Protocol):
    async def get(self, cluster_id: int, *, retries: RetryTally | None = None) -> Cluster: ...

    async def watch(
        self, cluster_id: int, *, timeout_s: float | None = None,
        retries: RetryTally | None = None,
    ) -> tuple[Container, ...]: ...


@dataclass(frozen=True, slots=True)
class FollowSettings:
    watch_timeout_s: float = 60.0
    request_timeout_s: float = 10.0
    min_poll_interval_s: float = 1.0
    max_error_backoff_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict | None  # None: the deadline passed first (timed out)
    last: Observation | None
    progress: Progress | None
    api_errors: int
    polls: int
    error: str | None = None


def observe(cluster: Cluster) -> Observation:
    replicas = cluster.replicas if cluster.replicas is not None else len(cluster.containers)
    return Observation(
        status=cluster.status,
        replicas=replicas,
        container_ids=tuple(c.container_id for c in cluster.containers),
        version=cluster.version,
    )


async def read_cluster(api: WatchApi, cluster_id: int, *, clock: Clock, deadline: float,
                       settings: FollowSettings, retries: RetryTally | None = None) -> Cluster:
    """GET the cluster, a failed answer retried as `follow` retries it (bounded backoff).

    Raises NotFound at once; any other ClusterApiError once `deadline` (monotonic) passed.
    """
    errors = 0
    while True:
        try:
            return await api.get(cluster_id, retries=retries)
        except NotFound:
            raise
        except ClusterApiError:
            errors += 1
            if not await _pause(clock, deadline, _backoff(errors, settings)):
                raise


async def follow(
    api: WatchApi,
    cluster_id: int,
    judge: Judge,
    *,
    clock: Clock,
    deadline: float,
    settings: FollowSettings,
    on_progress: Callable[[Observation, Progress], Awaitable[None]] | None = None,
    retries: RetryTally | None = None,
) -> Outcome:
    """Loop GET + watch until the rollout succeeds or fails, or `deadline` (monotonic) passes.

    `retries` counts the client's retries of this rollout's calls (endpoint -> count).
    """
    armed = judge.initial_fail_armed()
    errors = polls = 0
    last: Observation | None = None
    while True:
        try:
            now = observe(await api.get(cluster_id, retries=retries))
        except NotFound as exc:
            return Outcome(Verdict.FAILED, last, None, errors + 1, polls,
                           error=f"cluster {cluster_id} no longer exists ({exc.detail})")
        except ClusterApiError:
            errors += 1
            if not await _pause(clock, deadline, _backoff(errors, settings)):
                return Outcome(None, last, judge.progress(last) if last else None, errors, polls)
            continue
        if now != last and on_progress is not None:
            await on_progress(now, judge.progress(now))
        last = now
        armed = judge.rearm(armed, now)
        verdict = judge.verdict(now, fail_armed=armed)
        if verdict is not Verdict.GOING:
            return Outcome(verdict, now, judge.progress(now), errors, polls,
                           error=judge.failure(now) if verdict is Verdict.FAILED else None)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return Outcome(None, now, judge.progress(now), errors, polls)
        polls += 1
        started = clock.monotonic()
        try:
            await _watch(api, cluster_id, min(settings.watch_timeout_s, remaining), settings,
                         retries)
        except (ClusterApiError, TimeoutError):
            errors += 1
            await _pause(clock, deadline, _backoff(errors, settings))
            continue
        spent = clock.monotonic() - started
        if spent < settings.min_poll_interval_s:
            await _pause(clock, deadline, settings.min_poll_interval_s - spent)


async def _watch(api: WatchApi, cluster_id: int, timeout_s: float, s: FollowSettings,
                 retries: RetryTally | None) -> None:
    # The client's own read timeout bounds one attempt; this bounds its retries as well.
    async with asyncio.timeout(timeout_s + s.request_timeout_s):
        await api.watch(cluster_id, timeout_s=timeout_s, retries=retries)


def _backoff(errors: int, settings: FollowSettings) -> float:
    grown = settings.min_poll_interval_s * 2 ** min(errors, 10)
    return float(min(settings.max_error_backoff_s, grown))


async def _pause(clock: Clock, deadline: float, seconds: float) -> bool:
    """Sleep `seconds` but not past the deadline; False when the deadline has passed."""
    remaining = deadline - clock.monotonic()
    if remaining <= 0:
        return False
    await clock.sleep(min(seconds, remaining))
    return True
