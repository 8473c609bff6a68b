"""An in-process fake of notification sinks (Slack, Teams, any webhook): a real aiohttp app.

Every POST to `/sink/{name}` (any name; the path stands for a secret URL) is recorded with
its headers and body. Answers are 200 `ok` unless a canned answer is queued with `answer`
(status, headers, body), `hang` (never answers until the fake closes: a timeout), or
`redirect` (302 to another sink, which must not be followed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

SINK_PREFIX = "/sink/"


@dataclass(frozen=True)
class Received:
    """One request a fake sink received."""

    name: str
    headers: Mapping[str, str]
    body: bytes
    raw_path: str = ""  # path and query as they arrived on the wire

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Canned:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: bool = False


@dataclass
class FakeSinks:
    """The fake's state: what was received, and the answers still to give."""

    received: list[Received] = field(default_factory=list)
    queued: list[Canned] = field(default_factory=list)
    origin: str = ""
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, name: str) -> str:
        return f"{self.origin}{SINK_PREFIX}{name}"

    def answer(self, status: int, *, headers: Mapping[str, str] | None = None,
               body: bytes = b"", times: int = 1) -> None:
        """Answer the next `times` requests with this status, headers and body."""
        self.queued.extend([Canned(status, dict(headers or {}), body)] * times)

    def hang(self) -> None:
        """Never answer the next request (until the fake closes): the sender times out."""
        self.queued.append(Canned(hang=True))

    def redirect(self, to: str) -> None:
        self.answer(302, headers={"Location": to})

    def for_sink(self, name: str) -> list[Received]:
        return [r for r in self.received if r.name == name]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.read()
        self.received.append(Received(name, dict(request.headers), body, request.raw_path))
        canned = self.queued.pop(0) if self.queued else Canned()
        if canned.hang:
            await self.closing.wait()
        return web.Response(status=canned.status, headers=canned.headers, body=canned.body)


def create_fake_sinks_app(sinks: FakeSinks) -> web.Application:
    app = web.Application()
    app.router.add_post(SINK_PREFIX + "{name}", sinks._handle)
    return app


@asynccontextmanager
async def serve_fake_sinks() -> AsyncIterator[FakeSinks]:
    """The fake on a loopback port; its `origin` is set. Hanging requests end on exit."""
    sinks = FakeSinks()
    # No access log: its request line would show the path, which stands for a secret URL.
    server = TestServer(create_fake_sinks_app(sinks), host="127.0.0.1")
    await server.start_server(access_log=None)
    sinks.origin = str(server.make_url("")).rstrip("/")
    try:
        yield sinks
    finally:
        sinks.closing.set()
        await server.close()
