"""`relay backup`, `relay prune`, `relay migrate` as processes, against a running relay."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.e2e.test_crash import ENV, Relay, free_port, sim, write_config  # noqa: F401 - fixture
from tests.factories import ADMIN_TOKEN
from tests.payloads import github_headers, github_push, sha

pytestmark = pytest.mark.slow


def relay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True,
                          text=True, env={**os.environ, **ENV}, timeout=60, check=False)


async def relay_cli_async(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", *args, env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.fixture
async def relay(tmp_path: Path, sim: TestServer) -> AsyncIterator[Relay]:  # noqa: F811
    port = free_port()
    config = write_config(tmp_path, port=port, api_url=str(sim.make_url("")).rstrip("/"))
    server = Relay(config, port, tmp_path / "relay.log")
    await server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_backup_under_load_holds_every_acknowledged_delivery(
        relay: Relay, tmp_path: Path, sim: TestServer) -> None:  # noqa: F811
    backup = tmp_path / "backup.db"
    acked: list[str] = []
    stop = asyncio.Event()
    reached = asyncio.Event()  # set once `acked` holds `target[0]` deliveries
    target = [20]

    async def load(session: aiohttp.ClientSession) -> None:
        n = 0
        while not stop.is_set():
            body = github_push(ref="refs/heads/feature", after=sha(f"load-{n}"))
            async with session.post(f"{relay.url}/hooks/github", data=body,
                                    headers=github_headers(body)) as resp:
                if resp.status in (200, 202):
                    acked.append((await resp.json())["delivery_id"])
                    if len(acked) >= target[0]:
                        reached.set()
            n += 1

    async with aiohttp.ClientSession() as session:
        loader = asyncio.create_task(load(session))
        await asyncio.wait_for(reached.wait(), 30)
        before = list(acked)  # acknowledged before the backup started
        reached.clear()
        target[0] = len(before) + 20
        code, out = await relay_cli_async("backup", str(backup), "--config", str(relay.config))
        await asyncio.wait_for(reached.wait(), 30)  # ingest went on during and after it
        stop.set()
        await loader
    assert code == 0, out
    assert f"to {backup}" in out
    relay.stop()

    # The copy is a store relay serves: every delivery acknowledged before it is there.
    restored = tmp_path / "restored"
    restored.mkdir()
    port = free_port()
    config = write_config(restored, port=port, api_url=str(sim.make_url("")).rstrip("/"))
    backup.replace(restored / "relay.db")
    server = Relay(config, port, restored / "relay.log")
    await server.start()
    try:
        async with aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
            for delivery_id in before:
                async with session.get(f"{server.url}/api/deliveries/{delivery_id}") as resp:
                    assert resp.status == 200, delivery_id
    finally:
        server.stop()


async def test_prune_and_migrate_status_on_a_running_relay(relay: Relay) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{relay.url}/readyz") as resp:
            assert await resp.json() == {"status": "ready"}  # anonymous: today's body
        async with session.get(f"{relay.url}/readyz",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
            detail = (await resp.json())["detail"]
        async with session.get(f"{relay.url}/metrics") as resp:
            metrics = await resp.text()
    latest = detail["schema_version"]
    assert latest >= 5 and [m["version"] for m in detail["migrations"]][-1] == latest
    assert f'schema="{latest}"' in metrics

    dry = relay_cli("prune", "--dry-run", "--config", str(relay.config))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would remove 0 deliveries (received before ")
    done = relay_cli("prune", "--config", str(relay.config))
    assert done.returncode == 0 and done.stdout.startswith("removed 0 deliveries"), done.stderr

    status = relay_cli("migrate", "--status", "--config", str(relay.config))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("001  applied  ")
    assert lines[-1] == f"schema version {latest}, 0 pending"


def test_migrate_dry_run_lists_pending_on_a_new_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, port=free_port(), api_url="http://127.0.0.1:9")
    dry = relay_cli("migrate", "--dry-run", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == "001  would apply"
    assert not (tmp_path / "relay.db").exists()  # nothing created
    applied = relay_cli("migrate", "--config", str(config))
    assert applied.returncode == 0 and "0 pending" in applied.stdout
    conn = sqlite3.connect(tmp_path / "relay.db")
    assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental: new stores
    conn.close()


def test_backup_of_a_postgresql_store_says_pg_dump(tmp_path: Path) -> None:
    config = write_config(tmp_path, port=free_port(), api_url="http://127.0.0.1:9")
    text = config.read_text().replace(f'"sqlite:///{tmp_path / "relay.db"}"',
                                      '"postgresql://relay@127.0.0.1:5432/relay"')
    config.write_text(text)
    result = relay_cli("backup", str(tmp_path / "x.db"), "--config", str(config))
    assert result.returncode == 2
    assert "use pg_dump" in result.stderr
