"""Benchmark 2, delivery to trigger: at a steady moderate rate, the time from a delivery's
arrival to the cluster API accepting its trigger, read exactly from relay's own rows
(deployments.created_at is the arrival, triggered_at is stamped once the PUT was answered).

Deliveries go round-robin to many repositories, each routed to its own cluster, so that no
delivery waits behind an earlier rollout of its cluster (one at a time per cluster): each
cluster gets a push every `clusters / rate` seconds and its rollout lasts one short step.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    RouteSpec,
    count,
    create_clusters,
    query,
    set_step,
    sim_api,
    start_relay,
    start_sim,
    write_relay_config,
)
from bench.loadgen import run_at_rate
from bench.payload import github_headers, push_body
from bench.procs import free_port
from bench.results import Table, Target
from bench.stats import median, ms, percentile
from relay.deployment import parse_iso


@dataclass
class TriggerSettings:
    rate: float = 20.0
    duration_s: float = 20.0
    clusters: int = 100
    step_s: float = 0.2


def run(work: Path, s: TriggerSettings) -> tuple[list[Table], list[Target]]:
    sim = start_sim(work, step_s=0.05)
    relay = None
    try:
        ids = asyncio.run(create_clusters(sim, s.clusters, prefix="trigger"))
        asyncio.run(set_step(sim, s.step_s))
        routes = [RouteSpec(f"bench/app-{i}", cid) for i, cid in enumerate(ids)]
        port = free_port()
        db = work / "trigger.db"
        config = write_relay_config(work, port=port, api_url=sim_api(sim), routes=routes, db=db,
                                    poll_interval_s=0.2)
        relay = start_relay(work, config, port, name="relay-trigger")
        total = int(s.rate * s.duration_s)
        bodies = [push_body(repo=f"bench/app-{i % s.clusters}", seq=i) for i in range(total)]

        def make(i: int) -> tuple[bytes, dict[str, str]]:
            return bodies[i], github_headers(bodies[i], f"trigger-{i}")

        result = asyncio.run(run_at_rate(relay.url + "/hooks/github", make, rate=s.rate,
                                         duration_s=s.duration_s, warmup_s=0))
        deadline = time.monotonic() + 30
        while count(db, "deployments", "triggered_at IS NULL") and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = query(db, "SELECT created_at, triggered_at FROM deployments "
                         "WHERE triggered_at IS NOT NULL")
        untriggered = count(db, "deployments", "triggered_at IS NULL")
    finally:
        if relay is not None:
            relay.stop()
        sim.stop()
    waits = [(parse_iso(t) - parse_iso(c)).total_seconds() for c, t in rows]  # type: ignore[operator]
    p50, p99 = percentile(waits, 50), percentile(waits, 99)
    t = Table(f"2. Delivery to trigger: {s.rate:g} pushes/s for {s.duration_s:g} s over "
              f"{s.clusters} clusters (simulator step {s.step_s:g} s)",
              ["deliveries", "202", "triggered", "p50", "p99", "max", "mean"])
    t.add(result.sent, result.statuses.get(202, 0), len(waits), ms(p50), ms(p99),
          ms(max(waits) if waits else float("nan")),
          ms(sum(waits) / len(waits) if waits else float("nan")))
    t.notes.append("from deployments.created_at (arrival) to triggered_at (the PUT answered), "
                   f"millisecond timestamps; {untriggered} never triggered; ack p50 "
                   f"{ms(median(result.latencies_s))}")
    targets = [
        Target("delivery to trigger", "p50 < 20 ms", ms(p50), p50 < 0.020),
        Target("delivery to trigger", "p99 < 100 ms", ms(p99), p99 < 0.100 and not untriggered),
    ]
    return [t], targets
