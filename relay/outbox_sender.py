"""The outbox sender: one task per process delivers reports and notifications (docs/reporting.md).

Each loop claims a bounded batch of due messages with a lease (the store: `FOR UPDATE SKIP
LOCKED` on PostgreSQL, so replicas never send one message twice at once; only the first
pending message of each deployment, so each deployment's messages go out in order), delivers
them, and settles each: sent or failed for good (removed), or retried later with exponential
backoff and jitter (a 5xx, a 429 or GitHub's 403 rate limit, a timeout, a refused connection).
A host that says wait (`Retry-After`, rate-limit reset) is not called again before that time.
The store drops a message older than `report.max_age_s`, and one whose (commit, context)
already has a newer message (coalescing): both counted `dropped`.

The sender never touches a deployment's status: a host outage delays reports, never a
deployment or ingest, and memory is bounded by the batch size.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import structlog

from relay.cluster.retry import RetryPolicy
from relay.deployment import Deployment
from relay.events import Source
from relay.githost import (
    CLIENTS,
    CommitState,
    DeploymentState,
    GitHost,
    GitHostError,
    RateLimited,
    client_for,
)
from relay.metrics import Metrics
from relay.notify import SinkSettings
from relay.reports import (
    MessageKind,
    OutboxMessage,
    ReportPolicy,
    messages_for,
)
from relay.settings import Settings
from relay.store.outbox_rows import OutboxRow

log = structlog.get_logger("relay.outbox")


class Outcome(enum.StrEnum):
    """What became of one delivery attempt (the `outcome` label values)."""

    SENT = "sent"
    RETRY = "retried"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt's outcome; `retry_after` (seconds) when the receiver said how long to wait;
    `detail` a one-line reason for the log (never a URL or a secret)."""

    outcome: Outcome
    retry_after: float | None = None
    detail: str = ""


class SendNotification(Protocol):
    """The notification sinks' side (relay.notify): deliver one NOTIFICATION message to the
    sink it names (`message.target`) and say what became of it. Must not raise."""

    async def __call__(self, message: OutboxMessage, /) -> Result: ...


class OutboxStore(Protocol):
    """The store methods the sender uses (SQLiteStore and PostgresStore have them)."""

    async def outbox_claim(self, *, owner: str, now: float, lease_s: float, limit: int,
                           max_age_s: float,
                           ) -> tuple[tuple[OutboxRow, ...], tuple[tuple[str, str, str], ...]]:
        ...

    async def outbox_done(self, *, owner: str, settled: Sequence[int],
                          retries: Sequence[tuple[int, float]]) -> None: ...

    async def outbox_pending(self) -> int: ...

    async def host_deployment_id(self, deployment_id: int) -> str | None: ...

    async def save_host_deployment_id(self, deployment_id: int, host_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SenderSettings:
    """The sender's timings (seconds) and batch size; tests shorten them."""

    batch: int = 50  # messages claimed (and held in memory) at once
    idle_s: float = 0.5  # wait between claims when nothing was due
    lease_s: float = 60.0  # a claimed message is another replica's after this
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    retry_after_max_s: float = 900.0  # a host's wait is honoured up to this
    request_timeout_s: float = 10.0


def report_policy(settings: Settings) -> ReportPolicy:
    """The ReportPolicy of `settings`: which hosts report, the environments, the sinks."""
    hosts = {source: CLIENTS[source].supports_deployments
             for source, conf in settings.sources.items() if conf.api is not None}
    report = settings.report
    return ReportPolicy(
        hosts=hosts, commit_status=report.commit_status, deployments=report.deployments,
        context=report.context, public_url=report.public_url,
        environments={r.index: r.environment for r in settings.routes
                      if r.environment is not None},
        sinks=sinks_of(settings))


def sinks_of(settings: Settings) -> tuple[SinkSettings, ...]:
    """The `notify` sinks as relay.notify runs them; one it refuses (check-config checks the
    same rules, so only a file edited past them) is logged at `error` and left out."""
    sinks = []
    for conf in settings.notify:
        try:
            sinks.append(SinkSettings(
                name=conf.name, type=conf.type.value, url=conf.url,  # type: ignore[arg-type]
                secret=conf.secret, on=frozenset(conf.on),  # type: ignore[arg-type]
                clusters=frozenset(conf.clusters), repos=tuple(conf.repos)))
        except ValueError as exc:  # the message names the sink, never its URL
            log.error("notify sink refused", error=str(exc))
    return tuple(sinks)


def store_policy(policy: ReportPolicy) -> Callable[[Deployment, tuple[Deployment, ...]],
                                                    tuple[OutboxMessage, ...]]:
    """The store's hook: `messages_for` bound to `policy` (relay.reports.Policy)."""
    def hook(dep: Deployment, superseded: tuple[Deployment, ...]) -> tuple[OutboxMessage, ...]:
        return messages_for(dep, policy, superseded)

    return hook


async def _no_sink(message: OutboxMessage) -> Result:
    return Result(Outcome.FAILED, detail="no notification sender is installed")


class OutboxSender:
    """Delivers the outbox; `run()` until cancelled (or `stop()`)."""

    def __init__(self, store: OutboxStore, hosts: Mapping[Source, GitHost], metrics: Metrics,
                 *, owner: str, max_age_s: float, notify: SendNotification | None = None,
                 settings: SenderSettings | None = None,
                 clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random) -> None:
        self._store = store
        self._hosts = dict(hosts)
        self._metrics = metrics
        self._owner = owner
        self._max_age_s = max_age_s
        self._notify: SendNotification = notify if notify is not None else _no_sink
        self._conf = settings or SenderSettings()
        self._clock = clock
        self._rand = rand
        self._paused: dict[str, float] = {}  # host -> Unix time before which it is not called
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while the outbox was found empty
        self._stopping = False

    async def drained(self) -> None:
        """Return once a claim that starts after this call finds the outbox empty."""
        self._drained.clear()
        self.wake()
        await self._drained.wait()

    def wake(self) -> None:
        """Look for messages now (a status change was committed)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Claim, deliver, settle; store errors are logged and retried after `idle_s`."""
        while not self._stopping:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop outlives a store outage
                log.warning("outbox_store_error", error=str(exc))
                busy = False
            if not busy:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._conf.idle_s)
                except TimeoutError:
                    pass

    async def run_once(self) -> bool:
        """One claim and its deliveries; True when messages were claimed."""
        now = self._clock()
        rows, dropped = await self._store.outbox_claim(
            owner=self._owner, now=now, lease_s=self._conf.lease_s, limit=self._conf.batch,
            max_age_s=self._max_age_s)
        for host, kind, target in dropped:
            self._count(host, kind, target, Outcome.DROPPED)
        if rows:
            # Delivered concurrently (one message per deployment, so order holds), settled
            # together: one write transaction per batch, not one per message.
            ends = await asyncio.gather(*(self._one(row) for row in rows))
            await self._store.outbox_done(
                owner=self._owner, settled=[i for i, at in ends if at is None],
                retries=[(i, at) for i, at in ends if at is not None])
        pending = await self._store.outbox_pending()
        self._metrics.outbox_pending.set(pending)
        if pending == 0:
            self._drained.set()
        else:
            self._drained.clear()
        return bool(rows)

    async def _one(self, row: OutboxRow) -> tuple[int, float | None]:
        """Deliver one message: (its id, None when done, else when to try again)."""
        message = row.message
        paused = self._paused.get(message.host, 0.0)
        if paused > self._clock():
            return row.id, paused
        if message.kind is MessageKind.NOTIFICATION:
            result = await self._notify(message)
        else:
            result = await self._report(message)
        self._count(message.host, message.kind.value, message.target, result.outcome)
        if result.outcome is Outcome.RETRY:
            wait = self._backoff(row.attempts)
            if result.retry_after is not None:
                wait = min(max(result.retry_after, 0.0), self._conf.retry_after_max_s)
                self._paused[message.host] = self._clock() + wait
            log.info("outbox_retry", host=message.host, kind=message.kind.value,
                     deployment=message.deployment_id, attempt=row.attempts + 1,
                     wait_s=round(wait, 3), detail=result.detail)
            return row.id, self._clock() + wait
        if result.outcome is Outcome.FAILED:
            log.warning("outbox_failed", host=message.host, kind=message.kind.value,
                        deployment=message.deployment_id, detail=result.detail)
        return row.id, None

    def _backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter in [half, whole] of the step (seconds)."""
        growth = 2.0 ** min(attempts, 30)
        step = min(self._conf.backoff_max_s, self._conf.backoff_initial_s * growth)
        return step * (0.5 + self._rand() / 2)

    def _count(self, host: str, kind: str, target: str, outcome: Outcome) -> None:
        if kind == MessageKind.NOTIFICATION.value:
            self._metrics.notifications.labels(sink=target, outcome=outcome.value).inc()
        else:
            self._metrics.reports.labels(host=host, kind=kind, outcome=outcome.value).inc()

    async def _report(self, message: OutboxMessage) -> Result:
        client = self._hosts.get(Source(message.host))
        if client is None:
            return Result(Outcome.FAILED, detail=f"no api configured for {message.host}")
        try:
            if message.kind is MessageKind.COMMIT_STATUS:
                await self._commit_status(client, message.payload)
            else:
                await self._deployment(client, message)
        except RateLimited as exc:
            return Result(Outcome.RETRY, exc.retry_after, str(exc))
        except GitHostError as exc:
            return Result(Outcome.RETRY if exc.retriable else Outcome.FAILED, detail=str(exc))
        return Result(Outcome.SENT)

    @staticmethod
    async def _commit_status(client: GitHost, p: Mapping[str, Any]) -> None:
        await client.set_commit_status(
            p["repo"], p["sha"], state=CommitState(p["state"]), context=p["context"],
            description=p["description"], target_url=p["target_url"])

    async def _deployment(self, client: GitHost, message: OutboxMessage) -> None:
        p = message.payload
        state = DeploymentState(p["state"])
        host_id = await self._store.host_deployment_id(message.deployment_id)
        if host_id is None:
            if not p.get("create"):
                return  # none was created (superseded while queued): nothing to move
            host_id = await client.create_deployment(
                p["repo"], sha=p["sha"], ref=p["ref"], environment=p["environment"],
                description=p["description"], state=state, tag=bool(p.get("tag")))
            # Stored before anything else: a retry or a restart never creates a second one.
            await self._store.save_host_deployment_id(message.deployment_id, host_id)
            if client.host == "gitlab":
                return  # GitLab's create carries the state
        await client.set_deployment_status(
            p["repo"], host_id, state=state, description=p["description"],
            log_url=p.get("target_url"))


def git_hosts(settings: Settings, session: aiohttp.ClientSession, *,
              base_urls: Mapping[Source, str], request_timeout_s: float,
              ) -> dict[Source, GitHost]:
    """One client per source with an `api` (`base_urls`: each source's resolved API URL).
    Clients make one attempt per call: the outbox retries."""
    found: dict[Source, GitHost] = {}
    for source, conf in settings.sources.items():
        if conf.api is None or source not in base_urls:
            continue
        found[source] = client_for(source, session, base_urls[source], conf.api.token,
                                   request_timeout_s=request_timeout_s,
                                   retry=RetryPolicy.no_wait(attempts=1))
    return found


