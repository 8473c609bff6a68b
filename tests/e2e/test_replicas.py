"""Several `relay serve` processes on one PostgreSQL (issue 5, "must show").

One in-test simulator plays the cluster API for all of them. The simulator's side is where a
double rollout would show, so the tests watch it there: every rollout it starts is checked
against the cluster's status at that moment (`updating` means another one is still in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from relay.simulator import SIM_STATE, create_simulator_app
from relay.simulator.model import UPDATING
from tests.e2e.test_crash import ENV, Relay, eventually, free_port
from tests.factories import ADMIN_TOKEN, API_TOKEN
from tests.payloads import github_headers, github_push, sha

pytestmark = pytest.mark.slow

ACTIVE = ("queued", "triggering", "rolling_out")
Replicas = Callable[..., Awaitable[list[Relay]]]


def replica_config(tmp_path: Path, name: str, *, port: int, api_url: str, db_url: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
server: {{host: 127.0.0.1, port: {port}, shutdown_timeout_s: 2}}
store: {{url: "{db_url}", pool_size: 4, connect_timeout_s: 1, query_timeout_s: 2}}
cluster_api: {{base_url: "{api_url}", request_timeout_s: 0.1, retry_total_s: 1,
  watch_timeout_s: 2}}
sources:
  github: {{secret_env: RELAY_GITHUB_SECRET}}
admin: {{token_env: RELAY_ADMIN_TOKEN}}
rollout: {{timeout_s: 60, lease_s: 2, poll_interval_s: 0.05}}  # lease >= 1 + 2 x 0.1
logging: {{format: json}}
routes:
  - {{repo: acme/shop, branch: main, cluster: 10702, action: version}}
  - {{repo: acme/api, branch: main, cluster: 10703, action: version}}
""")
    return path


def make_sim(step_s: float) -> TestServer:
    return TestServer(create_simulator_app(token=API_TOKEN, step_s=step_s, watch_timeout_s=2))


def watch_overlaps(state: Any) -> list[tuple[int, str | None]]:
    """Record every rollout the simulator starts while the cluster is still updating."""
    overlaps: list[tuple[int, str | None]] = []
    record = state.record_deploy

    def checked(cluster_id: int, version: str | None, trigger: str) -> None:
        if state.clusters[cluster_id].status == UPDATING:
            overlaps.append((cluster_id, version))
        record(cluster_id, version, trigger)

    state.record_deploy = checked
    return overlaps


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    """Start `count` relay processes on one database and one API; all stopped afterwards."""
    started: list[Relay] = []

    async def start(count: int, *, db_url: str, api_url: str) -> list[Relay]:
        group = []
        for i in range(count):
            port = free_port()
            config = replica_config(tmp_path, f"relay{i}", port=port, api_url=api_url,
                                    db_url=db_url)
            group.append(Relay(config, port, tmp_path / f"relay{i}.log"))
        started.extend(group)
        await asyncio.gather(*(r.start() for r in group))
        return group

    yield start
    await asyncio.gather(*(asyncio.to_thread(r.stop) for r in started))


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_url, timeout=5)
    yield conn
    await conn.close()


async def post(relay: Relay, body: bytes, delivery: str) -> tuple[int, dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.post(
        relay.url + "/hooks/github", data=body, headers=github_headers(body, delivery=delivery)
    ) as r:
        return r.status, dict(await r.json())


async def get(relay: Relay, path: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(
        relay.url + path, headers=headers
    ) as r:
        return r.status, await r.json()


def commit_push(repo: str, i: int, *, before: str, after: str) -> bytes:
    return github_push(repo, before=before, after=after,
                       timestamp=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z")


async def quiet(db: asyncpg.Connection, within: float = 30.0) -> None:
    """Wait until no deployment is queued or active."""
    async def settled() -> bool:
        left = await db.fetchval(
            "SELECT count(*) FROM deployments WHERE status = ANY($1::text[])", list(ACTIVE))
        return left == 0

    await eventually(settled, within=within, every=0.1)


def owners(relays: list[Relay]) -> dict[str, Relay]:
    """Map each worker's lease owner id to its process, from the "worker started" log line."""
    found = {}
    for relay in relays:
        for line in relay.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == "worker started":
                    found[entry["owner"]] = relay
    return found


# -- deliveries sprayed across three replicas -------------------------------------------------


async def test_three_replicas_store_once_deploy_one_at_a_time_and_end_on_the_newest(
    replicas: Replicas, postgres_url: str, db: asyncpg.Connection,
) -> None:
    sim = make_sim(step_s=0.05)
    await sim.start_server()
    try:
        state = sim.app[SIM_STATE]
        overlaps = watch_overlaps(state)
        relays = await replicas(3, db_url=postgres_url, api_url=str(sim.make_url("")).rstrip("/"))
        await spray(relays, db)
        await quiet(db)
        shop_last, api_last = sha("shop-burst-2"), sha("api-5")
        assert overlaps == []  # never a rollout started while another was in flight
        await check_one_at_a_time(db)
        assert state.clusters[10702].version == shop_last
        assert state.clusters[10703].version == api_last
        for cluster, version in ((10702, shop_last), (10703, api_last)):
            status = await db.fetchval(
                "SELECT status FROM deployments WHERE cluster = $1 AND version = $2",
                cluster, version)
            assert status == "succeeded"
            sent = [b["version_control"]["version"] for b in state.put_bodies[cluster]]
            assert len(sent) == len(set(sent)), f"a version was triggered twice: {sent}"
        # Every delivery stored once, with its one deployment.
        assert await db.fetchval("SELECT count(*) FROM deliveries") == 6 + 6 + 3
        per_delivery = await db.fetch(
            "SELECT delivery_id, count(*) AS n FROM deployments GROUP BY delivery_id")
        assert len(per_delivery) == 15 and {r["n"] for r in per_delivery} == {1}
    finally:
        await sim.close()


async def spray(relays: list[Relay], db: asyncpg.Connection) -> None:
    """Waves of pushes to different replicas; each shop push goes to all three at once."""
    shop_before = api_before = sha("start")
    for i in range(6):
        shop, api = sha(f"shop-{i}"), sha(f"api-{i}")
        body = commit_push("acme/shop", i, before=shop_before, after=shop)
        answers = await asyncio.gather(
            *(post(r, body, f"shop-{i}") for r in relays),
            post(relays[(i + 1) % 3], commit_push("acme/api", i, before=api_before, after=api),
                 f"api-{i}"),
        )
        shop_answers, (api_status, _) = answers[:3], answers[3]
        assert api_status == 202
        assert sorted(status for status, _ in shop_answers) == [200, 200, 202]
        assert len({tuple(d["id"] for d in a["deployments"]) for _, a in shop_answers}) == 1
        assert [a.get("duplicate") for s, a in shop_answers if s == 200] == [True, True]
        [dep_id] = [a["deployments"][0]["id"] for s, a in shop_answers if s == 202]
        # The next wave lands while this one is still in flight (or has just ended).
        await eventually(lambda d=dep_id: _left_queue(db, d), within=20, every=0.02)
        shop_before, api_before = shop, api
    # A burst at the end: three pushes, each to another replica, without waiting.
    burst = []
    for j in range(3):
        after = sha(f"shop-burst-{j}")
        burst.append(post(relays[j], commit_push("acme/shop", 10 + j, before=shop_before,
                                                 after=after), f"shop-burst-{j}"))
        shop_before = after
    assert [status for status, _ in await asyncio.gather(*burst)] == [202, 202, 202]


async def _left_queue(db: asyncpg.Connection, dep_id: int) -> bool:
    status = await db.fetchval("SELECT status FROM deployments WHERE id = $1", dep_id)
    return status != "queued"


async def check_one_at_a_time(db: asyncpg.Connection) -> None:
    """Per cluster, each triggered deployment ended before the next one was triggered."""
    rows = await db.fetch(
        "SELECT cluster, id, triggered_at, finished_at FROM deployments "
        "WHERE triggered_at IS NOT NULL ORDER BY cluster, triggered_at")
    by_cluster: dict[int, list[Any]] = {}
    for row in rows:
        by_cluster.setdefault(row["cluster"], []).append(row)
    assert len(by_cluster.get(10702, [])) >= 4  # most shop waves ran: the check means something
    for runs in by_cluster.values():
        for earlier, later in zip(runs, runs[1:], strict=False):
            assert earlier["finished_at"] <= later["triggered_at"], (earlier, later)


# -- failover: the replica following a rollout is killed --------------------------------------


async def test_killed_replica_rollout_is_taken_over_without_a_second_trigger(
    replicas: Replicas, postgres_url: str, db: asyncpg.Connection,
) -> None:
    sim = make_sim(step_s=1.0)  # a rollout of 2 containers lasts about 2 s
    await sim.start_server()
    try:
        state = sim.app[SIM_STATE]
        relays = await replicas(3, db_url=postgres_url, api_url=str(sim.make_url("")).rstrip("/"))
        commit = sha("failover")
        status, answer = await post(relays[0], commit_push("acme/shop", 1, before=sha("x"),
                                                           after=commit), "failover-1")
        assert status == 202
        dep_id = answer["deployments"][0]["id"]

        async def followed_by() -> str | None:
            row = await db.fetchrow(
                "SELECT status, lease_owner FROM deployments WHERE id = $1", dep_id)
            return row["lease_owner"] if row["status"] == "rolling_out" else None

        owner = await eventually(followed_by, within=10)
        victim = owners(relays)[owner]
        victim.kill()
        survivors = [r for r in relays if r is not victim]

        async def finished() -> asyncpg.Record | None:
            row = await db.fetchrow("SELECT status, error FROM deployments WHERE id = $1", dep_id)
            return row if row["status"] not in ACTIVE else None

        final = await eventually(finished, within=30, every=0.1)
        assert final["status"] == "succeeded", final["error"]
        # log lines are written every 0.15 s (docs/operations.md, "Logs")
        await eventually(lambda: any(b'"resuming deployment"' in r.log.read_bytes()
                                     for r in survivors))
        resumed = [r for r in survivors if b'"resuming deployment"' in r.log.read_bytes()]
        assert len(resumed) == 1
        assert [b["version_control"]["version"] for b in state.put_bodies[10702]] == [commit]
        assert state.clusters[10702].version == commit
        code, shown = await get(resumed[0], f"/api/deployments/{dep_id}")
        assert code == 200 and shown["status"] == "succeeded"
    finally:
        await sim.close()


# -- PostgreSQL stopped, then started again ----------------------------------------------------


def test_replica_that_cannot_reach_the_database_at_start_exits_1_with_one_line(
    tmp_path: Path,
) -> None:
    config = replica_config(tmp_path, "down", port=free_port(), api_url="http://127.0.0.1:9",
                            db_url="postgresql://relay@127.0.0.1:1/relay")
    done = subprocess.run(
        [sys.executable, "-m", "relay", "serve", "--config", str(config)],
        capture_output=True, env={**os.environ, **ENV}, timeout=30, check=False)
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relay: cannot open the store: postgresql")
    assert "127.0.0.1:1" in lines[0]


class TcpProxy:
    """A TCP relay between relay and PostgreSQL that the test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (on the same port as before, after a cut)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """PostgreSQL is gone: refuse new connections, reset the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # both pipes of each connection see the end and return
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target),
                                                          5)
            self._writers.add(up_writer)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, TimeoutError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(postgres_url)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await tcp.start()
    yield tcp
    await tcp.cut()


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def test_database_outage_answers_503_and_relay_recovers_by_itself(
    proxy: TcpProxy, replicas: Replicas, postgres_url: str,
) -> None:
    sim = make_sim(step_s=0.3)  # a rollout of 2 containers lasts about 0.6 s
    await sim.start_server()
    try:
        state = sim.app[SIM_STATE]
        [relay] = await replicas(1, db_url=through(postgres_url, proxy),
                                 api_url=str(sim.make_url("")).rstrip("/"))
        first = commit_push("acme/shop", 1, before=sha("o0"), after=sha("o1"))
        status, answer = await post(relay, first, "before-outage")
        assert status == 202
        first_id = answer["deployments"][0]["id"]
        assert (await get(relay, "/readyz"))[0] == 200
        await eventually(lambda: state.watching[10702] > 0)  # the rollout is being followed

        await proxy.cut()
        lost = commit_push("acme/shop", 2, before=sha("o1"), after=sha("o2"))
        status, answer = await post(relay, lost, "during-outage")
        assert status == 503, answer
        assert "retry" in answer["error"]
        code, ready = await get(relay, "/readyz")
        assert code == 503 and ready["status"] == "not ready"
        assert ready["store"] == "unavailable"  # the why is in the log, not for anonymous callers
        await eventually(lambda: b'"not ready"' in relay.log.read_bytes())
        # The wake-up listener noticed too, and keeps trying to reconnect; the rollout in
        # flight ended meanwhile, and its result could not be written.
        await eventually(lambda: b"cannot listen for wake-ups" in relay.log.read_bytes())
        await eventually(lambda: b"store unavailable" in relay.log.read_bytes())

        await proxy.start()
        after = commit_push("acme/shop", 3, before=sha("o1"), after=sha("o3"))

        async def accepted() -> dict[str, Any] | None:
            status, answer = await post(relay, after, "after-outage")  # the sender retries
            return answer if status == 202 else None

        answer = await eventually(accepted, within=15, every=0.1)
        assert (await get(relay, "/readyz"))[0] == 200
        assert (await get(relay, "/api/deliveries/github-during-outage"))[0] == 404
        await eventually(lambda: relay.log.read_bytes().count(b'"listening for wake-ups"') == 2)

        async def final(dep_id: int) -> Any:
            code, dep = await get(relay, f"/api/deployments/{dep_id}")
            return dep if code == 200 and dep["status"] not in ACTIVE else None

        # The rollout that ended during the outage is resumed (not triggered again) and
        # recorded; then the push received after the outage runs.
        assert (await eventually(lambda: final(first_id), within=20, every=0.1))["status"] \
            == "succeeded"
        dep_id = answer["deployments"][0]["id"]
        assert (await eventually(lambda: final(dep_id), within=20, every=0.1))["status"] \
            == "succeeded"
        assert [b["version_control"]["version"] for b in state.put_bodies[10702]] == [
            sha("o1"), sha("o3")]
        assert state.clusters[10702].version == sha("o3")
    finally:
        await sim.close()
