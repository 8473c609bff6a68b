"""Issue 16.9: read timeouts, the connection cap and rate-limited accept errors (relay.server).

Real relay apps on loopback, driven by raw sockets so that a test can send half a request.
Every wait is on an event (the server closing a connection, an answer arriving), bounded by
a generous guard that only a missing timeout would hit.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from relay.app import create_app
from relay.config import ConfigError, parse_settings
from relay.server import RateLimitedLog, RunningServer, ServerLimits, serve
from tests.factories import make_settings
from tests.fakes import eventually

GUARD_S = 10.0  # far above every configured timeout below: reached only when one is missing
HEAD = b"POST /hooks/github HTTP/1.1\r\nHost: relay\r\n"
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@asynccontextmanager
async def relay_server(tmp_path: Path, limits: ServerLimits,
                       events: RateLimitedLog | None = None) -> AsyncIterator[RunningServer]:
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    async with serve(app, host="127.0.0.1", port=0, limits=limits, shutdown_timeout_s=1,
                     events=events) as server:
        yield server


async def connect(server: RunningServer) -> Conn:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


def close_all(conns: list[Conn]) -> None:
    for _, writer in conns:
        writer.close()


async def healthz(server: RunningServer) -> int:
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{server.port}/healthz") as resp:
        return resp.status


async def test_200_slowloris_connections_are_closed_while_others_are_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    limits = ServerLimits(header_timeout_s=0.5, body_timeout_s=30, idle_timeout_s=30,
                          max_connections=400)
    async with relay_server(tmp_path, limits) as server:
        conns = [await connect(server) for _ in range(200)]
        for _, writer in conns:
            writer.write(HEAD)

        async def trickle() -> None:  # one more header byte now and then: never complete
            while True:
                await asyncio.sleep(0.05)
                for _, writer in conns:
                    if not writer.is_closing():
                        writer.write(b"x")

        trickling = asyncio.create_task(trickle())
        try:
            assert [await healthz(server) for _ in range(5)] == [200] * 5
            async with asyncio.timeout(GUARD_S):
                closed = await asyncio.gather(*(until_closed(r) for r, _ in conns))
        finally:
            trickling.cancel()
            await asyncio.gather(trickling, return_exceptions=True)
            close_all(conns)
        assert closed == [b""] * 200  # closed without an answer: the request never was one
        assert server.guard.counts["header_timeout"] == 200
        assert await healthz(server) == 200
        await eventually(lambda: server.guard.active == 0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    tmp_path: Path,
) -> None:
    limits = ServerLimits(header_timeout_s=0.3, body_timeout_s=30, idle_timeout_s=30)
    async with relay_server(tmp_path, limits) as server:
        reader, writer = await connect(server)
        async with asyncio.timeout(GUARD_S):
            assert await until_closed(reader) == b""
        writer.close()


async def test_a_trickling_body_is_answered_408_and_closed(tmp_path: Path) -> None:
    limits = ServerLimits(header_timeout_s=5, body_timeout_s=0.5, idle_timeout_s=30)
    async with relay_server(tmp_path, limits) as server:
        reader, writer = await connect(server)
        writer.write(HEAD + b"Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
                            b"Content-Length: 1000\r\n\r\n{\"ref\": ")
        async with asyncio.timeout(GUARD_S):
            answer = await until_closed(reader)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"Connection: close" in head
        assert body.startswith(b'{"error": "request body not received within 0.5 s"}')
        assert server.guard.counts["body_timeout"] == 1
        assert await healthz(server) == 200


async def test_a_trickling_body_already_answered_is_just_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    limits = ServerLimits(header_timeout_s=5, body_timeout_s=0.3, idle_timeout_s=30)
    async with relay_server(tmp_path, limits) as server:
        reader, writer = await connect(server)
        writer.write(b"POST /nowhere HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\nab")
        async with asyncio.timeout(GUARD_S):
            answer = await until_closed(reader)  # 404 at once, then closed at the body timeout
        writer.close()
        assert answer.startswith(b"HTTP/1.1 404 ")
        assert server.guard.counts["body_timeout"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_hanging_up_mid_body_leaves_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with relay_server(tmp_path, ServerLimits()) as server:
        with capture_logs() as logs:
            reader, writer = await connect(server)
            writer.write(HEAD + b"Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
                                b"Content-Length: 1000\r\n\r\n{\"ref\": ")
            await eventually(lambda: server.guard.active == 1)
            writer.close()
            await eventually(lambda: any(e["event"] == "delivery" for e in logs))
    delivery, = (e for e in logs if e["event"] == "delivery")
    assert delivery["status"] == 400 and delivery["outcome"] == "malformed"
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    limits = ServerLimits(header_timeout_s=5, body_timeout_s=5, idle_timeout_s=0.3)
    async with relay_server(tmp_path, limits) as server:
        reader, writer = await connect(server)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        async with asyncio.timeout(GUARD_S):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 ")
            assert b"Connection: close" not in head  # kept alive, then closed for idleness
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            assert await until_closed(reader) == b""
        writer.close()


async def test_slow_headers_of_a_second_request_on_a_kept_alive_connection_are_cut(
    tmp_path: Path,
) -> None:
    limits = ServerLimits(header_timeout_s=0.3, body_timeout_s=30, idle_timeout_s=30)
    async with relay_server(tmp_path, limits) as server:
        reader, writer = await connect(server)
        async with asyncio.timeout(GUARD_S):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: re")
            assert await until_closed(reader) == b""
        writer.close()
        assert server.guard.counts["header_timeout"] == 1


async def test_beyond_the_connection_cap_new_connections_get_503_and_are_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    limits = ServerLimits(header_timeout_s=30, body_timeout_s=30, idle_timeout_s=30,
                          max_connections=5)
    async with relay_server(tmp_path, limits) as server:
        held = [await connect(server) for _ in range(5)]
        for _, writer in held:
            writer.write(HEAD)
        await eventually(lambda: server.guard.active == 5)
        extra = [await connect(server) for _ in range(20)]
        async with asyncio.timeout(GUARD_S):
            answers = await asyncio.gather(*(until_closed(r) for r, _ in extra))
        close_all(extra)
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert b"Retry-After: 1\r\n" in answer
            assert answer.endswith(b'{"error": "too many open connections; retry later"}')
        assert server.guard.counts["refused"] == 20
        close_all(held[:1])
        await eventually(lambda: server.guard.active == 4)
        assert await healthz(server) == 200
        close_all(held[1:])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_accept_errors_are_one_log_line_per_interval_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    events = RateLimitedLog(every_s=10, clock=ticks)
    async with relay_server(tmp_path, ServerLimits(), events=events):
        loop = asyncio.get_running_loop()
        context = {"message": "socket.accept() out of system resource",
                   "exception": OSError(errno.EMFILE, "Too many open files")}
        with capture_logs() as logs:
            for _ in range(1000):
                loop.call_exception_handler(dict(context))
            ticks.now = 10.0
            for _ in range(500):
                loop.call_exception_handler(dict(context))
    lines = [e for e in logs if e["event"] == "accept_failed"]
    assert [(e["count"], e["error"]) for e in lines] == [(1, "EMFILE"), (1000, "EMFILE")]
    assert not [r for r in caplog.records if "Too many open files" in r.getMessage()]


def test_the_limits_come_from_the_configuration() -> None:
    data = {"cluster_api": {"token_env": "T"},
            "server": {"header_timeout_s": 2, "body_timeout_s": 3.5, "idle_timeout_s": 4,
                       "max_connections": 50, "max_body_bytes": 1000,
                       "max_body_memory_bytes": 1000}}
    settings = parse_settings(data, {"T": "token"})
    assert ServerLimits.from_settings(settings.server) == ServerLimits(
        header_timeout_s=2, body_timeout_s=3.5, idle_timeout_s=4, max_connections=50)
    assert settings.server.max_body_memory_bytes == 1000
    defaults = parse_settings({"cluster_api": {"token_env": "T"}}, {"T": "token"})
    assert ServerLimits.from_settings(defaults.server) == ServerLimits()
    assert (defaults.server.max_body_memory_bytes,
            defaults.cluster_api.max_response_bytes) == (67_108_864, 16_777_216)
    with pytest.raises(ConfigError, match="server.max_connections: must be"):
        parse_settings({"cluster_api": {"token_env": "T"}, "server": {"max_connections": 0}},
                       {"T": "token"})
