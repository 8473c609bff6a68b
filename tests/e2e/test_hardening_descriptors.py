"""Issue 16.9 with a real `relay serve` under a small open-file limit (RLIMIT_NOFILE).

Run out of descriptors, relay used to write one plain-text asyncio traceback per failed
accept. Now: a warning at start that the connection cap is above the limit, failed accepts
folded into one `accept_failed` line with a count, no traceback, and service again once the
connections go away. With `max_connections` below the limit it never runs out: the extra
connections get 503.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from tests.factories import API_TOKEN

pytestmark = pytest.mark.slow

NOFILE = 64
GUARD_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def file_limit(nofile: int) -> Callable[[], None]:
    def limit() -> None:  # runs in the child, before exec
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
    return limit


class Serve:
    """`relay serve` with a low file limit; its JSON log lines collected as they come."""

    def __init__(self, tmp_path: Path, max_connections: int, nofile: int = NOFILE) -> None:
        self.nofile = nofile
        self.port = free_port()
        self.config = tmp_path / "relay.yaml"
        self.config.write_text(f"""
server: {{host: 127.0.0.1, port: {self.port}, max_connections: {max_connections},
          header_timeout_s: 30, idle_timeout_s: 30}}
store: {{url: "sqlite:///{tmp_path / 'relay.db'}"}}
cluster_api: {{base_url: embedded}}
logging: {{format: json}}
""")
        self.lines: list[str] = []
        self.changed = asyncio.Condition()
        self.proc: asyncio.subprocess.Process | None = None
        self.reading: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Serve:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay", "serve", "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "RELAY_API_TOKEN": API_TOKEN}, preexec_fn=file_limit(self.nofile))
        self.reading = asyncio.create_task(self._read())
        await self.logged("relay ready")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None and self.reading is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(GUARD_S):
            await self.proc.wait()
            await self.reading

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            async with self.changed:
                self.lines.append(raw.decode())
                self.changed.notify_all()

    def events(self, name: str) -> list[dict[str, object]]:
        found = []
        for line in self.lines:
            if line.startswith("{") and json.loads(line).get("event") == name:
                found.append(json.loads(line))
        return found

    async def logged(self, name: str) -> None:
        async with asyncio.timeout(GUARD_S), self.changed:
            await self.changed.wait_for(lambda: bool(self.events(name)))


async def healthz(port: int) -> int:
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{port}/healthz") as resp:
        return resp.status


async def open_many(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writers.append(writer)
    return writers


async def test_out_of_descriptors_gives_one_counted_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    async with Serve(tmp_path, max_connections=900) as relay:
        warning, = relay.events("connection cap near the open-file limit")
        assert warning["nofile"] == NOFILE and warning["max_connections"] == 900
        writers = await open_many(relay.port, 100)  # more than 64 descriptors
        try:
            await relay.logged("accept_failed")
        finally:
            for writer in writers:
                writer.close()
        async with asyncio.timeout(GUARD_S):
            while True:  # the listener pauses 1 s after a failed accept, then takes up again
                try:
                    if await healthz(relay.port) == 200:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
    failed = relay.events("accept_failed")
    assert 1 <= len(failed) <= 3 and failed[0]["error"] == "EMFILE"
    assert not [line for line in relay.lines if not line.startswith("{")], relay.lines
    assert "Traceback" not in "".join(relay.lines)


async def test_a_cap_below_the_file_limit_answers_503_instead(tmp_path: Path) -> None:
    async with Serve(tmp_path, max_connections=40, nofile=128) as relay:
        assert not relay.events("connection cap near the open-file limit")
        writers = await open_many(relay.port, 60)
        try:
            await relay.logged("connection_refused")
            assert await healthz_or_busy(relay.port) == 503
        finally:
            for writer in writers:
                writer.close()
    assert not relay.events("accept_failed")
    assert "Traceback" not in "".join(relay.lines)


async def healthz_or_busy(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(GUARD_S):
            head = await reader.readuntil(b"\r\n")
        return int(head.split(b" ")[1])
    finally:
        writer.close()
