"""The outbox under load: ingest's acknowledgement latency at a fixed 500 deliveries/s while
the git host answers 503 to every report, against the same with a healthy host; relay's memory.

Each delivery is a push of a new commit (so each one gets its own commit status to report);
relay runs as a process with the embedded-free setup of production: the cluster simulator
and `relay fake-git` (optionally with `--fault github:error:*:503`) as separate processes.

    .venv/bin/python -m bench.outbox [--quick]

Figures go to standard output; bench/RESULTS.md ("Outbox under a failing git host") keeps a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.harness import (
    RouteSpec,
    create_clusters,
    sim_api,
    start_relay,
    start_sim,
    wait_http,
    write_relay_config,
)
from bench.harness import query as sql
from bench.loadgen import LoadResult, run_at_rate
from bench.payload import REPO, github_headers, push_body
from bench.procs import Proc, free_port, python_argv, spawn
from bench.stats import ms

GIT_TOKEN = "bench-git-token"


@dataclass(frozen=True, slots=True)
class Figures:
    name: str
    load: LoadResult
    rss_before_mb: float
    rss_after_mb: float
    peak_rss_mb: float
    outbox_rows: int
    statuses_received: int


def start_fake_git(work: Path, *, failing: bool) -> Proc:
    port = free_port()
    argv = python_argv("-m", "relay", "fake-git", "--port", str(port), "--token", GIT_TOKEN,
                       "--repo", REPO)
    if failing:
        argv += ["--fault", "github:error:*:503"]
    proc = spawn("fake-git", argv, port=port, log=work / f"fake-git-{port}.log")
    wait_http(proc, "/fake-git/github/statuses")
    return proc


def with_api(config: Path, git: Proc) -> None:
    """Give the bench config's github source an `api` pointing at the fake host."""
    text = config.read_text()
    api = f'api: {{url: "{git.url}/fake-git/github", token_env: RELAY_GITHUB_API_TOKEN}}'
    config.write_text(text.replace("github: {secret_env: RELAY_GITHUB_SECRET}",
                                   f"github: {{secret_env: RELAY_GITHUB_SECRET, {api}}}"))


async def _statuses(git: Proc) -> int:
    async with aiohttp.ClientSession() as s, s.get(git.url + "/fake-git/github/statuses") as r:
        return len(await r.json())


def run_one(work: Path, *, failing: bool, rate: float, duration_s: float,
            report: bool = True) -> Figures:
    os.environ["RELAY_GITHUB_API_TOKEN"] = GIT_TOKEN
    sim = start_sim(work, step_s=0.05)
    git = start_fake_git(work, failing=failing)
    relay = None
    try:
        [cluster] = asyncio.run(create_clusters(sim, 1))
        port = free_port()
        db = work / f"relay-{port}.db"
        config = write_relay_config(work, port=port, api_url=sim_api(sim),
                                    routes=[RouteSpec(REPO, cluster)], db=db, level="warning")
        if report:
            with_api(config, git)
        relay = start_relay(work, config, port)
        n = int(rate * (duration_s + 1.0)) + 10
        bodies = [push_body(seq=i + 1, target_bytes=1500) for i in range(n)]
        tag = f"outbox-{time.monotonic_ns()}"

        def make(i: int) -> tuple[bytes, dict[str, str]]:
            body = bodies[i % n]
            return body, github_headers(body, f"{tag}-{i}")

        before = relay.rss_mb()
        load = asyncio.run(run_at_rate(relay.url + "/hooks/github", make, rate=rate,
                                       duration_s=duration_s))
        time.sleep(1.0)  # let the sender work through what it can
        after = relay.rss_mb()
        figures = Figures(
            name=("no reporting (baseline)" if not report else
                  "host answers 503" if failing else "host healthy"), load=load,
            rss_before_mb=before, rss_after_mb=after, peak_rss_mb=relay.peak_rss_mb(),
            outbox_rows=int(sql(db, "SELECT COUNT(*) FROM outbox")[0][0]),
            statuses_received=asyncio.run(_statuses(git)))
        return figures
    finally:
        if relay is not None:
            relay.stop()
        git.stop()
        sim.stop()


def table(rows: list[Figures], rate: float) -> str:
    lines = ["| git host | sent | 202 | p50 | p99 | max | RSS before -> after (peak) | "
             "outbox rows left | statuses the host recorded |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in rows:
        lines.append(
            f"| {f.name} | {f.load.sent} | {f.load.statuses.get(202, 0)} | {ms(f.load.p(50))} | "
            f"{ms(f.load.p(99))} | {ms(f.load.p(100))} | {f.rss_before_mb:.0f} -> "
            f"{f.rss_after_mb:.0f} MiB ({f.peak_rss_mb:.0f}) | {f.outbox_rows} | "
            f"{f.statuses_received} |")
    return f"At {rate:g} deliveries/s (open loop):\n\n" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per run instead of 10 s")
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    duration = 3.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory(prefix="relay-bench-outbox-") as tmp:
        work = Path(tmp)
        rows = [run_one(work, failing=False, rate=args.rate, duration_s=duration, report=False),
                run_one(work, failing=False, rate=args.rate, duration_s=duration),
                run_one(work, failing=True, rate=args.rate, duration_s=duration)]
    print(table(rows, args.rate))


if __name__ == "__main__":
    main()
