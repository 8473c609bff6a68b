"""Issue 16.10: request bodies in flight share one memory budget (relay.server.BodyBudget).

100 connections each send the headers and half of a webhook body, then stall. The bodies
reserved in flight never pass `server.max_body_memory_bytes`; the requests beyond it are
answered 503 with Retry-After at once and their connections closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.config import ServerSettings
from relay.server import BODY_BUDGET, BodyBudget, RunningServer, ServerLimits, serve
from tests.factories import make_settings
from tests.fakes import eventually

GUARD_S = 10.0
BODY = 60_000  # bytes each request declares
BUDGET = 1_048_576  # 17 such bodies fit
LIMITS = ServerLimits(header_timeout_s=30, body_timeout_s=30, idle_timeout_s=30)


@asynccontextmanager
async def relay_server(tmp_path: Path, *, max_body_bytes: int = 64 * 1024,
                       budget: int = BUDGET) -> AsyncIterator[tuple[RunningServer, BodyBudget]]:
    server_settings = ServerSettings(max_body_bytes=max_body_bytes, max_body_memory_bytes=budget)
    app = create_app(make_settings(tmp_path, server=server_settings), run_worker=False,
                     registry=CollectorRegistry())
    async with serve(app, host="127.0.0.1", port=0, limits=LIMITS,
                     shutdown_timeout_s=1) as server:
        yield server, app[BODY_BUDGET]


def head(length: int | None) -> bytes:
    framing = (b"Transfer-Encoding: chunked\r\n" if length is None
               else f"Content-Length: {length}\r\n".encode())
    return (b"POST /hooks/github HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nX-GitHub-Delivery: d-1\r\n" + framing + b"\r\n")


async def answer_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one answer with a Content-Length."""
    raw_head = await reader.readuntil(b"\r\n\r\n")
    length = int(raw_head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return raw_head, await reader.readexactly(length)


async def test_100_half_sent_bodies_stay_within_the_budget(tmp_path: Path) -> None:
    async with relay_server(tmp_path) as (server, budget):
        conns = []
        for _ in range(100):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(head(BODY) + b"x" * (BODY // 2))
            conns.append((reader, writer))
        fitting = BUDGET // BODY
        tasks = [asyncio.create_task(answer_of(r)) for r, _ in conns]
        try:
            await eventually(lambda: sum(t.done() for t in tasks) == 100 - fitting
                             and budget.in_use == fitting * BODY, within=GUARD_S)
            for task in (t for t in tasks if t.done()):
                raw_head, body = task.result()
                assert raw_head.startswith(b"HTTP/1.1 503 ")
                assert b"Retry-After: 1\r\n" in raw_head and b"Connection: close" in raw_head
                assert json.loads(body) == {
                    "error": "too many request bodies in flight; retry later"}
            assert budget.peak <= BUDGET
            # The held ones finish their bodies and are answered (401: not signed), not 503.
            waiting = [(t, w) for t, (_, w) in zip(tasks, conns, strict=True) if not t.done()]
            for _, writer in waiting:
                writer.write(b"x" * (BODY - BODY // 2))
            async with asyncio.timeout(GUARD_S):
                held = await asyncio.gather(*(t for t, _ in waiting))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert {raw_head.split(b" ")[1] for raw_head, _ in held} == {b"401"}
        assert budget.in_use == 0 and budget.peak <= BUDGET
        for _, writer in conns:
            writer.close()


async def test_a_chunked_body_growing_past_the_budget_gets_503(tmp_path: Path) -> None:
    async with relay_server(tmp_path, max_body_bytes=512 * 1024, budget=100_000) as (
            server, budget):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head(None))
        chunk = b"x" * 40_000
        for _ in range(3):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        async with asyncio.timeout(GUARD_S):
            raw_head, body = await answer_of(reader)
        writer.close()
        assert raw_head.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in raw_head
        assert "error" in json.loads(body)
        assert budget.in_use == 0 and budget.peak <= 100_000


async def test_a_body_over_max_body_bytes_is_still_413_not_503(tmp_path: Path) -> None:
    async with relay_server(tmp_path, budget=1000) as (server, budget):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head(70_000))
        async with asyncio.timeout(GUARD_S):
            raw_head, _ = await answer_of(reader)
        writer.close()
        assert raw_head.startswith(b"HTTP/1.1 413 ")
        assert budget.peak == 0
