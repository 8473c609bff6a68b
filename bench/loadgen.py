"""An open-loop load generator: requests at a fixed rate, whatever the answers do.

wrk drives as fast as the server answers (closed loop); this one issues request i at
t0 + i/rate whatever happened to the earlier ones, so a server that stalls is charged for the
requests queued behind the stall (in the connection pool, whose wait counts: a latency runs
from the moment the request was issued to its answer). How late the generator itself issued
requests (its own scheduling on a shared machine) is reported apart, as `max_lag_s`.
Bounded: `rate * (warmup_s + duration_s)` requests, each with a timeout.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from bench.stats import percentile

MakeRequest = Callable[[int], tuple[bytes, dict[str, str]]]
ERROR = 0  # the status recorded for a request that got no answer (refused, reset, timeout)


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    statuses: dict[int, int]  # HTTP status (or ERROR) -> count
    latencies_s: tuple[float, ...]  # answered requests, from the time each was sent
    duration_s: float
    max_lag_s: float  # how late the generator itself sent a request (its own limit)
    all_statuses: dict[int, int]  # warm-up included: what the server answered in all

    def p(self, q: float) -> float:
        return percentile(self.latencies_s, q)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s else 0.0


async def run_at_rate(url: str, make: MakeRequest, *, rate: float, duration_s: float,
                      connections: int = 32, timeout_s: float = 10.0,
                      warmup_s: float = 1.0) -> LoadResult:
    """POST `rate * duration_s` requests to `url` at `rate` per second; wait for every one.

    The first `warmup_s` of requests (connections being opened) are sent but not counted;
    the garbage collector is paused meanwhile so its pauses are not charged to the server.
    """
    skip = int(rate * warmup_s)
    total = skip + max(1, int(rate * duration_s))
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    statuses: Counter[int] = Counter()
    everything: Counter[int] = Counter()
    latencies: list[float] = []
    max_lag = 0.0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     trust_env=False) as session:

        async def one(i: int) -> None:
            body, headers = make(i)
            sent = loop.time()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status = ERROR
            everything[status] += 1
            if i >= skip:
                statuses[status] += 1
                if status != ERROR:
                    latencies.append(loop.time() - sent)

        gc.disable()
        try:
            t0 = loop.time() + 0.02
            tasks: list[asyncio.Task[None]] = []
            for i in range(total):
                due = t0 + i / rate
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if i >= skip:
                    max_lag = max(max_lag, loop.time() - due)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
        finally:
            gc.enable()
    measured = total - skip
    return LoadResult(measured, dict(statuses), tuple(latencies), measured / rate, max_lag,
                      dict(everything))


async def send_all(url: str, requests: list[tuple[bytes, dict[str, str]]], *,
                   connections: int = 50, timeout_s: float = 30.0) -> tuple[dict[int, int], float]:
    """POST every request as fast as `connections` allow; return statuses and seconds taken."""
    statuses: Counter[int] = Counter()
    queue = list(reversed(requests))
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     trust_env=False) as session:

        async def worker() -> None:
            while queue:
                body, headers = queue.pop()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                except (aiohttp.ClientError, TimeoutError):
                    statuses[ERROR] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
    return dict(statuses), time.monotonic() - started
