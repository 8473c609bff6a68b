"""Benchmark: the status page with 10,000 deployments, and ingest with 50 live pages open.

`python -m bench.ui [--quick] [--no-append]` (or `python -m bench.run --only ui`).

1. relay takes one push (to a simulator cluster) and deploys it; it is stopped and the
   deployment row is copied in SQL to 10,000 finished ones (succeeded, some failed and
   superseded), then relay starts again on that file.
2. Render: a signed-in client times `GET /ui/` (the first page, 50 rows) and a filtered page
   over loopback, after a warm-up; medians and p95. The target: the first page under 100 ms.
3. Ingest: signed pushes at a fixed rate (every one queues a deployment the worker rolls out,
   so the open pages get live events), p50/p99 of the acknowledgement, first with no page
   open, then with 50 live pages (server-sent events) held by a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.harness import (
    RouteSpec,
    admin_headers,
    create_clusters,
    get_json,
    sim_api,
    start_relay,
    start_sim,
    write_relay_config,
)
from bench.loadgen import run_at_rate
from bench.payload import ADMIN_TOKEN, REPO, github_headers, push_body
from bench.procs import free_port
from bench.results import Table, Target, append, git_commit, render_run, targets_table
from bench.stats import percentile

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class UiSettings:
    deployments: int = 10_000
    renders: int = 50
    pages: int = 50
    rate: float = 40.0
    duration_s: float = 10.0
    warmup_s: float = 1.0


async def sign_in(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(base + "/ui/sign-in") as r:
        found = CSRF.search(await r.text())
    assert found is not None, "no CSRF token on the sign-in form"
    async with session.post(base + "/ui/sign-in", allow_redirects=False,
                            data={"csrf": found.group(1), "token": ADMIN_TOKEN}) as r:
        if r.status != 303:
            raise RuntimeError(f"sign-in answered {r.status}")


def seed(db: Path, total: int) -> None:
    """Copy deployment 1 (finished) until there are `total`, with a mix of final statuses."""
    with sqlite3.connect(db) as con:
        cols = [row[1] for row in con.execute("PRAGMA table_info(deployments)")
                if row[1] != "id"]
        names = ", ".join(cols)
        con.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    f"WHERE i < ?) INSERT INTO deployments ({names}) "
                    f"SELECT {names} FROM deployments, n WHERE deployments.id = 1",
                    (total - 1,))
        con.execute("UPDATE deployments SET status = CASE id % 10 WHEN 0 THEN 'failed' "
                    "WHEN 1 THEN 'superseded' ELSE 'succeeded' END, error = CASE id % 10 "
                    "WHEN 0 THEN 'rollout failed: update_fail' ELSE NULL END WHERE id > 1")


async def time_pages(base: str, paths: list[str], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p in paths}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     trust_env=False) as s:
        await sign_in(s, base)
        for path in paths:
            for i in range(n + 5):
                t0 = time.perf_counter()
                async with s.get(base + path) as r:
                    body = await r.read()
                    if r.status != 200 or b'id="dep-' not in body:
                        raise RuntimeError(f"GET {path} answered {r.status}")
                if i >= 5:  # warm-up left out
                    out[path].append(time.perf_counter() - t0)
    return out


async def hold_pages(base: str, n: int, seconds: float) -> None:
    """The reader process: `n` signed-in live pages for `seconds`; prints events received."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, trust_env=False,
                                     timeout=aiohttp.ClientTimeout(total=None)) as s:
        await sign_in(s, base)
        events = 0

        async def page() -> None:
            nonlocal events
            async with s.get(base + "/ui/events") as r:
                if r.status != 200:
                    raise RuntimeError(f"/ui/events answered {r.status}")
                async for line in r.content:
                    if line.startswith(b"event: row"):
                        events += 1

        tasks = [asyncio.create_task(page()) for _ in range(n)]
        print("ready", flush=True)
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        print(f"events {events}", flush=True)


async def ingest(base: str, s: UiSettings, seq0: int) -> tuple[float, float, int]:
    def make(i: int) -> tuple[bytes, dict[str, str]]:
        body = push_body(seq=seq0 + i)
        return body, github_headers(body, f"ui-{seq0 + i}")

    result = await run_at_rate(base + "/hooks/github", make, rate=s.rate,
                               duration_s=s.duration_s, warmup_s=s.warmup_s)
    ok = sum(c for st, c in result.statuses.items() if 200 <= st < 300)
    return result.p(50), result.p(99), ok


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run(work: Path, s: UiSettings) -> tuple[list[Table], list[Target]]:
    sim = start_sim(work, step_s=0.05)
    relay = None
    try:
        cid = asyncio.run(create_clusters(sim, 1, replicas=2, prefix="ui"))[0]
        port = free_port()
        db = work / "ui.db"
        config = write_relay_config(work, port=port, api_url=sim_api(sim),
                                    routes=[RouteSpec(REPO, cid)], db=db, poll_interval_s=0.2)
        relay = start_relay(work, config, port, name="relay-ui")
        base = relay.url

        async def first() -> None:
            body = push_body(seq=0)
            async with aiohttp.ClientSession(trust_env=False) as c:
                async with c.post(base + "/hooks/github", data=body,
                                  headers=github_headers(body, "ui-first")) as r:
                    assert r.status == 202, r.status
                for _ in range(400):
                    dep = await get_json(c, base + "/api/deployments/1", headers=admin_headers())
                    if dep["finished_at"]:
                        return
                    await asyncio.sleep(0.05)
            raise RuntimeError("the first deployment did not finish")

        asyncio.run(first())
        relay.stop()
        seed(db, s.deployments)
        relay = start_relay(work, config, port, name="relay-ui")
        paths = ["/ui/", "/ui/?status=failed", f"/ui/?cluster={cid}&status=succeeded"]
        times = asyncio.run(time_pages(base, paths, s.renders))
        render = Table(f"UI 1. Rendering with {s.deployments} deployments in the store "
                       f"(SQLite), {s.renders} requests each over loopback",
                       ["page", "p50", "p95", "max"])
        for path, values in times.items():
            render.add(f"`{path}`", ms(percentile(values, 50)), ms(percentile(values, 95)),
                       ms(max(values)))
        first_p50 = percentile(times["/ui/"], 50)

        quiet = asyncio.run(ingest(base, s, 1000))
        reader = subprocess.Popen(
            [sys.executable, "-m", "bench.ui", "--hold", base, "--pages", str(s.pages),
             "--seconds", str(s.duration_s + s.warmup_s + 5)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("the live-page reader did not start")
        time.sleep(1.0)  # let the pages connect and the shared poller start
        busy = asyncio.run(ingest(base, s, 100_000))
        out, _ = reader.communicate(timeout=s.duration_s + 60)
        events = out.strip().rsplit(" ", 1)[-1]
        table = Table(f"UI 2. Ingest at {s.rate:.0f} pushes/s for {s.duration_s:.0f} s "
                      f"(each queues a deployment the worker rolls out)",
                      ["live pages open", "2xx", "p50", "p99"])
        table.add("0", quiet[2], ms(quiet[0]), ms(quiet[1]))
        table.add(str(s.pages), busy[2], ms(busy[0]), ms(busy[1]))
        table.notes.append(f"the {s.pages} pages received {events} row events in all "
                           "(one shared store poll per tick, whatever the number of pages)")
        targets = [
            Target("ui", "first page < 100 ms with 10,000 deployments", ms(first_p50),
                   first_p50 < 0.1 if s.deployments >= 10_000 else None),
            Target("ui", "50 live pages do not slow ingest (p99 within 1.5x)",
                   f"{ms(busy[1])} vs {ms(quiet[1])}", busy[1] <= max(1.5 * quiet[1],
                                                                     quiet[1] + 0.005)),
        ]
        return [render, table], targets
    finally:
        if relay is not None:
            relay.stop()
        sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--hold", help=argparse.SUPPRESS)  # the live-page reader process
    parser.add_argument("--pages", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hold:
        asyncio.run(hold_pages(args.hold, args.pages, args.seconds))
        return 0
    s = UiSettings(renders=20, duration_s=3) if args.quick else UiSettings()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relay-bench-ui-") as work:
        tables, targets = run(Path(work), s)
    label = "status page" + (" (--quick: harness check, figures not comparable)"
                             if args.quick else "")
    text = render_run([targets_table(targets), *tables], commit=git_commit(ROOT), label=label)
    text += f"Total run time: {time.monotonic() - started:.0f} s.\n\n"
    print(text)
    if not args.no_append:
        append(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
