"""Benchmark 5, idle footprint: `relay serve` start-up time (process start to /readyz 200) and
resident memory once idle, beside the bare aiohttp ceiling process as the reference floor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import RouteSpec, start_ceiling, write_relay_config
from bench.procs import Proc, free_port, python_argv, spawn, wait_http
from bench.results import Table, Target
from bench.stats import median

ROUTES = [RouteSpec("acme/shop", 10702), RouteSpec("acme/api", 10703)]


@dataclass
class IdleSettings:
    starts: int = 3
    settle_s: float = 2.0


def run(work: Path, s: IdleSettings) -> tuple[list[Table], list[Target]]:
    variants = {
        "relay serve, embedded simulator (the shipped default)": "embedded",
        "relay serve, external cluster API": "http://127.0.0.1:9/unused",
    }
    t = Table(f"5. Idle footprint: median of {s.starts} starts, RSS after {s.settle_s:g} s idle",
              ["process", "ready after", "idle RSS", "target"])
    figures: dict[str, tuple[float, float]] = {}
    for label, api in variants.items():
        ready: list[float] = []
        rss: list[float] = []
        for n in range(s.starts):
            port = free_port()
            config = write_relay_config(work, port=port, api_url=api, routes=ROUTES,
                                        db=work / f"idle-{port}.db")
            proc = spawn(f"relay-idle-{n}", python_argv("-m", "relay", "serve", "--config",
                                                        str(config)),
                         port=port, log=work / f"idle-{port}.log")
            ready.append(_measure(proc, "/readyz", s.settle_s, rss))
        figures[label] = (median(ready), median(rss))
        t.add(label, f"{median(ready):.2f} s", f"{median(rss):.0f} MB", "< 2 s, < 80 MB")
    ready, rss = [], []  # the reference
    for _ in range(s.starts):
        proc = start_ceiling(work)
        ready.append(time.monotonic() - proc.started)
        time.sleep(s.settle_s)
        rss.append(proc.rss_mb())
        proc.stop()
    t.add("reference: bare aiohttp ceiling (python -m bench.ceiling)", f"{median(ready):.2f} s",
          f"{median(rss):.0f} MB", "")
    worst_ready = max(r for r, _ in figures.values())
    worst_rss = max(m for _, m in figures.values())
    targets = [
        Target("idle", "RSS < 80 MB", f"{worst_rss:.0f} MB (worst variant)", worst_rss < 80),
        Target("idle", "ready < 2 s", f"{worst_ready:.2f} s (worst variant)", worst_ready < 2),
    ]
    return [t], targets


def _measure(proc: Proc, path: str, settle_s: float, rss: list[float]) -> float:
    try:
        ready = wait_http(proc, path)
        time.sleep(settle_s)
        rss.append(proc.rss_mb())
        return ready
    finally:
        proc.stop()
