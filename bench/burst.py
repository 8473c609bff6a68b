"""Benchmark 4, burst: 1,000 pushes to one branch sent as fast as possible (the aim: within a
second). Each push builds on the previous one (its `before` is the previous commit, its head
commit is one second younger), as a push storm or a mass redelivery would. The cluster's
rollout lasts longer than the burst (2 replicas, one step each): relay triggers the first push
to arrive, queues the rest behind it, and should then deploy only the newest.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.harness import (
    RouteSpec,
    count,
    create_clusters,
    get_json,
    query,
    set_step,
    sim_api,
    start_relay,
    start_sim,
    write_relay_config,
)
from bench.loadgen import send_all
from bench.payload import REPO, github_headers, push_body, sha
from bench.procs import free_port
from bench.results import Table, Target


@dataclass
class BurstSettings:
    pushes: int = 1000
    connections: int = 50
    step_s: float = 1.5
    replicas: int = 2


def run(work: Path, s: BurstSettings) -> tuple[list[Table], list[Target]]:
    sim = start_sim(work, step_s=0.05)
    relay = None
    try:
        cid = asyncio.run(create_clusters(sim, 1, replicas=s.replicas, prefix="burst"))[0]
        asyncio.run(set_step(sim, s.step_s))
        port = free_port()
        db = work / "burst.db"
        config = write_relay_config(work, port=port, api_url=sim_api(sim),
                                    routes=[RouteSpec(REPO, cid)], db=db, poll_interval_s=0.2)
        relay = start_relay(work, config, port, name="relay-burst")
        bodies = [push_body(seq=i) for i in range(1, s.pushes + 1)]
        requests = [(b, github_headers(b, f"burst-{i}")) for i, b in enumerate(bodies)]
        newest = sha(f"{REPO}-{s.pushes}")
        started = time.monotonic()
        statuses, sent_s = asyncio.run(send_all(relay.url + "/hooks/github", requests,
                                                connections=s.connections))
        deployed_s, sim_view = asyncio.run(_wait_for(sim.url, cid, newest, started, 90))
        time.sleep(0.5)
        stored = count(db, "deliveries")
        by_status = dict(query(db, "SELECT status, COUNT(*) FROM deployments GROUP BY status"))
    finally:
        if relay is not None:
            relay.stop()
        sim.stop()
    puts = int(str(sim_view["puts"]))
    t = Table(f"4. Burst: {s.pushes} pushes to one branch, {s.connections} connections "
              f"(rollout {s.replicas} x {s.step_s:g} s)", ["measure", "relay", "target"])
    t.add("time to send all (every answer read)", f"{sent_s:.2f} s", "<= 1 s (the aim)")
    t.add("answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())), "")
    t.add("deliveries stored", stored, str(s.pushes))
    t.add("triggers (PUTs the simulator saw)", puts, "<= 2")
    t.add("deployments by status", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())),
          "")
    t.add("newest commit running (from the first push sent)",
          f"{deployed_s:.2f} s" if deployed_s is not None else "never", "yes")
    newest_ok = deployed_s is not None
    targets = [
        Target("burst", "<= 2 triggers", str(puts), puts <= 2),
        Target("burst", "newest commit deployed",
               f"after {deployed_s:.1f} s" if newest_ok else "no", newest_ok),
        Target("burst", f"{s.pushes} deliveries stored", str(stored), stored == s.pushes),
    ]
    return [t], targets


async def _wait_for(sim_url: str, cid: int, version: str, started: float,
                    within: float) -> tuple[float | None, dict[str, object]]:
    """Poll the simulator until the cluster runs `version`, settled; seconds since `started`."""
    async with aiohttp.ClientSession(trust_env=False) as session:
        deadline = time.monotonic() + within
        view: dict[str, object] = {}
        while time.monotonic() < deadline:
            view = await get_json(session, f"{sim_url}/bench/clusters/{cid}")
            if view["version"] == version and view["status"] == "create_succ":
                return time.monotonic() - started, view
            await asyncio.sleep(0.02)
        return None, view
