"""Benchmark 1, ingest: signed ~4 KB GitHub pushes, relay's full path beside the framework
ceiling and adnanh/webhook, driven by wrk; then the p99 acknowledgement at a fixed rate.

relay's configuration routes every push to one cluster of a simulator whose rollouts take an
hour: the first delivery triggers a rollout, every later one queues a deployment behind it, so
each 202 means a delivery row plus a deployment row committed, while the worker only wakes and
finds nothing to claim. A second relay row ("no route") stores the delivery without a
deployment (answer 200) to show the share of the deployment row and of the worker's wake-ups.
Every relay round starts from an empty database; after it, relay is SIGKILLed and the rows in
its file are counted against the 202s wrk received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    RouteSpec,
    count,
    create_clusters,
    set_step,
    sim_api,
    start_ceiling,
    start_relay,
    start_sim,
    start_webhook,
    webhook_available,
    write_relay_config,
)
from bench.loadgen import LoadResult, run_at_rate
from bench.payload import REPO, github_headers, push_body
from bench.procs import Proc, free_port, py_spy
from bench.results import Table, Target
from bench.stats import median, ms, ratio
from bench.wrk import WrkResult, run_wrk


@dataclass
class IngestSettings:
    rounds: int = 3
    duration_s: float = 10.0
    warmup_s: float = 1.0
    connections: int = 32
    rate: float = 500.0
    rate_duration_s: float = 5.0
    profile_dir: Path | None = None  # py-spy samples one extra, unmeasured relay run


@dataclass
class Series:
    runs: list[WrkResult] = field(default_factory=list)

    def med(self, key: Callable[[WrkResult], float]) -> float:
        return median([key(r) for r in self.runs])


@dataclass
class Durability:
    acked: int = 0  # 202 (or 200 for "no route") answers wrk read
    stored: int = 0  # delivery rows in the file after SIGKILL
    deployments: int = 0
    other: int = 0  # answers that were neither

    def ok(self, slack: int) -> bool:
        return self.acked <= self.stored <= self.acked + self.other + slack


class RelayTarget:
    """A relay started afresh (empty database) for every round, SIGKILLed after it."""

    def __init__(self, work: Path, sim: Proc, cluster: int, *, routed: bool) -> None:
        self.work, self.sim, self.cluster, self.routed = work, sim, cluster, routed
        self.name = "relay (full path)" if routed else "relay (no route: 200)"
        self.durability = Durability()
        self._n = 0
        self.proc: Proc | None = None  # the one running now

    def start(self) -> Proc:
        self._n += 1
        port = free_port()
        self.db = self.work / f"ingest-{'r' if self.routed else 'n'}{self._n}.db"
        repo = REPO if self.routed else "elsewhere/none"
        config = write_relay_config(self.work, port=port, api_url=sim_api(self.sim),
                                    routes=[RouteSpec(repo, self.cluster)], db=self.db)
        self.proc = start_relay(self.work, config, port, name=f"relay-ingest-{self._n}")
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(kill=True)

    def finish(self, proc: Proc, results: list[WrkResult], status: int) -> None:
        time.sleep(0.5)  # let requests wrk abandoned at its deadline finish
        proc.stop(kill=True)
        d = self.durability
        d.acked += sum(r.count(status) for r in results)
        d.other += sum(r.requests - r.count(status) + r.timeouts for r in results)
        d.stored += count(self.db, "deliveries")
        d.deployments += count(self.db, "deployments")


def run(work: Path, s: IngestSettings) -> tuple[list[Table], list[Target]]:
    body = push_body()
    sim = start_sim(work, step_s=0.05)
    procs: list[Proc | RelayTarget] = [sim]
    try:
        cluster = asyncio.run(create_clusters(sim, 1, prefix="ingest"))[0]
        asyncio.run(set_step(sim, 3600))
        relay = RelayTarget(work, sim, cluster, routed=True)
        bare = RelayTarget(work, sim, cluster, routed=False)
        procs += [relay, bare]
        ceiling = start_ceiling(work)
        procs.append(ceiling)
        hook = start_webhook(work) if webhook_available() else None
        if hook is not None:
            procs.append(hook)
        series = _rounds(s, body, relay, bare, ceiling, hook)
        rate = _at_rate(s, body, relay, ceiling)
        if s.profile_dir is not None:
            _profile(s, body, relay, s.profile_dir)
    finally:
        for p in procs:
            p.stop()
    return _report(s, series, rate, relay, bare, hook is not None)


def _rounds(s: IngestSettings, body: bytes, relay: RelayTarget, bare: RelayTarget,
            ceiling: Proc, hook: Proc | None) -> dict[str, Series]:
    series: dict[str, Series] = {}
    for rnd in range(1, s.rounds + 1):
        for target in (relay, bare, ceiling, hook):
            if target is None:
                continue
            name = target.name if isinstance(target, RelayTarget) else target.name
            proc = target.start() if isinstance(target, RelayTarget) else target
            url = proc.url + "/hooks/github"
            tag = f"r{rnd}-{time.monotonic_ns()}"
            warm = run_wrk(url, body, tag=tag + "w", connections=s.connections,
                           duration_s=s.warmup_s)
            res = run_wrk(url, body, tag=tag, connections=s.connections,
                          duration_s=s.duration_s)
            series.setdefault(name, Series()).runs.append(res)
            print(f"  ingest round {rnd} {name}: {res.rps:.0f} req/s, p50 {ms(res.p50_s)}, "
                  f"p99 {ms(res.p99_s)}, codes {res.codes}", flush=True)
            if isinstance(target, RelayTarget):
                target.finish(proc, [warm, res], 202 if target.routed else 200)
    return series


def _at_rate(s: IngestSettings, body: bytes, relay: RelayTarget,
             ceiling: Proc) -> dict[str, list[LoadResult]]:
    """Alternate relay and the ceiling at the fixed rate, `rounds` times each."""
    out: dict[str, list[LoadResult]] = {"relay (full path)": [], "ceiling": []}
    proc = relay.start()
    try:
        for rnd in range(s.rounds):
            for name, target in (("relay (full path)", proc), ("ceiling", ceiling)):
                tag = f"rate-{rnd}-{time.monotonic_ns()}"

                def make(i: int, tag: str = tag) -> tuple[bytes, dict[str, str]]:
                    return body, github_headers(body, f"{tag}-{i}")

                res = asyncio.run(run_at_rate(target.url + "/hooks/github", make, rate=s.rate,
                                              duration_s=s.rate_duration_s,
                                              connections=s.connections))
                out[name].append(res)
                print(f"  ingest at {s.rate:g}/s {name}: p50 {ms(res.p(50))}, p99 "
                      f"{ms(res.p(99))}, statuses {res.statuses}", flush=True)
                if target is proc:  # the warm-up requests are stored and answered too
                    acked = res.all_statuses.get(202, 0)
                    relay.durability.acked += acked
                    relay.durability.other += sum(res.all_statuses.values()) - acked
    finally:
        time.sleep(0.2)
        proc.stop(kill=True)
    relay.durability.stored += count(relay.db, "deliveries")
    relay.durability.deployments += count(relay.db, "deployments")
    return out


def _profile(s: IngestSettings, body: bytes, relay: RelayTarget, out: Path) -> None:
    """One more wrk run against a fresh relay under py-spy (GIL holders only); not counted."""
    proc = relay.start()
    try:
        spy = py_spy(proc, 6, out / "ingest-gil.txt", gil=True)
        run_wrk(proc.url + "/hooks/github", body, tag=f"prof-{time.monotonic_ns()}",
                connections=s.connections, duration_s=8)
        if spy is not None:
            spy.wait()
    finally:
        proc.stop(kill=True)


def _report(s: IngestSettings, series: dict[str, Series], rate: dict[str, list[LoadResult]],
            relay: RelayTarget, bare: RelayTarget, with_hook: bool
            ) -> tuple[list[Table], list[Target]]:
    full = series["relay (full path)"].med(lambda r: r.rps)
    ceil = series["ceiling"].med(lambda r: r.rps)
    hook = series["webhook"].med(lambda r: r.rps) if with_hook else float("nan")
    t = Table(f"1. Ingest: signed {len(push_body())}-byte GitHub pushes, wrk -t1 "
              f"-c{s.connections}, {s.duration_s:g} s x {s.rounds} rounds (alternated), medians",
              ["target", "requests/s", "p50", "p99", "relay full path / this"])
    labels = {"ceiling": "bare aiohttp + HMAC (ceiling)",
              "webhook": "adnanh/webhook 2.8 + /bin/true"}
    for name, ser in series.items():
        rps = ser.med(lambda r: r.rps)
        t.add(labels.get(name, name), f"{rps:.0f}", ms(ser.med(lambda r: r.p50_s)),
              ms(ser.med(lambda r: r.p99_s)), f"{ratio(full, rps):.2f}x")
    d = relay.durability
    slack = s.connections * (s.rounds * 2 + 1)
    t.notes.append(
        f"durability (relay full path, every round + the fixed-rate run): {d.acked} answered "
        f"202, {d.stored} delivery rows and {d.deployments} deployment rows in the file after "
        f"SIGKILL; {d.stored - d.acked} stored but unanswered (requests wrk abandoned at its "
        f"deadline) -> {'every 202 stored' if d.ok(slack) else 'MISMATCH'}")
    b = bare.durability
    t.notes.append(f"relay (no route): {b.acked} answered 200 (stored, ignored), {b.stored} rows")
    if not with_hook:
        t.notes.append("adnanh/webhook is not installed: `apt-get install webhook` (make bench "
                       "does it when run as root)")
    r = Table(f"1b. Acknowledgement latency at a fixed {s.rate:g} deliveries/s: "
              f"{s.rate_duration_s:g} s x {s.rounds} rounds (alternated, open loop, "
              f"{s.connections} connections), medians",
              ["target", "sent", "answered 2xx", "p50", "p99", "max", "generator lag"])
    for name, runs in rate.items():
        ok = sum(n for res in runs for st, n in res.statuses.items() if 200 <= st < 300)
        r.add(name, sum(res.sent for res in runs), ok, ms(median([x.p(50) for x in runs])),
              ms(median([x.p(99) for x in runs])),
              ms(median([max(x.latencies_s, default=0.0) for x in runs])),
              ms(median([x.max_lag_s for x in runs])))
    r.notes.append("generator lag: how late the load generator itself issued a request (max "
                   "per round, median): the noise floor of this machine, not the server's")
    p99 = median([x.p(99) for x in rate["relay (full path)"]])
    targets = [
        Target("ingest", ">= 0.5x bare aiohttp", f"{ratio(full, ceil):.2f}x",
               ratio(full, ceil) >= 0.5),
        Target("ingest", ">= 2x adnanh/webhook",
               f"{ratio(full, hook):.2f}x" if with_hook else "not installed",
               ratio(full, hook) >= 2 if with_hook else None),
        Target("ingest", "every 202 durably stored", f"{d.acked} 202s, {d.stored} rows",
               d.ok(slack) and d.deployments == d.stored),
        Target("ingest", f"p99 ack < 10 ms at {s.rate:g}/s", ms(p99), p99 < 0.010),
    ]
    return [t, r], targets
