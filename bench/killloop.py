"""kill -9 loop: SIGKILL `relay serve` at random moments; nothing acknowledged is lost or doubled.

`python -m bench.killloop [--rounds N] [--store sqlite|postgres|both] [--seed S] [--quick]
[--postgres URL]` runs N rounds per store and prints the figures; it exits 1 when a round
lost an acknowledged delivery, triggered a version twice, or left a cluster on another commit
than the newest one pushed.

Each round starts from an empty store (a new SQLite file, or a new PostgreSQL database that
the run creates and drops) and a fresh cluster API simulator, served in this process so that
its record of every PUT can be read directly. The simulator holds every trigger (PUT) for
HOLD_S before applying it (its `latency` fault) and rolls one container per STEP_S. Then:

1. `relay serve` starts (a real process) with three `action: version` routes, one per cluster;
2. SENDERS concurrent senders push a chain of distinct commits per route (signed GitHub
   pushes, each built on the previous one, one second younger); a sender that gets no 2xx
   (connection refused or reset, a 503) sends the same delivery again until it gets one, as a
   git host's redelivery would;
3. relay is SIGKILLed at a moment drawn from the round's seeded RNG, at one of three kill
   points in turn: during ingest (just after the k-th delivery went out), while a PUT is held
   at the simulator (during the k-th one's hold), or while following a rollout (during the
   k-th watch); it is restarted at once. A held PUT is lost with relay in one held-PUT round and
   applied by the simulator after relay's death in the next (its body read before the hold),
   the case where a resumed trigger must see that the first attempt took effect;
4. once every sender is done and no deployment is open, the round is checked: every delivery
   answered 2xx is in the store with its deployment row; no (cluster, version) was PUT twice
   (a `hook` action may be triggered twice by the contract, so only `version` routes are
   used); every cluster runs the newest commit pushed to its route, settled.

A kill point is "hit" when, at the moment of the kill, a request was in flight (ingest), a PUT
was held and not yet applied (held PUT), or a watch was held open (follow).
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import os
import random
import secrets
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from bench.payload import API_TOKEN, github_headers, push_body, sha
from bench.procs import Proc, free_port, python_argv, spawn, wait_http
from relay.simulator import SIM_STATE, Faults, SimState, create_simulator_app
from relay.simulator.faults import FaultPlan
from relay.simulator.model import CREATE_SUCC

# Demo clusters of the simulator (2, 3 and 1 replicas), one route each.
ROUTES: tuple[tuple[str, int], ...] = (("acme/shop", 10702), ("acme/api", 10703),
                                       ("acme/docs", 10800))
SENDERS = 4
HOLD_S = 0.25  # every PUT is held this long at the simulator before it is applied
STEP_S = 0.15  # one container replaced per step
# relay's timings: a request timeout far above the hold, so that relay never retries a held
# PUT on its own (that would be a second PUT of the version without any kill); the lease as
# short as the config rule allows (lease_s >= retry_total_s + 2 x request_timeout_s).
REQUEST_TIMEOUT_S = 2.0
RETRY_TOTAL_S = 0.5
LEASE_S = 4.5
SETTLE_WITHIN_S = 120.0
SEND_WITHIN_S = 90.0  # one delivery: sent again until acknowledged, for at most this long
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


class KillPoint(enum.StrEnum):
    """Where in relay's work a round kills it (the module docstring, point 3)."""

    INGEST = "ingest"
    HELD_PUT = "held PUT"
    FOLLOW = "follow"


KILL_POINTS = (KillPoint.INGEST, KillPoint.HELD_PUT, KillPoint.FOLLOW)


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """One round, drawn from its seed: where and when relay is killed, and the stream."""

    number: int
    seed: int
    point: KillPoint
    occurrence: int  # kill at the k-th delivery sent / PUT / watch (1-based)
    offset_s: float  # ... this long after it began
    pushes_per_route: int
    put_lands: bool = False  # held PUT: the simulator has read its body, and applies it anyway


def plan_round(number: int, seed: int, *, pushes_per_route: int) -> RoundPlan:
    """The plan of round `number` (0-based): kill points in turn, the moment from the RNG."""
    rng = random.Random(f"{seed}-{number}")
    point = KILL_POINTS[number % len(KILL_POINTS)]
    if point is KillPoint.INGEST:
        occurrence = rng.randint(1, pushes_per_route * len(ROUTES) - SENDERS)
        offset = rng.uniform(0.0, 0.002)
    elif point is KillPoint.HELD_PUT:
        occurrence = rng.randint(1, len(ROUTES))  # every route gets at least one PUT
        offset = rng.uniform(0.0, HOLD_S * 0.6)
    else:
        occurrence = rng.randint(1, len(ROUTES))
        offset = rng.uniform(0.0, STEP_S * 0.6)
    # held-PUT rounds alternate: the PUT is lost with relay, then applied after its death
    lands = point is KillPoint.HELD_PUT and (number // len(KILL_POINTS)) % 2 == 0
    return RoundPlan(number, rng.getrandbits(32), point, occurrence, round(offset, 4),
                     pushes_per_route, lands)


@dataclass(frozen=True, slots=True)
class Push:
    """One delivery to send: its id (X-GitHub-Delivery), route, commit and signed body."""

    delivery: str
    repo: str
    cluster: int
    seq: int
    commit: str
    body: bytes


def pushes(plan: RoundPlan) -> list[Push]:
    """The round's stream: per route a chain of distinct commits (commit `seq` built on commit
    `seq - 1`, one second younger: bench.payload), routes interleaved."""
    return [Push(f"kl-{plan.number}-{cluster}-{seq}", repo, cluster, seq, sha(f"{repo}-{seq}"),
                 push_body(repo=repo, seq=seq, target_bytes=1024))
            for seq in range(plan.pushes_per_route) for repo, cluster in ROUTES]


@dataclass(frozen=True, slots=True)
class Observed:
    """What one round saw, read after it settled (the input of `judge`)."""

    acknowledged: Mapping[str, int]  # stored delivery id -> the 2xx status it was answered
    stored: frozenset[str]  # delivery ids in the store
    with_deployment: frozenset[str]  # delivery ids with a deployment row
    puts: Sequence[tuple[int, str]]  # (cluster, version) of every PUT the simulator applied
    clusters: Mapping[int, tuple[str | None, str]]  # cluster -> (version, status)
    newest: Mapping[int, str]  # cluster -> newest commit pushed (and acknowledged) to it
    unacknowledged: int  # deliveries never answered 2xx within SEND_WITHIN_S


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checks of one round (pure result of `judge`); `ok` when every list is empty."""

    lost: tuple[str, ...]
    duplicates: tuple[tuple[int, str, int], ...]  # (cluster, version, PUTs)
    wrong_version: tuple[tuple[int, str | None, str], ...]  # (cluster, runs, newest)
    unacknowledged: int

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.wrong_version or self.unacknowledged)


def judge(seen: Observed) -> Verdict:
    """Check a settled round (pure).

    lost: acknowledged deliveries not in the store, or stored without their deployment (each
    push matches one route). duplicates: a (cluster, version) PUT more than once. wrong
    version: a cluster not running, settled, the newest commit pushed to its route.
    """
    lost = sorted(d for d in seen.acknowledged
                  if d not in seen.stored or d not in seen.with_deployment)
    counts = Counter(seen.puts)
    duplicates = sorted((c, v, n) for (c, v), n in counts.items() if n > 1)
    wrong = sorted((c, ver, seen.newest[c]) for c, (ver, status) in seen.clusters.items()
                   if c in seen.newest and (ver != seen.newest[c] or status != CREATE_SUCC))
    return Verdict(tuple(lost), tuple(duplicates), tuple(wrong), seen.unacknowledged)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One round's plan, verdict and figures; `log` is relay's log file (both runs)."""

    plan: RoundPlan
    store: str
    verdict: Verdict
    acknowledged: int
    resent: int  # deliveries sent more than once (no 2xx at first)
    duplicate_answers: int  # 200 "duplicate": stored before the kill, answered after it
    hit: bool
    applied_while_down: int  # PUTs the simulator applied between the kill and the restart
    statuses: Mapping[str, int]
    seconds: float
    log: Path


# -- the simulator, watched -------------------------------------------------------------------


class TappedFaults(Faults):
    """The simulator's faults, telling `on_request` of every request as it arrives (before
    the hold): the fault middleware asks `plan` first."""

    def __init__(self, specs: Iterable[str], on_request: Callable[[str], None]) -> None:
        super().__init__(specs, seed=0)
        self._on_request = on_request

    def plan(self, operation: str) -> FaultPlan:
        self._on_request(operation)
        return super().plan(operation)


class Trap:
    """Fires `event` at the `occurrence`-th matching moment of the round's kill point."""

    def __init__(self, plan: RoundPlan) -> None:
        self.plan = plan
        self.event = asyncio.Event()
        self.seen: Counter[str] = Counter()

    def on_request(self, operation: str) -> None:
        self.seen[operation] += 1
        wanted = {KillPoint.HELD_PUT: "apps.update", KillPoint.FOLLOW: "watch"}.get(
            self.plan.point)
        if operation == wanted and self.seen[operation] == self.plan.occurrence:
            self.event.set()

    def on_send(self, count: int) -> None:
        if self.plan.point is KillPoint.INGEST and count == self.plan.occurrence:
            self.event.set()


# -- relay, senders, the store ----------------------------------------------------------------


def write_config(work: Path, *, port: int, api_url: str, store_url: str) -> Path:
    """relay's configuration for a round (ROUTES, the timings above), as work/relay.yaml."""
    routes = "\n".join(f"  - {{repo: {repo}, branch: main, cluster: {cluster}, action: version}}"
                       for repo, cluster in ROUTES)
    path = work / "relay.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}, shutdown_timeout_s: 2}}
store: {{url: "{store_url}"}}
cluster_api: {{base_url: "{api_url}", request_timeout_s: {REQUEST_TIMEOUT_S},
  retry_total_s: {RETRY_TOTAL_S}, watch_timeout_s: 2}}
sources:
  github: {{secret_env: RELAY_GITHUB_SECRET}}
admin: {{token_env: RELAY_ADMIN_TOKEN}}
rollout: {{timeout_s: 60, lease_s: {LEASE_S}, poll_interval_s: 0.05}}
logging: {{format: json}}
routes:
{routes}
""")
    return path


class Senders:
    """SENDERS concurrent senders over one stream; each delivery sent until it gets a 2xx."""

    def __init__(self, url: str, stream: Sequence[Push], rng: random.Random,
                 on_send: Callable[[int], None]) -> None:
        self._url = url + "/hooks/github"
        self._todo = list(reversed(stream))
        self._rng = rng
        self._on_send = on_send
        self.sent = 0
        self.in_flight = 0
        self.acknowledged: dict[str, int] = {}
        self.newest: dict[int, tuple[int, str]] = {}
        self.resent = 0
        self.unacknowledged = 0

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
            await asyncio.gather(*(self._sender(session) for _ in range(SENDERS)))

    async def _sender(self, session: aiohttp.ClientSession) -> None:
        while self._todo:
            push = self._todo.pop()
            self.sent += 1
            self._on_send(self.sent)
            status = await self._deliver(session, push)
            if status is None:
                self.unacknowledged += 1
                continue
            self.acknowledged["github-" + push.delivery] = status
            seq, _ = self.newest.get(push.cluster, (-1, ""))
            if push.seq > seq:
                self.newest[push.cluster] = (push.seq, push.commit)
            await asyncio.sleep(self._rng.uniform(0, 0.05))  # the stream's pace, not a wait

    async def _deliver(self, session: aiohttp.ClientSession, push: Push) -> int | None:
        deadline = time.monotonic() + SEND_WITHIN_S
        headers = github_headers(push.body, delivery=push.delivery)
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            if attempt == 2:
                self.resent += 1
            self.in_flight += 1
            try:
                async with session.post(self._url, data=push.body, headers=headers) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        return r.status
                    if r.status != 503:
                        raise RuntimeError(f"delivery {push.delivery}: answered {r.status}")
            except (aiohttp.ClientError, TimeoutError):
                pass  # relay is down or was killed mid-request: send it again
            finally:
                self.in_flight -= 1
            await asyncio.sleep(0.05)  # redelivery back-off while relay restarts
        return None


class StoreReader:
    """Reads what relay committed, from outside relay (SQLite read-only, or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            return await asyncio.to_thread(self._sqlite, sql)
        import asyncpg  # type: ignore[import-untyped, unused-ignore]

        conn = await asyncpg.connect(self.url, timeout=5)
        try:
            return [tuple(r) for r in await conn.fetch(sql, timeout=10)]
        finally:
            await conn.close()

    def _sqlite(self, sql: str) -> list[tuple[Any, ...]]:
        path = self.url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    async def open_deployments(self) -> int:
        rows = await self.rows("SELECT COUNT(*) FROM deployments WHERE status IN "
                               "('queued', 'triggering', 'rolling_out')")
        return int(rows[0][0])


# -- one round --------------------------------------------------------------------------------


async def run_round(plan: RoundPlan, *, store: str, store_url: str, work: Path) -> RoundResult:
    """Run one round against `store_url` (empty); `work` holds the config and relay's log."""
    started = time.monotonic()
    trap = Trap(plan)
    faults = TappedFaults([f"latency:apps.update:{HOLD_S}"], trap.on_request)
    sim_app = create_simulator_app(token=API_TOKEN, step_s=STEP_S, faults=faults,
                                   watch_timeout_s=2)
    state = sim_app[SIM_STATE]
    down: list[bool] = []  # non-empty from the kill until relay is ready again
    applied_while_down = [0]
    record_put = state.record_put

    def record(cluster_id: int, body: Any) -> None:
        applied_while_down[0] += bool(down)
        record_put(cluster_id, body)

    state.record_put = record  # type: ignore[method-assign]
    app = web.Application(middlewares=[_read_puts_first] if plan.put_lands else [])
    app.add_subapp("/sim", sim_app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    relay: Proc | None = None
    try:
        sim_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", sim_port).start()
        port = free_port()
        config = write_config(work, port=port, api_url=f"http://127.0.0.1:{sim_port}/sim",
                              store_url=store_url)
        log = work / "relay.log"
        relay = await _start_relay(config, port, log)
        senders = Senders(relay.url, pushes(plan), random.Random(plan.seed), trap.on_send)
        sending = asyncio.ensure_future(senders.run())
        try:
            try:
                await asyncio.wait_for(trap.event.wait(), timeout=60)
            except TimeoutError:
                pass  # not reached: kill now all the same (a miss, counted as such)
            if trap.event.is_set():
                await asyncio.sleep(plan.offset_s)  # the drawn moment after the kill point
            hit = _hit(plan.point, trap, senders, state)
            down.append(True)
            relay.stop(kill=True)
            relay = await _start_relay(config, port, log)
            down.clear()
            await sending
        finally:
            if not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
        reader = StoreReader(store_url)
        await _settle(reader, state)
        seen = Observed(
            acknowledged=dict(senders.acknowledged),
            stored=frozenset(r[0] for r in await reader.rows(
                "SELECT delivery_id FROM deliveries")),
            with_deployment=frozenset(r[0] for r in await reader.rows(
                "SELECT delivery_id FROM deployments WHERE delivery_id IS NOT NULL")),
            puts=[(cid, body["version_control"]["version"])
                  for cid, bodies in state.put_bodies.items() for body in bodies],
            clusters={c: (state.clusters[c].version, state.clusters[c].status)
                      for _, c in ROUTES},
            newest={c: commit for c, (_, commit) in senders.newest.items()},
            unacknowledged=senders.unacknowledged,
        )
        statuses = Counter({str(s): int(n) for s, n in await reader.rows(
            "SELECT status, COUNT(*) FROM deployments GROUP BY status")})
        return RoundResult(
            plan=plan, store=store, verdict=judge(seen), acknowledged=len(seen.acknowledged),
            resent=senders.resent,
            duplicate_answers=sum(1 for s in senders.acknowledged.values() if s == 200),
            hit=hit, applied_while_down=applied_while_down[0], statuses=statuses,
            seconds=time.monotonic() - started, log=log)
    finally:
        if relay is not None:
            await asyncio.to_thread(relay.stop)
        await runner.cleanup()


@web.middleware
async def _read_puts_first(request: web.Request, handler: Any) -> web.StreamResponse:
    """Read a PUT's body before the simulator holds it: a trigger relay sent just before it
    died is then applied after its death (a platform that got the whole request)."""
    if request.method == "PUT":
        await request.read()
    response: web.StreamResponse = await handler(request)
    return response


def _hit(point: KillPoint, trap: Trap, senders: Senders, state: SimState) -> bool:
    """Whether the kill point holds at this moment (read just before the kill)."""
    if not trap.event.is_set():
        return False
    if point is KillPoint.INGEST:
        return senders.in_flight > 0
    if point is KillPoint.HELD_PUT:
        applied = sum(len(b) for b in state.put_bodies.values())
        return applied < trap.seen["apps.update"]
    return sum(state.watching.values()) > 0


async def _start_relay(config: Path, port: int, log: Path) -> Proc:
    proc = spawn("relay", python_argv("-m", "relay", "serve", "--config", str(config)),
                 port=port, log=log)
    try:
        await asyncio.to_thread(wait_http, proc, "/readyz", within=60)
    except BaseException:
        proc.stop(kill=True)
        raise
    return proc


async def _settle(reader: StoreReader, state: SimState) -> None:
    """Wait (bounded) until no deployment is open and no cluster is updating."""
    deadline = time.monotonic() + SETTLE_WITHIN_S
    while time.monotonic() < deadline:
        busy = any(state.clusters[c].status != CREATE_SUCC for _, c in ROUTES)
        if not busy and await reader.open_deployments() == 0:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the round did not settle within {SETTLE_WITHIN_S:g} s")


# -- the loop and its figures -----------------------------------------------------------------


NewStore = Callable[[int, Path], Awaitable[str]]


async def run_loop(store: str, new_store: NewStore, *, rounds: int, seed: int,
                   pushes_per_route: int, work: Path,
                   report: Callable[[RoundResult], None] | None = None) -> list[RoundResult]:
    """Run `rounds` rounds on one store kind; `new_store(round, dir)` gives an empty store URL."""
    results = []
    for number in range(rounds):
        plan = plan_round(number, seed, pushes_per_route=pushes_per_route)
        round_dir = work / f"{store}-{number}"
        round_dir.mkdir(parents=True)
        result = await run_round(plan, store=store, store_url=await new_store(number, round_dir),
                                 work=round_dir)
        results.append(result)
        if report is not None:
            report(result)
    return results


@dataclass(slots=True)
class Figures:
    """The totals of a run, per store."""

    rounds: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicates: int = 0
    wrong_version: int = 0
    unacknowledged: int = 0
    resent: int = 0
    duplicate_answers: int = 0
    planned: Counter[str] = field(default_factory=Counter)
    hit: Counter[str] = field(default_factory=Counter)
    landed: int = 0  # PUTs applied by the simulator between a kill and the restart
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, results: Iterable[RoundResult]) -> Figures:
        f = cls()
        for r in results:
            f.rounds += 1
            f.acknowledged += r.acknowledged
            f.lost += len(r.verdict.lost)
            f.duplicates += len(r.verdict.duplicates)
            f.wrong_version += len(r.verdict.wrong_version)
            f.unacknowledged += r.verdict.unacknowledged
            f.resent += r.resent
            f.duplicate_answers += r.duplicate_answers
            f.planned[r.plan.point] += 1
            f.hit[r.plan.point] += int(r.hit)
            f.landed += r.applied_while_down
            f.statuses.update(r.statuses)
            f.seconds.append(r.seconds)
        return f

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.wrong_version or self.unacknowledged)

    def lines(self) -> list[str]:
        points = ", ".join(f"{p} {self.hit[p]}/{self.planned[p]}" for p in KILL_POINTS
                           if self.planned[p])
        points += f"; PUTs applied while relay was down: {self.landed}"
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()))
        median = statistics.median(self.seconds) if self.seconds else 0.0
        return [
            f"rounds (one SIGKILL each): {self.rounds}",
            f"deliveries acknowledged (2xx): {self.acknowledged} (sent again after no answer: "
            f"{self.resent}; answered 200 duplicate: {self.duplicate_answers})",
            f"acknowledged deliveries lost: {self.lost}",
            f"duplicate triggers (a version PUT twice on a cluster): {self.duplicates}",
            f"clusters not on the newest commit: {self.wrong_version}",
            f"deliveries never acknowledged: {self.unacknowledged}",
            f"kill points hit: {points}",
            f"deployments: {statuses}",
            f"round time: median {median:.1f} s",
        ]


def _describe(result: RoundResult) -> str:
    p, v = result.plan, result.verdict
    state = "ok" if v.ok else (f"FAILED lost={list(v.lost)} duplicates={list(v.duplicates)} "
                               f"wrong={list(v.wrong_version)} unacked={v.unacknowledged}")
    lands = " (applied after the kill)" if p.put_lands else " (lost with relay)" if (
        p.point is KillPoint.HELD_PUT) else ""
    return (f"{result.store} round {p.number}: kill at {p.point}{lands} #{p.occurrence} "
            f"+{p.offset_s * 1000:.0f} ms ({'hit' if result.hit else 'missed'}), "
            f"{result.acknowledged} acknowledged, {result.applied_while_down} PUT applied while "
            f"down, {result.seconds:.1f} s: {state}")


async def _postgres_rounds(server: str, *, rounds: int, seed: int, pushes_per_route: int,
                           work: Path) -> list[RoundResult]:
    """The PostgreSQL rounds, each on a scratch database of `server`, dropped afterwards."""
    import asyncpg

    created: list[str] = []

    async def new_store(number: int, _dir: Path) -> str:
        name = f"relay_killloop_{number}_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(server, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))

    try:
        return await run_loop("postgresql", new_store, rounds=rounds, seed=seed,
                              pushes_per_route=pushes_per_route, work=work,
                              report=lambda r: print(_describe(r), flush=True))
    finally:
        admin = await asyncpg.connect(server, timeout=5)
        try:
            for name in created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _sqlite_store(_number: int, directory: Path) -> str:
    return f"sqlite:///{directory / 'relay.db'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.killloop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="rounds per store (default 20)")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=16, help="random seed (default 16)")
    parser.add_argument("--quick", action="store_true",
                        help="3 rounds per store, 4 pushes per route (a harness check)")
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("RELAY_TEST_POSTGRES_URL") or POSTGRES_DEFAULT,
                        help="PostgreSQL server for the scratch databases")
    args = parser.parse_args(argv)
    # A PUT whose sender was killed is answered into a closed connection: aiohttp logs that
    # at ERROR, and it is what this benchmark does on purpose.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    rounds = 3 if args.quick else args.rounds
    per_route = 4 if args.quick else 8
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    ok = True
    with tempfile.TemporaryDirectory(prefix="relay-killloop-") as tmp:
        for store in stores:
            work = Path(tmp) / store
            if store == "sqlite":
                results = asyncio.run(run_loop(
                    "sqlite", _sqlite_store, rounds=rounds, seed=args.seed,
                    pushes_per_route=per_route, work=work,
                    report=lambda r: print(_describe(r), flush=True)))
            else:
                results = asyncio.run(_postgres_rounds(
                    args.postgres, rounds=rounds, seed=args.seed, pushes_per_route=per_route,
                    work=work))
            figures = Figures.of(results)
            print(f"\nkill -9 loop, store {store}, seed {args.seed}, "
                  f"{per_route} pushes per route x {len(ROUTES)} routes per round")
            for line in figures.lines():
                print("  " + line)
            print(flush=True)
            for r in results:
                if not r.verdict.ok:
                    print(f"relay's log of {_describe(r)}:")
                    print("\n".join(r.log.read_text().splitlines()[-30:]))
            ok = ok and figures.ok
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
