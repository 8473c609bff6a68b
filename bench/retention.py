"""Retention under load: prune a big SQLite store while deliveries keep arriving.

A generator (`generate`) writes a store of N deliveries (100,000; `--quick` 10,000) spread
evenly over 60 days, about 1 KB of body each, one in 20 with a finished deployment. Then:

1. idle: `relay serve` on that store, with retention far away (nothing to prune), takes
   deliveries at a fixed rate (open loop, bench/loadgen.py): the acknowledgement p50 / p99;
2. pruning: the same load again while `relay prune` (another process, retention 30 days:
   about half of the store) deletes in its small batches: p50 / p99 over the load that ran
   while the prune did, the prune's duration, and the store file's size before and after (the
   store is created with incremental auto-vacuum, so the freed pages go back to the disk).

The verdict: p99 while pruning within 2x of idle, and the file smaller. Prints a Markdown
section; `--append` adds it to bench/RESULTS.md.

    .venv/bin/python -m bench.retention [--quick] [--append]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.loadgen import LoadResult, run_at_rate
from bench.payload import github_headers, push_body
from bench.procs import ENV, ROOT, free_port, python_argv, spawn, wait_http

DAY = timedelta(days=1)
BODY = b"x" * 1000


async def generate(db: Path, deliveries: int, *, days: int = 60,
                   now: datetime | None = None) -> None:
    """A store of `deliveries` over `days`, oldest first; one in 20 with a deployment."""
    from relay.store.sqlite import SQLiteStore

    store = await SQLiteStore.open(db)  # the schema as relay makes it (incremental vacuum)
    await store.close()
    now = now or datetime.now(UTC)
    start = now - days * DAY
    step = (days * DAY) / deliveries
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    rows, deps = [], []
    for i in range(deliveries):
        at = (start + i * step).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        sha = f"{i:040x}"
        rows.append((f"github-gen-{i}", "github", f"gen-{i}", "push", "push", at,
                     "application/json", "{}", BODY, "bench/app", "refs/heads/main",
                     f"{i - 1:040x}", sha, sha, at, None if i % 20 == 0 else "no route"))
        if i % 20 == 0:
            deps.append((1 + i % 7, "version", sha, "github", "bench/app", "refs/heads/main",
                         f"github-gen-{i}", "succeeded", at, at, at))
    conn.executemany(
        "INSERT INTO deliveries (delivery_id, source, delivery_key, event, event_name, "
        "received_at, content_type, headers, body, repo, ref, before_sha, after_sha, "
        "commit_sha, head_commit_at, ignored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO deployments (cluster, action, version, source, repo, ref, delivery_id, "
        "status, created_at, triggered_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?)", deps)
    conn.commit()
    conn.close()


def config(work: Path, db: Path, port: int, *, days: int) -> Path:
    path = work / f"relay-{days}.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}}}
store: {{url: "sqlite:///{db}"}}
cluster_api: {{base_url: embedded}}
sources:
  github: {{secret_env: RELAY_GITHUB_SECRET}}
logging: {{level: warning, format: json}}
retention: {{deliveries_days: {days}, deployments_days: {days}}}
routes:
  - {{repo: nothing/here, branch: main, cluster: 1, action: version}}
""")
    return path


def file_mb(db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.stat().st_size / 1e6


async def load(url: str, rate: float, seconds: float, offset: int) -> LoadResult:
    body = push_body()

    def make(i: int) -> tuple[bytes, dict[str, str]]:
        return body, github_headers(body, f"bench-{offset + i}")

    return await run_at_rate(url, make, rate=rate, duration_s=seconds, warmup_s=0.5)


async def measure(work: Path, deliveries: int, rate: float, seconds: float) -> dict[str, float]:
    db = work / "relay.db"
    began = time.monotonic()
    await generate(db, deliveries)
    figures = {"generate_s": time.monotonic() - began, "generated_mb": file_mb(db)}
    port = free_port()
    relay = spawn("relay", python_argv("-m", "relay", "serve", "--config",
                                       str(config(work, db, port, days=36500))),
                  port=port, log=work / "relay.log")
    try:
        wait_http(relay, "/readyz", within=60)
        url = f"{relay.url}/hooks/github"
        idle = await load(url, rate, seconds, 0)
        figures["before_mb"] = file_mb(db)
        prune_began = datetime.now(UTC)
        prune = await asyncio.create_subprocess_exec(
            *python_argv("-m", "relay", "prune", "--config",
                         str(config(work, db, port, days=30))),
            cwd=ROOT, env={**os.environ, **ENV},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        started = time.monotonic()
        during: list[LoadResult] = []
        waiting = asyncio.ensure_future(prune.communicate())
        while not waiting.done() or not during:
            during.append(await load(url, rate, min(seconds, 2.0), 10_000_000 * len(during)))
        out, _ = await waiting
        pruned_s = time.monotonic() - started
    finally:
        relay.stop()
    loads = during
    latencies = tuple(x for r in loads for x in r.latencies_s)
    from bench.stats import percentile

    conn = sqlite3.connect(db)
    during = conn.execute("SELECT COALESCE(SUM(length(body) + length(headers)), 0) FROM "
                          "deliveries WHERE received_at >= ?",
                          (prune_began.strftime("%Y-%m-%dT%H:%M:%S.000Z"),)).fetchone()[0]
    free_pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    figures.update(
        ingested_mb=during / 1e6, free_pages=float(free_pages),
        idle_p50_ms=idle.p(50) * 1000, idle_p99_ms=idle.p(99) * 1000,
        prune_p50_ms=percentile(latencies, 50) * 1000,
        prune_p99_ms=percentile(latencies, 99) * 1000, prune_s=pruned_s,
        after_mb=file_mb(db), requests=float(len(latencies)),
        errors=float(sum(n for r in loads for s, n in r.statuses.items() if s >= 500 or s == 0)))
    print(f"relay prune: {out.decode().strip()}", file=sys.stderr)
    return figures


def section(f: dict[str, float], *, deliveries: int, rate: float, quick: bool) -> str:
    ok_latency = f["prune_p99_ms"] <= 2 * f["idle_p99_ms"]
    freed = f["before_mb"] + f["ingested_mb"] - f["after_mb"]
    ok_space = freed > 0 and f["free_pages"] == 0
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    during = (f"while pruning ({f['prune_s']:.1f} s, {int(f['requests'])} requests, "
              f"{int(f['errors'])} errors)")
    ratio = f["prune_p99_ms"] / max(f["idle_p99_ms"], 1e-9)
    verdict = (f"p99 while pruning {'within' if ok_latency else 'NOT within'} 2x of idle "
               f"({ratio:.2f}x); space {'freed' if ok_space else 'NOT freed'}")
    return f"""
## {now}: retention (bench/retention.py{' --quick' if quick else ''})

A store of {deliveries:,} deliveries over 60 days (1 KB bodies, one in 20 with a succeeded
deployment), generated in {f['generate_s']:.1f} s; `relay serve` takes {rate:g} deliveries/s
(open loop) while `relay prune` (another process) deletes everything older than 30 days in
its 200-row transactions. Python {platform.python_version()}, 2 shared cores.

| | ack p50 | ack p99 |
|---|---|---|
| idle store | {f['idle_p50_ms']:.1f} ms | {f['idle_p99_ms']:.1f} ms |
| {during} | {f['prune_p50_ms']:.1f} ms | {f['prune_p99_ms']:.1f} ms |

Store file: {f['generated_mb']:.1f} MB generated, {f['before_mb']:.1f} MB when the prune
started, {f['after_mb']:.1f} MB after it, while {f['ingested_mb']:.1f} MB of deliveries
arrived meanwhile: {freed:.1f} MB given back to the disk ({int(f['free_pages'])} free pages
left in the file).
Verdict: {verdict}.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.retention", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 deliveries, short loads")
    parser.add_argument("--deliveries", type=int, help="store size (default 100,000)")
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries per second")
    parser.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    deliveries = args.deliveries or (10_000 if args.quick else 100_000)
    seconds = 3.0 if args.quick else 10.0
    with TemporaryDirectory(prefix="relay-bench-retention-") as tmp:
        figures = asyncio.run(measure(Path(tmp), deliveries, args.rate, seconds))
    text = section(figures, deliveries=deliveries, rate=args.rate, quick=args.quick)
    print(text)
    if args.append:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write(text)
    ok = figures["prune_p99_ms"] <= 2 * figures["idle_p99_ms"] and (
        figures["before_mb"] + figures["ingested_mb"] > figures["after_mb"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
