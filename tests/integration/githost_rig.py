"""A loopback rig for the git-host tests: the combined fake on a real server, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relay.events import Source
from relay.fakegit import PREFIX, CheckRun, FakeHost, api_url, create_fake_git_app
from relay.githost import GitHost, RetryPolicy, client_for
from relay.secret import Secret

TOKEN = "ghp_fake_token_0123456789abcdef"
REPO = "acme/shop"
BASE, MID, HEAD = "1" * 40, "2" * 40, "3" * 40
NOW = 1_800_000_000.0  # the fixed clock of the fakes and clients


def now() -> float:
    return NOW


@dataclass
class Rig:
    hosts: dict[Source, FakeHost]
    origin: str
    session: aiohttp.ClientSession
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, source: Source, *, token: str = TOKEN, attempts: int = 4,
               timeout_s: float = 5.0, **policy: Any) -> GitHost:
        retry = RetryPolicy(attempts=attempts, wait_initial_s=0.0, wait_max_s=0.0,
                            jitter=False, sleep=self.sleep, **policy)
        return client_for(source, self.session, api_url(self.origin, source), Secret(token),
                          retry=retry, clock=now, request_timeout_s=timeout_s)

    async def get(self, path: str) -> Any:
        async with self.session.get(self.origin + PREFIX + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


def seeded_host(source: Source) -> FakeHost:
    """acme/shop: BASE <- MID (app.py, docs/a.md) <- HEAD (lib/b.py, moved.py); main at HEAD."""
    host = FakeHost(source.value, clock=now)
    host.add_repo(REPO)
    host.add_commit(REPO, BASE)
    host.add_commit(REPO, MID, files=("app.py", "docs/a.md"), parent=BASE)
    host.add_commit(REPO, HEAD, files=("lib/b.py", "moved.py"), parent=MID)
    host.set_branch(REPO, "main", HEAD)
    host.repos[REPO].tags["v1.0"] = HEAD
    host.set_check_runs(REPO, HEAD, [CheckRun("build")])
    return host


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    hosts = {source: seeded_host(source) for source in Source}
    root = web.Application()
    root.add_subapp(PREFIX, create_fake_git_app({s: TOKEN for s in Source}, hosts=hosts))
    async with TestServer(root) as server, aiohttp.ClientSession() as session:
        yield Rig(hosts, str(server.make_url("")).rstrip("/"), session)
