"""Holds end to end (docs/gates.md): relay, the simulator and a real store, on a wall clock
the test sets (sleeps are real and short; only `now()` is the test's)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from relay.deployment import DeploymentStatus
from relay.gates.holds import ScheduledHold
from relay.store import open_store
from relay.store.base import Store
from tests.factories import ADMIN_HEADERS
from tests.fakes import eventually
from tests.harness import Factory, Harness
from tests.payloads import sha

T = TypeVar("T")

FRIDAY_1830 = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)  # inside the 18:00-19:00 freeze
AFTER = FRIDAY_1830 + timedelta(minutes=31)
FREEZE = ScheduledHold(name="freeze", schedule="0 18 * * FRI", duration_s=3600,
                       clusters=(10702,))
HELD, SUPERSEDED, SUCCEEDED = (DeploymentStatus.HELD, DeploymentStatus.SUPERSEDED,
                               DeploymentStatus.SUCCEEDED)


class WallClock:
    """`now()` is whatever the test set; monotonic time and sleeps are real."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def status_of(store: Store, dep_id: int) -> DeploymentStatus:
    dep = await store.get_deployment(dep_id)
    assert dep is not None
    return dep.status


async def first_of(replicas: list[Harness], wait: Callable[[Harness], Awaitable[T]]) -> T:
    """What `wait` gives for the first replica whose own events show it: with several
    replicas, any one of them may make a change, and only that one records it."""
    waits = [asyncio.ensure_future(wait(r)) for r in replicas]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop().result()


def waiting_held(h: Harness) -> float:
    return h.registry.get_sample_value("relay_deployments_waiting", {"reason": "held"}) or 0.0


async def test_a_push_in_a_freeze_waits_held_the_newest_deploys_once_at_its_end(
        harness: Factory) -> None:
    clock = WallClock(FRIDAY_1830)
    h = await harness(clock=clock, holds=(FREEZE,))
    [first] = await h.push(after=sha("one"))
    await h.wait_status(first, HELD)
    [second] = await h.push(after=sha("two"))
    await h.wait_status(second, HELD)
    superseded = await h.final(first)
    assert superseded.status is SUPERSEDED and superseded.superseded_by == second
    assert h.puts(10702) == []  # nothing reached the platform during the freeze
    await eventually(lambda: waiting_held(h) == 1)
    clock.at = AFTER  # the window is over: the worker loop releases the newest
    final = await h.final(second)
    assert final.status is SUCCEEDED, final.error
    assert [p["version_control"]["version"] for p in h.puts(10702)] == [sha("two")]
    assert h.finals.calls[second] == 1


async def test_a_manual_deploy_during_a_freeze_needs_an_override_with_a_reason(
        harness: Factory) -> None:
    h = await harness(clock=WallClock(FRIDAY_1830), holds=(FREEZE,))
    body = {"cluster": 10702, "version": sha("hotfix")}
    refused = await h.client.post("/api/deployments", json=body, headers=ADMIN_HEADERS)
    assert refused.status == 409
    assert "hold freeze" in (await refused.json())["error"]
    bare = await h.client.post("/api/deployments", json={**body, "override_hold": True},
                               headers=ADMIN_HEADERS)
    assert bare.status == 400
    ok = await h.client.post("/api/deployments", headers=ADMIN_HEADERS,
                             json={**body, "override_hold": True, "reason": "outage fix"})
    assert ok.status == 202, await ok.text()
    dep = await ok.json()
    assert dep["override_reason"] == "outage fix" and dep["kind"] == "manual"
    final = await h.final(dep["id"])
    assert final.status is SUCCEEDED, final.error


async def test_a_pause_by_hand_holds_and_resume_releases(harness: Factory) -> None:
    clock = WallClock(AFTER)  # no scheduled hold now
    h = await harness(clock=clock)
    paused = await h.client.post("/api/clusters/10702/pause", headers=ADMIN_HEADERS,
                                 json={"reason": "db migration", "until": None})
    assert paused.status == 200, await paused.text()
    holds = await (await h.client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert [(a["cluster"], a["kind"], a["reason"]) for a in holds["active"]] == [
        (10702, "pause", "db migration")]
    [dep] = await h.push(after=sha("during-pause"))
    await h.wait_status(dep, HELD)
    resumed = await h.client.post("/api/clusters/10702/resume", headers=ADMIN_HEADERS)
    assert resumed.status == 200
    final = await h.final(dep)
    assert final.status is SUCCEEDED, final.error
    again = await h.client.post("/api/clusters/10702/resume", headers=ADMIN_HEADERS)
    assert again.status == 404


async def test_a_restart_inside_the_window_changes_nothing(harness: Factory) -> None:
    clock = WallClock(FRIDAY_1830)
    h = await harness(clock=clock, holds=(FREEZE,))
    [dep] = await h.push(after=sha("before-restart"))
    await h.wait_status(dep, HELD)
    await h.client.close()  # relay stops inside the window; the deployment stays held
    h2 = await harness(clock=clock, holds=(FREEZE,))
    await eventually(lambda: waiting_held(h2) == 1)  # a gate pass ran after the restart
    assert await status_of(h2.store, dep) is HELD
    assert h2.puts(10702) == []
    clock.at = AFTER
    final = await h2.final(dep)
    assert final.status is SUCCEEDED, final.error
    assert len(h2.puts(10702)) == 1


async def test_three_replicas_on_postgresql_release_once(harness: Factory,
                                                         postgres_url: str) -> None:
    clock = WallClock(FRIDAY_1830)
    replicas: list[Harness] = []
    try:
        for _ in range(3):
            store = await open_store(postgres_url)
            replicas.append(await harness(clock=clock, holds=(FREEZE,), store=store))
        first = replicas[0]
        [older] = await first.push(after=sha("pg-one"))
        [dep] = await first.push(after=sha("pg-two"))
        # The held gauge alone reads 1 also before the newer push is gated (the older one
        # held, the newer still queued): wait for the replicas' events first.
        superseded = await first_of(replicas, lambda r: r.final(older))
        assert superseded.status is SUPERSEDED and superseded.superseded_by == dep
        await first_of(replicas, lambda r: r.wait_status(dep, HELD))
        await eventually(lambda: all(waiting_held(r) == 1 for r in replicas))
        assert await status_of(first.store, dep) is HELD
        clock.at = AFTER
        final = await first_of(replicas, lambda r: r.final(dep))
        assert final.status is SUCCEEDED, final.error
        puts = [p for r in replicas for p in r.puts(10702)]
        assert [p["version_control"]["version"] for p in puts] == [sha("pg-two")]
    finally:  # a failure above must not leave the replicas' listeners running
        for replica in replicas:
            await replica.client.close()
            await replica.store.close()
