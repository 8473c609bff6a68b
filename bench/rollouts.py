"""Benchmark 3, many rollouts at once: 2,000 clusters followed concurrently by one relay.

The simulator runs in its own process. Its 2,000 clusters are created through the API with a
short step; then the step is made long, 2,000 deployments are queued through relay's admin
API, and relay triggers and follows all of them (GET + watch long-poll each). Once every one
is rolling out, relay's CPU time is read from /proc over a window in which nothing changes on
the platform ("waiting"); then the rollouts end one step after their trigger and the time from
the simulator settling a cluster to relay marking its deployment succeeded is measured.
Relay runs with the shipped defaults for leases (30 s), polls (1 s) and watches (60 s).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.harness import (
    admin_headers,
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
from bench.payload import sha
from bench.procs import Proc, free_port, py_spy
from bench.results import Table, Target
from bench.stats import ms, percentile
from relay.deployment import parse_iso


@dataclass
class RolloutSettings:
    clusters: int = 2000
    step_s: float = 50.0  # one rollout = one step (1 replica)
    window_s: float = 10.0
    watch_timeout_s: float = 60.0
    profile_dir: Path | None = None  # py-spy samples relay during the waiting window


@dataclass
class Observed:
    queued_s: float = 0.0
    all_rolling_s: float = 0.0
    window_s: float = 0.0
    cpu_share: float = float("nan")
    rss_waiting_mb: float = 0.0
    peak_rss_mb: float = 0.0
    succeeded: int = 0
    notice: tuple[float, ...] = ()


def run(work: Path, s: RolloutSettings) -> tuple[list[Table], list[Target]]:
    sim = start_sim(work, step_s=0.05, watch_timeout_s=s.watch_timeout_s)
    relay = None
    try:
        ids = asyncio.run(create_clusters(sim, s.clusters, prefix="many"))
        asyncio.run(set_step(sim, s.step_s))
        port = free_port()
        db = work / "rollouts.db"
        config = write_relay_config(work, port=port, api_url=sim_api(sim), routes=[], db=db,
                                    watch_timeout_s=s.watch_timeout_s)
        relay = start_relay(work, config, port, name="relay-rollouts")
        obs = asyncio.run(_measure(relay, sim, db, ids, s))
    finally:
        if relay is not None:
            relay.stop()
        sim.stop()
    return _report(s, obs)


async def _measure(relay: Proc, sim: Proc, db: Path, ids: list[int],
                   s: RolloutSettings) -> Observed:
    obs = Observed()
    started = time.monotonic()
    todo = list(ids)
    async with aiohttp.ClientSession(headers=admin_headers(), trust_env=False) as session:

        async def post() -> None:
            while todo:
                cid = todo.pop()
                body = {"cluster": cid, "version": sha(f"many-{cid}"), "action": "version"}
                async with session.post(relay.url + "/api/deployments", json=body) as r:
                    if r.status != 202:
                        raise RuntimeError(f"deploy failed: {r.status} {await r.text()}")

        await asyncio.gather(*(post() for _ in range(32)))
        obs.queued_s = time.monotonic() - started
        first_trigger = time.monotonic()
        deadline = started + s.step_s * 0.8
        while count(db, "deployments", "status = 'rolling_out'") < len(ids):
            if time.monotonic() > deadline:
                raise RuntimeError("relay did not start every rollout in time")
            await asyncio.sleep(0.2)
        obs.all_rolling_s = time.monotonic() - started
        await asyncio.sleep(1.0)  # the last watches get parked
        # Nothing changes on the platform before the first rollout's step ends.
        room = first_trigger + s.step_s - 2.0 - time.monotonic()
        obs.window_s = max(1.0, min(s.window_s, room))
        cpu0, t0 = relay.cpu_s(), time.monotonic()
        await asyncio.sleep(obs.window_s)
        obs.cpu_share = (relay.cpu_s() - cpu0) / (time.monotonic() - t0)
        if s.profile_dir is not None:  # after the CPU window: the profiler costs CPU too
            spy = py_spy(relay, 8, s.profile_dir / "rollouts-waiting.txt")
            await asyncio.sleep(9)
            if spy is not None:
                spy.wait()
        obs.rss_waiting_mb = relay.rss_mb()
        deadline = time.monotonic() + s.step_s + 60
        while count(db, "deployments", "finished_at IS NOT NULL") < len(ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        obs.peak_rss_mb = relay.peak_rss_mb()
        settled = await get_json(session, sim.url + "/bench/settled")
    rows = query(db, "SELECT cluster, finished_at FROM deployments WHERE status = 'succeeded'")
    obs.succeeded = len(rows)
    notice = []
    for cluster, finished in rows:
        at = settled.get(str(cluster))
        end = parse_iso(finished)
        if at is not None and end is not None:
            notice.append(end.timestamp() - at)
    obs.notice = tuple(notice)
    return obs


def _report(s: RolloutSettings, o: Observed) -> tuple[list[Table], list[Target]]:
    t = Table(f"3. Many rollouts at once: {s.clusters} clusters followed by one relay "
              f"(rollout = {s.step_s:g} s, watch {s.watch_timeout_s:g} s)",
              ["measure", "relay", "target"])
    t.add("queue 2,000 deployments (admin API, 32 at a time)", f"{o.queued_s:.1f} s", "")
    t.add("until all are rolling_out (triggered, followed)", f"{o.all_rolling_s:.1f} s", "")
    t.add(f"CPU while waiting ({o.window_s:.0f} s window)", f"{o.cpu_share:.1%} of one core",
          "< 20 %")
    t.add("RSS while waiting", f"{o.rss_waiting_mb:.0f} MB", "")
    t.add("peak RSS (VmHWM)", f"{o.peak_rss_mb:.0f} MB", "< 300 MB")
    t.add("succeeded", f"{o.succeeded} / {s.clusters}", "all")
    n = o.notice
    t.add("completion noticed (simulator settles -> relay marks succeeded) p50 / p99 / max",
          f"{ms(percentile(n, 50))} / {ms(percentile(n, 99))} / {ms(max(n) if n else 0)}", "")
    t.notes.append("notice time: the simulator's wall clock when it settled the cluster, vs "
                   "relay's finished_at (same machine clock, millisecond resolution)")
    targets = [
        Target("2,000 rollouts", "peak RSS < 300 MB", f"{o.peak_rss_mb:.0f} MB",
               o.peak_rss_mb < 300),
        Target("2,000 rollouts", "< 20 % of one core while waiting", f"{o.cpu_share:.1%}",
               o.cpu_share < 0.20),
        Target("2,000 rollouts", "every rollout noticed", f"{o.succeeded} succeeded, notice p99 "
               f"{ms(percentile(n, 99))}", o.succeeded == s.clusters),
    ]
    return [t], targets
