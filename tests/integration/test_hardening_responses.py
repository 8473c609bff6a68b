"""Issue 16.11: answers of the cluster API and of hook URLs are read with a cap.

A loopback server streams a 100 MB answer (the same 64 KiB block again and again: the test
never allocates 100 MB) and counts what it managed to send; the client must fail with
ResponseTooLarge long before the end, without reading the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relay.cluster import BadResponse, ClusterClient, ResponseTooLarge, RetryPolicy, open_session
from relay.metrics import Metrics
from relay.secret import Secret

BLOCK = b"x" * 65_536
HUGE = 100 * 1024 * 1024
CAP = 1_048_576
NO_WAIT = RetryPolicy.no_wait(3)


@dataclass
class Firehose:
    """Answers every request with HUGE bytes of JSON-ish noise, chunked or with a length."""

    declare_length: bool = False
    sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    requests: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.declare_length:
            resp.content_length = HUGE
        try:
            await resp.prepare(request)
            while self.sent < HUGE:
                await resp.write(BLOCK)
                self.sent += len(BLOCK)
        except (ConnectionResetError, ConnectionError):
            pass  # the client hung up: what we wanted
        finally:
            self.done.set()
        return resp


@pytest.fixture
async def firehose() -> AsyncIterator[tuple[Firehose, str]]:
    hose = Firehose()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hose.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield hose, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_100_mb_api_answer_is_refused_at_the_cap(
    firehose: tuple[Firehose, str],
) -> None:
    hose, url = firehose
    async with open_session() as session:
        client = ClusterClient(session, url, Secret("t"), retry=NO_WAIT, metrics=Metrics(None),
                               max_response_bytes=CAP)
        with pytest.raises(ResponseTooLarge) as info:
            await client.get(10702)
        async with asyncio.timeout(10):
            await hose.done.wait()
    assert isinstance(info.value, BadResponse)  # of the client's own tree
    assert info.value.limit == CAP and info.value.status == 200
    assert str(info.value) == (
        f"apps.get: HTTP 200: answer larger than max_response_bytes ({CAP} bytes)")
    assert hose.requests == 1  # not retried: the same answer would come again
    assert hose.sent < HUGE // 4  # stopped reading: only socket buffers' worth went out


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    firehose: tuple[Firehose, str],
) -> None:
    hose, url = firehose
    hose.declare_length = True
    async with open_session() as session:
        client = ClusterClient(session, url, Secret("t"), retry=NO_WAIT, max_response_bytes=CAP)
        with pytest.raises(ResponseTooLarge):
            await client.list()
        async with asyncio.timeout(10):
            await hose.done.wait()
    assert hose.sent < HUGE // 4


async def test_a_hook_answer_is_capped_too(firehose: tuple[Firehose, str]) -> None:
    hose, url = firehose
    async with open_session() as session:
        client = ClusterClient(session, url, Secret("t"), retry=NO_WAIT, max_response_bytes=CAP)
        with pytest.raises(ResponseTooLarge) as info:
            await client.post_hook(f"{url}/hook", b"{}", {"Content-Type": "application/json"})
        async with asyncio.timeout(10):
            await hose.done.wait()
    assert info.value.endpoint == "hook"
    assert hose.sent < HUGE // 4


async def test_an_answer_within_the_cap_is_read_whole() -> None:
    app = web.Application()

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"id": 1, "name": "x" * 1000, "containers": []})

    app.router.add_get("/api/v1/watch/apps/{id}", small)
    server = TestServer(app)
    await server.start_server()
    try:
        async with open_session() as session:
            client = ClusterClient(session, str(server.make_url("")).rstrip("/"), Secret("t"),
                                   retry=NO_WAIT, max_response_bytes=2000)
            assert await client.watch(1, timeout_s=1) == ()
    finally:
        await server.close()
