"""Crash safety with real processes: SIGKILL relay, restart it, nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from relay.simulator import SIM_STATE, create_simulator_app
from tests.factories import ADMIN_TOKEN, API_TOKEN
from tests.payloads import SECRET, github_headers, github_push, sha

pytestmark = pytest.mark.slow

ENV = {
    "RELAY_API_TOKEN": API_TOKEN,
    "RELAY_GITHUB_SECRET": SECRET.decode(),
    "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, *, port: int, api_url: str, lease_s: float = 2) -> Path:
    # rollout.lease_s must be at least retry_total_s + 2 x request_timeout_s (the config rule)
    path = tmp_path / "relay.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}}}
store: {{url: "sqlite:///{tmp_path / 'relay.db'}"}}
cluster_api: {{base_url: "{api_url}", request_timeout_s: {lease_s / 20},
  retry_total_s: {lease_s / 4}, watch_timeout_s: 2}}
sources:
  github: {{secret_env: RELAY_GITHUB_SECRET}}
admin: {{token_env: RELAY_ADMIN_TOKEN}}
rollout: {{timeout_s: 60, lease_s: {lease_s}, poll_interval_s: 0.05}}
logging: {{format: json}}
routes:
  - {{repo: acme/shop, branch: main, cluster: 10702, action: version}}
""")
    return path


async def eventually(check: Callable[[], Any], within: float = 15.0, every: float = 0.02) -> Any:
    """Poll another process's effect until `check()` is truthy (bounded)."""
    for _ in range(int(within / every)):
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s")


class Relay:
    """One `relay serve` subprocess, its log in a file."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> int:
        """Start the process; return the log offset its own output starts at."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "relay", "serve", "--config", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **ENV},
            )
        return offset

    async def start(self) -> None:
        offset = self.spawn()
        await eventually(lambda: b"relay ready" in self.log.read_bytes()[offset:] or self._died())

    def _died(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"relay exited {self.proc.returncode}: {self.log.read_text()}")
        return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def sim() -> AsyncIterator[TestServer]:
    server = TestServer(create_simulator_app(token=API_TOKEN, step_s=0.4, watch_timeout_s=2))
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def relay_proc(tmp_path: Path, sim: TestServer) -> Iterator[Relay]:
    port = free_port()
    config = write_config(tmp_path, port=port, api_url=str(sim.make_url("")).rstrip("/"))
    proc = Relay(config, port, tmp_path / "relay.log")
    yield proc
    proc.stop()


async def admin_get(relay: Relay, path: str) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as s, s.get(relay.url + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def push(relay: Relay, body: bytes, delivery: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.post(
        relay.url + "/hooks/github", data=body, headers=github_headers(body, delivery=delivery)
    ) as r:
        assert r.status == 202, await r.text()
        return dict(await r.json())


async def test_delivery_survives_sigkill_right_after_202(relay_proc: Relay,
                                                         tmp_path: Path) -> None:
    await relay_proc.start()
    answer = await push(relay_proc, github_push("acme/shop", after=sha("durable")), "kill-1")
    relay_proc.kill()
    # Read the file the dead process left: the delivery and its deployment are on disk.
    conn = sqlite3.connect(tmp_path / "relay.db")
    try:
        row = conn.execute("SELECT delivery_id, commit_sha FROM deliveries").fetchone()
        deps = conn.execute("SELECT id, cluster FROM deployments").fetchall()
    finally:
        conn.close()
    assert row == ("github-kill-1", sha("durable"))
    assert deps == [(answer["deployments"][0]["id"], 10702)]
    await relay_proc.start()
    stored = await admin_get(relay_proc, "/api/deliveries/github-kill-1")
    assert [d["id"] for d in stored["deployments"]] == [deps[0][0]]


async def test_sigkill_while_following_resumes_without_a_second_trigger(
    relay_proc: Relay, sim: TestServer
) -> None:
    state = sim.app[SIM_STATE]
    await relay_proc.start()
    commit = sha("resume-me")
    answer = await push(relay_proc, github_push("acme/shop", after=commit), "follow-1")
    dep_id = answer["deployments"][0]["id"]
    await eventually(lambda: state.watching[10702] > 0)  # relay is following the rollout
    relay_proc.kill()
    await relay_proc.start()

    async def finished() -> Any:
        dep = await admin_get(relay_proc, f"/api/deployments/{dep_id}")
        return dep if dep["status"] not in ("queued", "triggering", "rolling_out") else None

    dep = await eventually(finished, within=30, every=0.1)
    assert dep["status"] == "succeeded", dep
    # log lines are written every 0.15 s (docs/operations.md, "Logs")
    await eventually(lambda: b'"resuming deployment"' in relay_proc.log.read_bytes())
    assert [b["version_control"]["version"] for b in state.put_bodies[10702]] == [commit]
    assert state.clusters[10702].version == commit
