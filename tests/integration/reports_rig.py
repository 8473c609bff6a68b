"""A rig for the reporting tests: relay (the harness) reporting to the git-host fakes served on
a real loopback server, with a fast outbox sender."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from relay.events import Source
from relay.fakegit import FakeHost, api_url, create_fake_git_app
from relay.outbox_sender import SenderSettings
from relay.outbox_wiring import OutboxOptions
from relay.secret import Secret
from relay.settings import GitApiSettings, ReportSettings, Settings

GIT_TOKEN = "ghp_reports_token_0123456789abcdef"
FAST_SENDER = SenderSettings(batch=50, idle_s=0.01, lease_s=10, backoff_initial_s=0.01,
                             backoff_max_s=0.05, retry_after_max_s=5, request_timeout_s=2)


@dataclasses.dataclass
class GitRig:
    server: TestServer
    hosts: dict[Source, FakeHost]

    def urls(self) -> dict[Source, str]:
        origin = str(self.server.make_url("")).rstrip("/")
        return {s: api_url(origin, s, prefix="") for s in self.hosts}

    def options(self, **kw: Any) -> OutboxOptions:
        return OutboxOptions(base_urls=self.urls(), sender=kw.pop("sender", FAST_SENDER), **kw)


def reporting(report: ReportSettings | None = None) -> Callable[[Settings], Settings]:
    """A harness `configure`: `api` on the three sources (URLs come from the rig)."""
    return partial(_with_api, report=report)


def _with_api(base: Settings, *, report: ReportSettings | None) -> Settings:
    sources = {source: dataclasses.replace(
        conf, api=GitApiSettings(url="https://git.invalid", token=Secret(GIT_TOKEN, "T")))
        for source, conf in base.sources.items()}
    return dataclasses.replace(base, sources=sources, report=report or ReportSettings())


class WatchedHost(FakeHost):
    """A fake host that says when it recorded something (every record takes a sequence)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.changed = asyncio.Event()

    def next_seq(self) -> int:
        self.changed.set()
        return super().next_seq()


async def wait_until(rig: GitRig, check: Callable[[], bool], within: float = 15.0) -> None:
    """Wait for a condition on what the fakes recorded, re-checked at each new record."""
    async with asyncio.timeout(within):
        while not check():
            events = [h.changed for h in rig.hosts.values() if isinstance(h, WatchedHost)]
            for event in events:
                event.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in events]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()


@pytest.fixture
async def git_rig() -> AsyncIterator[GitRig]:
    hosts: dict[Source, FakeHost] = {s: WatchedHost(s.value, lenient=True) for s in Source}
    server = TestServer(create_fake_git_app({s: GIT_TOKEN for s in Source}, hosts=hosts,
                                            lenient=True))
    await server.start_server()
    yield GitRig(server, hosts)
    await server.close()
