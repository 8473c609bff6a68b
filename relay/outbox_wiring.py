"""Wiring of reports and notifications into the app (docs/reporting.md).

`outbox_ctx` is relay.app's cleanup_ctx entry: it gives the store its outbox policy (so each
status change writes its messages in the same transaction), builds one git-host client per
source with an `api`, and runs the OutboxSender task, cancelled and awaited on shutdown.
`mount_fake_git` serves the in-process fakes of the hosts whose `api.url` is `embedded`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import structlog
from aiohttp import web

from relay.cluster.retry import RetryPolicy
from relay.events import Source
from relay.fakegit import PREFIX, api_url, create_fake_git_app
from relay.gatekeeper import GitHostChecks
from relay.githost import client_for
from relay.notify import Notification
from relay.notify_send import SendOutcome, send_notification
from relay.outbox_sender import (
    OutboxSender,
    Outcome,
    Result,
    SenderSettings,
    SendNotification,
    git_hosts,
    report_policy,
    sinks_of,
    store_policy,
)
from relay.reports import OutboxMessage
from relay.settings import Settings
from relay.typedefs import CLOCK, LIVE, METRICS, SETTINGS, STORE

OUTBOX = web.AppKey("outbox_sender", OutboxSender)
REPORTING = web.AppKey("reporting", bool)  # the store writes outbox messages
log = structlog.get_logger("relay.outbox")


@dataclass(frozen=True, slots=True)
class OutboxOptions:
    """Test and bench hooks: API URLs per source (instead of `api.url`), the sender's timings,
    the notification sinks' send function (relay.notify), and whether to run the sender."""

    base_urls: Mapping[Source, str] = field(default_factory=dict)
    sender: SenderSettings = field(default_factory=SenderSettings)
    notify: SendNotification | None = None
    run_sender: bool = True


def reporting(settings: Settings) -> bool:
    """True when something is reported or notified (a source with `api`, or a sink)."""
    return bool(settings.notify) or any(s.api is not None for s in settings.sources.values())


def own_origin(settings: Settings) -> str:
    """relay's own origin (for `embedded` URLs): the listening address, loopback for any."""
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def base_urls(settings: Settings, given: Mapping[Source, str]) -> dict[Source, str]:
    """Each reporting source's API URL: `given`, else `api.url`, `embedded` on relay's port."""
    found: dict[Source, str] = {}
    for source, conf in settings.sources.items():
        if conf.api is None:
            continue
        if source in given:
            found[source] = given[source]
        elif conf.api.embedded:
            found[source] = api_url(own_origin(settings), source)
        else:
            found[source] = conf.api.url
    return found


def notification_sender(settings: Settings, session: aiohttp.ClientSession,
                        *, timeout_s: float = 10.0) -> SendNotification | None:
    """The function that delivers NOTIFICATION messages to the sinks of `notify`: the format,
    signature and answer rules are relay.notify's and relay.notify_send's. A sink that
    answers 410 is stopped until relay restarts (its messages are dropped). None: no sinks."""
    sinks = {sink.name: sink for sink in sinks_of(settings)}
    if not sinks:
        return None
    stopped: set[str] = set()

    async def send(message: OutboxMessage) -> Result:
        sink = sinks.get(message.target)
        if sink is None or sink.name in stopped:
            return Result(Outcome.DROPPED, detail=f"sink {message.target} is off")
        try:
            note = Notification.from_json(message.payload["notification"])
        except (KeyError, TypeError, ValueError) as exc:
            return Result(Outcome.FAILED, detail=f"unreadable notification: {exc!r}"[:200])
        # Stable per message: the same id on every attempt (the receiver may dedupe on it).
        message_id = f"msg_{message.deployment_id}_{note.status}_{sink.name}"
        sent = await send_notification(session, sink, note, message_id=message_id,
                                       now=time.time(), timeout_s=timeout_s)
        if sent.outcome is SendOutcome.STOP:
            stopped.add(sink.name)
            log.warning("notify sink stopped until restart", sink=sink.name, detail=sent.detail)
        return Result(_OUTCOMES[sent.outcome], retry_after=sent.retry_after_s,
                      detail=sent.detail)

    return send


_OUTCOMES = {SendOutcome.SENT: Outcome.SENT, SendOutcome.RETRY: Outcome.RETRY,
             SendOutcome.FAILED: Outcome.FAILED, SendOutcome.STOP: Outcome.DROPPED}


def outbox_ctx(options: OutboxOptions | None
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if not reporting(settings):
            yield
            return
        opts = options or OutboxOptions()
        store = app[STORE]
        if hasattr(store, "outbox_policy"):
            store.outbox_policy = store_policy(report_policy(settings))
            app[REPORTING] = True
        app[METRICS].prime_sinks(s.name for s in settings.notify)
        session = aiohttp.ClientSession(trust_env=True)
        hosts = git_hosts(settings, session, base_urls=base_urls(settings, opts.base_urls),
                          request_timeout_s=opts.sender.request_timeout_s)
        clock = app[CLOCK]
        sender = OutboxSender(
            store, hosts, app[METRICS],  # type: ignore[arg-type]
            owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            max_age_s=settings.report.max_age_s,
            notify=opts.notify or notification_sender(settings, session), settings=opts.sender,
            clock=lambda: clock.now().timestamp())
        app[OUTBOX] = sender
        task = (asyncio.create_task(sender.run(), name="relay-outbox-sender")
                if opts.run_sender else None)
        try:
            yield
        finally:
            await sender.stop()
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await session.close()

    return ctx


def gate_readers(settings: Settings, session: aiohttp.ClientSession, *,
                 request_timeout_s: float = 10.0) -> GitHostChecks | None:
    """The checks and compare readers of the deploy gates (relay.gatekeeper) over one client
    per source with an `api`, each call retried a few times; None when no source has one."""
    clients = {source: client_for(source, session, url, api.token,
                                  request_timeout_s=request_timeout_s,
                                  retry=RetryPolicy(attempts=3, total_s=request_timeout_s))
               for source, url in base_urls(settings, {}).items()
               if (api := settings.sources[source].api) is not None}
    return GitHostChecks(clients) if clients else None


def follow_reload(app: web.Application) -> None:
    """After a reload (SIGHUP): the outbox messages follow the routes in force (a route's
    `environment` is found by its index, which the new file may have moved). The hosts,
    sinks and `report` section stay as started."""
    if app.get(REPORTING):
        app[STORE].outbox_policy = store_policy(  # type: ignore[attr-defined]
            report_policy(app[LIVE].current))


def mount_fake_git(app: web.Application, settings: Settings) -> None:
    """`api.url: embedded`: the fakes of those hosts under /fake-git on relay's port."""
    tokens = {source: conf.api.token.reveal() for source, conf in settings.sources.items()
              if conf.api is not None and conf.api.embedded}
    if tokens:
        app.add_subapp(PREFIX, create_fake_git_app(tokens, lenient=True))
