"""Benchmark 1, ingest: signed ~4 KB GitHub pushes, relay beside the framework ceiling and
adnanh/webhook, driven by wrk, in two load shapes; then the p99 acknowledgement at a fixed rate.

Every request carries its own delivery id and its own head commit (bench/ingest.lua fills a
template from a pool of pre-signed commits), so no round degrades into claim/skip cycles of a
commit a cluster already runs. Every relay round starts from an empty database and fresh
simulator clusters, and ends with SIGKILL; the rows in its file are then counted against the
202s wrk read. The two shapes:

- **worker idle**: one route, one cluster whose rollouts take an hour (its own simulator): the
  first push triggers a rollout, every later one queues behind it, the worker wakes and finds
  nothing to claim. Each 202 is a delivery row plus a deployment row committed.
- **worker deploying**: pushes round-robin over `busy_clusters` branches, each routed to its
  own cluster of a second simulator whose rollouts end in well under a second, so the worker
  claims, supersedes, triggers, follows and finishes all the while ingest runs.

Targets alternate within each round: relay idle, relay deploying, the ceiling, the lean
durable reference (bench/lean.py, on a fresh file each round), webhook.
Ratios are medians of the per-round ratios. CPU per request is the process's CPU time (from
/proc, per thread for relay: the event-loop thread and the others, i.e. the SQLite and flusher
threads) over the measured run, divided by the requests wrk counted.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    RouteSpec,
    count,
    create_clusters,
    query,
    set_step,
    sim_api,
    start_ceiling,
    start_lean,
    start_relay,
    start_sim,
    start_webhook,
    webhook_available,
    write_relay_config,
)
from bench.loadgen import LoadResult, run_at_rate
from bench.payload import REPO, fill, github_headers, push_template, sha
from bench.procs import Proc, free_port, py_spy, settle, thread_cpu_s
from bench.results import Table, Target
from bench.stats import histogram_quantile, median, ms, ratio
from bench.wrk import WrkResult, run_wrk

IDLE, BUSY, CEILING, LEAN, HOOK = ("relay, worker idle", "relay, worker deploying", "ceiling",
                                   "lean", "webhook")


@dataclass
class IngestSettings:
    rounds: int = 3
    duration_s: float = 10.0
    warmup_s: float = 1.0
    connections: int = 32
    rate: float = 500.0
    rate_duration_s: float = 5.0
    busy_clusters: int = 4
    busy_step_s: float = 0.2  # a busy-shape rollout: one replica, one step
    profile_dir: Path | None = None  # py-spy samples one extra, unmeasured relay run


@dataclass(frozen=True, slots=True)
class Measured:
    wrk: WrkResult
    loop_cpu_s: float  # the main (event-loop) thread; the whole process for non-relay targets
    other_cpu_s: float  # every other thread, and reaped children (webhook's /bin/true)
    drain_s: float = 0.0  # how long the process went on working after wrk stopped

    def us_per_req(self, cpu_s: float) -> float:
        return cpu_s / self.wrk.requests * 1e6 if self.wrk.requests else float("nan")


@dataclass
class Durability:
    acked: int = 0  # 202 answers read
    stored: int = 0  # delivery rows in the file after SIGKILL
    deployments: int = 0
    other: int = 0  # answers that were neither, and requests abandoned at wrk's deadline
    statuses: dict[str, int] = field(default_factory=dict)

    def ok(self, slack: int) -> bool:
        return self.acked <= self.stored <= self.acked + self.other + slack


class RelayTarget:
    """A relay started afresh (empty database, fresh clusters) for every round, SIGKILLed
    after it."""

    def __init__(self, work: Path, sim: Proc, clusters: list[int], *, name: str,
                 branches: list[str], poll_interval_s: float) -> None:
        self.work, self.sim, self.name, self.branches = work, sim, name, branches
        self.clusters = list(clusters)  # consumed len(branches) at a time
        self.poll_interval_s = poll_interval_s
        self.durability = Durability()
        self.store_timings: dict[str, float] = {}  # _store_timings after the fixed-rate run
        self._n = 0
        self.proc: Proc | None = None

    def start(self) -> Proc:
        self._n += 1
        port = free_port()
        tag = "i" if self.branches == ["main"] else "b"
        self.db = self.work / f"ingest-{tag}{self._n}.db"
        take, self.clusters = (self.clusters[:len(self.branches)],
                               self.clusters[len(self.branches):])
        routes = [RouteSpec(REPO, c, b) for c, b in zip(take, self.branches, strict=True)]
        config = write_relay_config(self.work, port=port, api_url=sim_api(self.sim),
                                    routes=routes, db=self.db,
                                    poll_interval_s=self.poll_interval_s)
        self.proc = start_relay(self.work, config, port, name=f"relay-ingest-{tag}{self._n}")
        return self.proc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(kill=True)

    def finish(self, acked: int, other: int) -> None:
        """SIGKILL, then count what the file holds against the 202s read."""
        time.sleep(0.5)  # let requests wrk abandoned at its deadline finish
        assert self.proc is not None
        self.proc.stop(kill=True)
        d = self.durability
        d.acked += acked
        d.other += other
        d.stored += count(self.db, "deliveries")
        d.deployments += count(self.db, "deployments")
        for status, n in query(self.db, "SELECT status, COUNT(*) FROM deployments GROUP BY 1"):
            d.statuses[status] = d.statuses.get(status, 0) + int(n)


def run(work: Path, s: IngestSettings) -> tuple[list[Table], list[Target]]:
    template = push_template()
    load = [os.getloadavg()[0]]
    rounds = s.rounds + 1 + (1 if s.profile_dir is not None else 0)
    sim_idle = start_sim(work, step_s=0.05)
    procs: list[Proc | RelayTarget] = [sim_idle]
    try:
        sim_busy = start_sim(work, step_s=s.busy_step_s)
        procs.append(sim_busy)
        idle_clusters = asyncio.run(create_clusters(sim_idle, rounds, prefix="idle"))
        busy_clusters = asyncio.run(create_clusters(sim_busy, rounds * s.busy_clusters,
                                                    prefix="busy"))
        asyncio.run(set_step(sim_idle, 3600))
        idle = RelayTarget(work, sim_idle, idle_clusters, name=IDLE, branches=["main"],
                           poll_interval_s=1)
        busy = RelayTarget(work, sim_busy, busy_clusters, name=BUSY,
                           branches=[f"b{i}" for i in range(s.busy_clusters)],
                           poll_interval_s=0.2)
        procs += [idle, busy]
        ceiling = start_ceiling(work)
        procs.append(ceiling)
        hook = start_webhook(work) if webhook_available() else None
        if hook is not None:
            procs.append(hook)
        series = _rounds(s, template, idle, busy, ceiling, hook, work)
        load.append(os.getloadavg()[0])
        rate = _at_rate(s, template, busy, ceiling)
        load.append(os.getloadavg()[0])
        if s.profile_dir is not None:
            _profile(s, template, [idle, busy], s.profile_dir)
    finally:
        for p in procs:
            p.stop()
    return _report(s, series, rate, idle, busy, hook is not None, load)


def _measure(proc: Proc, url: str, template: bytes, s: IngestSettings, tag: str,
             branches: list[str], relay: bool) -> tuple[WrkResult, Measured]:
    pool = max(2000, int(s.duration_s * 4000))
    warm = run_wrk(url, template, tag=tag + "w", connections=s.connections,
                   duration_s=s.warmup_s, branches=branches, pool_size=pool // 4)
    before = thread_cpu_s(proc.pid)
    res = run_wrk(url, template, tag=tag, connections=s.connections, duration_s=s.duration_s,
                  branches=branches, pool_size=pool)
    # webhook's commands run on after its answers: wait them out (their CPU is its cost) so
    # the next target does not share the machine with them. relay's are SIGKILLed after.
    drain = 0.0 if relay else settle(proc.pid)
    after = thread_cpu_s(proc.pid)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop = used.get(proc.pid, 0.0)
    other = sum(v for tid, v in used.items() if tid != proc.pid)
    if not relay:
        loop, other = loop + other - used.get(0, 0.0), used.get(0, 0.0)
    return warm, Measured(res, loop, other, drain)


def _rounds(s: IngestSettings, template: bytes, idle: RelayTarget, busy: RelayTarget,
            ceiling: Proc, hook: Proc | None, work: Path) -> dict[str, list[Measured]]:
    series: dict[str, list[Measured]] = {}
    for rnd in range(1, s.rounds + 1):
        for target in (idle, busy, ceiling, LEAN, hook):
            if target is None:
                continue
            relay = isinstance(target, RelayTarget)
            lean: Proc | None = None
            if isinstance(target, RelayTarget):
                proc, branches, name = target.start(), target.branches, target.name
            elif isinstance(target, Proc):
                proc, branches, name = target, ["main"], target.name
            else:  # the lean reference starts on a fresh file every round, as relay does
                lean = proc = start_lean(work, work / f"lean-{rnd}.db")
                branches, name = ["main"], LEAN
            tag = f"r{rnd}-{time.monotonic_ns()}"
            try:
                warm, m = _measure(proc, proc.url + "/hooks/github", template, s, tag,
                                   branches, relay)
            finally:
                if lean is not None:
                    lean.stop(kill=True)
            series.setdefault(name, []).append(m)
            res = m.wrk
            print(f"  ingest round {rnd} {name}: {res.rps:.0f} req/s, p50 {ms(res.p50_s)}, "
                  f"p99 {ms(res.p99_s)}, CPU {m.us_per_req(m.loop_cpu_s):.0f}+"
                  f"{m.us_per_req(m.other_cpu_s):.0f} µs/req, codes {res.codes}", flush=True)
            if isinstance(target, RelayTarget):
                acked = warm.count(202) + res.count(202)
                target.finish(acked, warm.requests + res.requests + warm.timeouts
                              + res.timeouts - acked)
    return series


def _at_rate(s: IngestSettings, template: bytes, busy: RelayTarget,
             ceiling: Proc) -> dict[str, list[LoadResult]]:
    """Alternate relay (worker deploying) and the ceiling at the fixed rate, `rounds` times."""
    out: dict[str, list[LoadResult]] = {BUSY: [], CEILING: []}
    proc = busy.start()
    acked = other = 0
    try:
        for rnd in range(s.rounds):
            for name, target in ((BUSY, proc), (CEILING, ceiling)):
                tag = f"rate-{rnd}-{time.monotonic_ns()}"

                def make(i: int, tag: str = tag) -> tuple[bytes, dict[str, str]]:
                    body = fill(template, sha(f"{tag}-{i}"),
                                busy.branches[i % len(busy.branches)])
                    return body, github_headers(body, f"{tag}-{i}")

                res = asyncio.run(run_at_rate(target.url + "/hooks/github", make, rate=s.rate,
                                              duration_s=s.rate_duration_s,
                                              connections=s.connections))
                out[name].append(res)
                print(f"  ingest at {s.rate:g}/s {name}: p50 {ms(res.p(50))}, p99 "
                      f"{ms(res.p(99))}, statuses {res.statuses}", flush=True)
                if target is proc:  # the warm-up requests are stored and answered too
                    acked += res.all_statuses.get(202, 0)
                    other += sum(res.all_statuses.values()) - res.all_statuses.get(202, 0)
        busy.store_timings = _store_timings(proc.url)
    finally:
        busy.finish(acked, other)
    return out


def _store_timings(url: str) -> dict[str, float]:
    """relay's SQLite store thread after the fixed-rate rounds (relay_store_wait_seconds,
    relay_store_job_seconds): p50/p99 of the ingest lane's wait and run, p99 of the other
    lane's run (the worker writes ingest waits behind), in seconds; {} if unreadable."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for key, name, lane, q in (("ingest wait p50", "relay_store_wait_seconds", "ingest", .5),
                               ("ingest wait p99", "relay_store_wait_seconds", "ingest", .99),
                               ("ingest job p50", "relay_store_job_seconds", "ingest", .5),
                               ("ingest job p99", "relay_store_job_seconds", "ingest", .99),
                               ("other job p99", "relay_store_job_seconds", "other", .99)):
        out[key] = histogram_quantile(text, name, f'lane="{lane}",', q)
    return out


def _profile(s: IngestSettings, template: bytes, targets: list[RelayTarget], out: Path) -> None:
    """One more wrk run per shape against a fresh relay under py-spy (every thread's CPU
    samples, `ingest-<shape>.txt`); not counted."""
    for target in targets:
        proc = target.start()
        try:
            shape = "idle" if target.branches == ["main"] else "busy"
            spy = py_spy(proc, 6, out / f"ingest-{shape}.txt")
            run_wrk(proc.url + "/hooks/github", template, tag=f"prof-{time.monotonic_ns()}",
                    connections=s.connections, duration_s=8, branches=target.branches)
            if spy is not None:
                spy.wait()
        finally:
            proc.stop(kill=True)


def _ratios(series: dict[str, list[Measured]], a: str, b: str) -> float:
    """The median over rounds of (a's req/s / b's req/s) within each round."""
    if a not in series or b not in series:
        return float("nan")
    return median([ratio(x.wrk.rps, y.wrk.rps) for x, y in zip(series[a], series[b],
                                                               strict=False)])


def _budget(series: dict[str, list[Measured]]) -> list[str]:
    """What the ratio targets leave relay on this machine: at the target's rate, the CPUs'
    time per delivery once the load generator has had its share (both cores used to the
    full, an upper bound), and what one thread (the event loop's) may spend."""
    ceiling = median([m.wrk.rps for m in series.get(CEILING, [])])
    if not ceiling or math.isnan(ceiling):
        return []
    cpus = os.cpu_count() or 1
    notes = []
    for name, share in ((IDLE, 0.40), (BUSY, 0.30)):
        if name not in series:
            continue
        runs = series[name]
        rate = share * ceiling
        generator = median([m.wrk.cpu_us_per_request for m in runs])
        if math.isnan(generator):
            continue
        loop = median([m.us_per_req(m.loop_cpu_s) for m in runs])
        used = loop + median([m.us_per_req(m.other_cpu_s) for m in runs])  # as in the table
        notes.append(
            f"CPU budget, {name}: {share:.2f}x of the ceiling is {rate:.0f} deliveries/s; "
            f"{cpus} CPUs at that rate give {cpus * 1e6 / rate:.0f} µs per delivery, "
            f"{cpus * 1e6 / rate - generator:.0f} once the load generator has its "
            f"{generator:.0f} µs (relay used {used:.0f}; the cluster simulator's share is not "
            f"taken off), and one thread at most "
            f"{1e6 / rate:.0f} µs (relay's event loop used {loop:.0f})")
    return notes


def _report(s: IngestSettings, series: dict[str, list[Measured]],
            rate: dict[str, list[LoadResult]], idle: RelayTarget, busy: RelayTarget,
            with_hook: bool, load: list[float]) -> tuple[list[Table], list[Target]]:
    t = Table(f"1. Ingest: signed {len(push_template())}-byte GitHub pushes, a distinct commit "
              f"per push, wrk -t1 -c{s.connections}, {s.duration_s:g} s x {s.rounds} rounds "
              f"(alternated), medians",
              ["target", "requests/s", "p50", "p99", "CPU µs/request (loop + other threads)",
               "load generator CPU µs/request", "relay idle / this",
               "relay deploying / this"])
    labels = {IDLE: IDLE, BUSY: f"{BUSY} ({s.busy_clusters} clusters)",
              CEILING: "bare aiohttp + HMAC (ceiling)",
              LEAN: "lean durable reference (bench/lean.py)",
              HOOK: "adnanh/webhook 2.8 + /bin/true"}
    for name, runs in series.items():
        loop = median([m.us_per_req(m.loop_cpu_s) for m in runs])
        other = median([m.us_per_req(m.other_cpu_s) for m in runs])
        t.add(labels[name], f"{median([m.wrk.rps for m in runs]):.0f}",
              ms(median([m.wrk.p50_s for m in runs])), ms(median([m.wrk.p99_s for m in runs])),
              f"{loop + other:.0f} ({loop:.0f} + {other:.0f})",
              f"{median([m.wrk.cpu_us_per_request for m in runs]):.0f}",
              f"{_ratios(series, IDLE, name):.2f}x", f"{_ratios(series, BUSY, name):.2f}x")
    slack = s.connections * (s.rounds * 2 + 2)
    for target in (idle, busy):
        d = target.durability
        also = " + the fixed-rate run" if target is busy else ""
        t.notes.append(
            f"durability ({target.name}, every round{also}): "
            f"{d.acked} answered 202, {d.stored} delivery rows and {d.deployments} deployment "
            f"rows in the files after SIGKILL; {d.stored - d.acked} stored but unanswered "
            f"(requests abandoned at the load generator's deadline) -> "
            f"{'every 202 stored' if d.ok(slack) else 'MISMATCH'}; deployment statuses "
            f"{dict(sorted(d.statuses.items()))}")
    t.notes.append("CPU for the other targets: the whole process (+ reaped children for "
                   "webhook, its /bin/true) per request")
    t.notes.append("load generator CPU: wrk's own user + system time (its Lua script picks a "
                   "pre-signed body per request), on the same machine as the server")
    t.notes.extend(_budget(series))
    t.notes.append("lean durable reference: aiohttp + HMAC + orjson, one delivery row (with "
                   "the body) and one deployment row per request, group-committed by a writer "
                   "thread to SQLite (WAL, synchronous=FULL) before the 202; none of relay's "
                   "features (bench/lean.py). Its CPU column is the whole process, writer "
                   f"thread included. Lean / ceiling: {_ratios(series, LEAN, CEILING):.2f}x "
                   "(median of the rounds)")
    if HOOK in series:
        t.notes.append(
            "adnanh/webhook answers before it runs its command: after each round it went on "
            f"running /bin/true for a median {median([m.drain_s for m in series[HOOK]]):.1f} s"
            ". Its CPU column includes that, and the next target started only once it was "
            "done")
    t.notes.append("load average (1 min) at the start, after the rounds, after the fixed-rate "
                   "run: " + ", ".join(f"{x:.2f}" for x in load))
    if not with_hook:
        t.notes.append("adnanh/webhook is not installed: `apt-get install webhook` (make bench "
                       "does it when run as root)")
    r = Table(f"1b. Acknowledgement latency at a fixed {s.rate:g} deliveries/s, worker "
              f"deploying: {s.rate_duration_s:g} s x {s.rounds} rounds (alternated, open loop, "
              f"{s.connections} connections), medians",
              ["target", "sent", "answered 2xx", "p50", "p99", "max", "generator lag"])
    for name, loads in rate.items():
        ok = sum(n for res in loads for st, n in res.statuses.items() if 200 <= st < 300)
        r.add(labels[name], sum(res.sent for res in loads), ok,
              ms(median([x.p(50) for x in loads])), ms(median([x.p(99) for x in loads])),
              ms(median([max(x.latencies_s, default=0.0) for x in loads])),
              ms(median([x.max_lag_s for x in loads])))
    r.notes.append("generator lag: how late the load generator itself issued a request (max "
                   "per round, median): the noise floor of this machine, not the server's")
    if any(not math.isnan(v) for v in busy.store_timings.values()):  # an older relay: none
        r.notes.append("relay's store thread from its start to the end of the fixed-rate rounds "
                       "(warm-ups and the ceiling's turns included; relay_store_wait_seconds, "
                       "relay_store_job_seconds, histogram quantiles): " + ", ".join(
                           f"{k} {ms(v)}" for k, v in busy.store_timings.items()))
    p99 = median([x.p(99) for x in rate[BUSY]])
    ri, rb = _ratios(series, IDLE, CEILING), _ratios(series, BUSY, CEILING)
    hi, hb = _ratios(series, IDLE, HOOK), _ratios(series, BUSY, HOOK)
    durable = all(x.durability.ok(slack) and x.durability.deployments == x.durability.stored
                  for x in (idle, busy))
    targets = [
        Target("ingest", ">= 0.40x bare aiohttp, worker idle", f"{ri:.2f}x", ri >= 0.40),
        Target("ingest", ">= 0.30x bare aiohttp, worker deploying", f"{rb:.2f}x", rb >= 0.30),
        Target("ingest", "> 1.0x adnanh/webhook, worker idle",
               f"{hi:.2f}x" if with_hook else "not installed", hi > 1.0 if with_hook else None),
        Target("ingest", "> 1.0x adnanh/webhook, worker deploying",
               f"{hb:.2f}x" if with_hook else "not installed", hb > 1.0 if with_hook else None),
        Target("ingest", "every 202 durably stored (SIGKILL)",
               f"{idle.durability.acked + busy.durability.acked} 202s, "
               f"{idle.durability.stored + busy.durability.stored} rows", durable),
        Target("ingest", f"p99 ack < 10 ms at {s.rate:g}/s, worker deploying", ms(p99),
               p99 < 0.010),
    ]
    return [t, r], targets
