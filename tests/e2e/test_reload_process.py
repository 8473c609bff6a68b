"""SIGHUP on a real `relay serve`: it reloads instead of dying, and refuses a broken file."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.test_crash import Relay, eventually, free_port, write_config
from tests.factories import ADMIN_TOKEN

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXTRA = "  - {repo: acme/web, branch: main, cluster: 10900, action: version}\n"


async def matches(port: int, repo: str) -> list[int]:
    """The clusters whose routes match a push to `repo` main, as the running relay sees it."""
    url = f"http://127.0.0.1:{port}/api/routes/explain"
    params = {"source": "github", "repo": repo, "ref": "refs/heads/main"}
    async with aiohttp.ClientSession() as http, http.get(url, params=params,
                                                         headers=ADMIN) as resp:
        assert resp.status == 200, await resp.text()
        verdicts = (await resp.json())["routes"]
    return [v["cluster"] for v in verdicts if v["matched"]]


def log_events(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def test_sighup_reloads_the_routes_and_refuses_a_broken_file(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port=port, api_url="http://127.0.0.1:9")
    relay = Relay(config, port, tmp_path / "relay.log")
    await relay.start()
    try:
        assert await matches(port, "acme/web") == []
        config.write_text(config.read_text() + EXTRA)
        assert relay.proc is not None
        relay.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: any(e.get("event") == "configuration reloaded"
                                     for e in log_events(relay.log)))
        assert await matches(port, "acme/web") == [10900]

        config.write_text(config.read_text().replace("branch: main, cluster: 10900",
                                                     "branch: refs/heads/main, cluster: 10900"))
        relay.proc.send_signal(signal.SIGHUP)
        await eventually(lambda: any(e.get("event") == "configuration reload refused"
                                     for e in log_events(relay.log)))
        assert relay.proc.poll() is None  # still serving
        assert await matches(port, "acme/web") == [10900]  # the last good routes stay
    finally:
        relay.stop()
