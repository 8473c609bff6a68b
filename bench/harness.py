"""Start the servers under test (relay, the simulator, the ceiling, the lean reference,
adnanh/webhook) and query what they stored or saw. Every server listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.payload import ADMIN_TOKEN, API_TOKEN, SECRET
from bench.procs import Proc, free_port, python_argv, spawn, wait_http


@dataclass(frozen=True, slots=True)
class RouteSpec:
    repo: str
    cluster: int
    branch: str = "main"


def write_relay_config(work: Path, *, port: int, api_url: str, routes: Sequence[RouteSpec],
                       db: Path, lease_s: float = 30, poll_interval_s: float = 1,
                       watch_timeout_s: float = 30, timeout_s: float = 900,
                       level: str = "info") -> Path:
    lines = [f"  - {{repo: {r.repo}, branch: {r.branch}, cluster: {r.cluster}, action: version}}"
             for r in routes]
    path = work / f"relay-{port}.yaml"
    # the config rule: lease_s >= retry_total_s + 2 x request_timeout_s
    request_timeout_s = min(10, lease_s / 20)
    retry_total_s = min(45, lease_s / 2)
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}}}
store: {{url: "sqlite:///{db}"}}
cluster_api: {{base_url: "{api_url}", request_timeout_s: {request_timeout_s},
               retry_total_s: {retry_total_s}, watch_timeout_s: {watch_timeout_s}}}
sources:
  github: {{secret_env: RELAY_GITHUB_SECRET}}
admin: {{token_env: RELAY_ADMIN_TOKEN}}
rollout: {{timeout_s: {timeout_s}, lease_s: {lease_s}, poll_interval_s: {poll_interval_s}}}
logging: {{level: {level}, format: json}}
routes:
{chr(10).join(lines) if lines else "  []"}
""")
    return path


def start_relay(work: Path, config: Path, port: int, *, name: str = "relay") -> Proc:
    """`relay serve` from this checkout, or from BENCH_RELAY_SRC (a directory holding another
    version's `relay` package: the "before" of a comparison) when that is set."""
    src = os.environ.get("BENCH_RELAY_SRC")
    proc = spawn(name, python_argv("-m", "relay", "serve", "--config", str(config)),
                 port=port, log=work / f"{name}-{port}.log",
                 cwd=Path(src) if src else None)
    wait_http(proc, "/readyz")
    return proc


def start_sim(work: Path, *, step_s: float = 0.05, watch_timeout_s: float = 30) -> Proc:
    port = free_port()
    proc = spawn("simulator", python_argv("-m", "bench.sim_server", "--port", str(port),
                                          "--step-s", str(step_s),
                                          "--watch-timeout-s", str(watch_timeout_s)),
                 port=port, log=work / f"simulator-{port}.log")
    wait_http(proc, "/bench/readyz")
    return proc


def start_ceiling(work: Path) -> Proc:
    port = free_port()
    proc = spawn("ceiling", python_argv("-m", "bench.ceiling", "--port", str(port)),
                 port=port, log=work / "ceiling.log")
    wait_http(proc, "/readyz")
    return proc


def start_lean(work: Path, db: Path) -> Proc:
    """The durable lean reference (bench/lean.py) on a fresh SQLite file `db`."""
    port = free_port()
    proc = spawn("lean", python_argv("-m", "bench.lean", "--port", str(port), "--db", str(db)),
                 port=port, log=work / "lean.log")
    wait_http(proc, "/readyz")
    return proc


def webhook_available() -> bool:
    return shutil.which("webhook") is not None


def start_webhook(work: Path) -> Proc:
    """adnanh/webhook with one hook: HMAC-SHA256 of the body in X-Hub-Signature-256."""
    hooks = work / "hooks.json"
    hooks.write_text(json.dumps([{
        "id": "github", "execute-command": "/bin/true", "command-working-directory": "/tmp",
        "success-http-response-code": 202,
        "trigger-rule": {"match": {
            "type": "payload-hmac-sha256", "secret": SECRET,
            "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
    }]))
    port = free_port()
    proc = spawn("webhook", ["webhook", "-hooks", str(hooks), "-ip", "127.0.0.1",
                             "-port", str(port)], port=port, log=work / "webhook.log")
    wait_port(proc)
    return proc


def wait_port(proc: Proc, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited; see {proc.log}")
        try:
            with socket.create_connection(("127.0.0.1", proc.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{proc.name} did not listen within {within} s")


# -- talking to the simulator and to relay ----------------------------------------------------


def sim_api(sim: Proc) -> str:
    return sim.url + "/sim"


async def create_clusters(sim: Proc, n: int, *, replicas: int = 1, prefix: str = "bench",
                          concurrency: int = 32) -> list[int]:
    """Create `n` clusters through the simulator's API; wait until all are create_succ."""
    headers = {"Authorization": f"Token {API_TOKEN}"}
    ids: list[int] = []
    todo = list(range(n))
    async with aiohttp.ClientSession(headers=headers, trust_env=False) as s:

        async def worker() -> None:
            while todo:
                i = todo.pop()
                spec = {"name": f"{prefix}-{i}", "image_type": 1, "image_id": 3, "spec_id": 10,
                        "replicas": replicas,
                        "version_control": {"type": "git", "path": "https://e.com/r.git",
                                            "branch": "main", "version": "0" * 40}}
                async with s.post(sim_api(sim) + "/api/v1/apps", json=spec) as r:
                    if r.status != 200:
                        raise RuntimeError(f"create failed: {r.status} {await r.text()}")
                    ids.append(int((await r.json())["id"]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        for _ in range(600):
            summary = await get_json(s, sim.url + "/bench/summary")
            if summary["statuses"].get("create_succ", 0) >= len(ids):
                return sorted(ids)
            await asyncio.sleep(0.05)
    raise RuntimeError("clusters were not created in time")


async def set_step(sim: Proc, step_s: float) -> None:
    async with aiohttp.ClientSession(trust_env=False) as s, s.put(
            sim.url + "/bench/step", params={"s": str(step_s)}) as r:
        r.raise_for_status()


async def get_json(session: aiohttp.ClientSession, url: str, **kw: Any) -> Any:
    async with session.get(url, **kw) as r:
        r.raise_for_status()
        return await r.json()


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def query(db: Path, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read relay's SQLite file from this process (read-only, WAL readers never block)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, tuple(args)).fetchall()
    finally:
        conn.close()


def count(db: Path, table: str, where: str = "1") -> int:
    return int(query(db, f"SELECT COUNT(*) FROM {table} WHERE {where}")[0][0])
