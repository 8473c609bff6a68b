"""Deploy orchestration end to end: relay and the simulator on loopback, real SQLite."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from relay.config import Settings
from relay.deployment import DeploymentStatus, NewDeployment
from relay.follow import FollowSettings
from relay.rollout import Observation
from relay.simulator import SIM_FAULTS, SIM_STATE, parse_fault
from relay.store.base import Claim
from relay.store.sqlite import SQLiteStore
from relay.typedefs import SETTINGS
from relay.worker import WorkerSettings
from tests.factories import ADMIN_HEADERS, API_TOKEN, VC_PASSWORD
from tests.fakes import FakeClock, eventually
from tests.harness import FAST, Factory, Harness
from tests.payloads import github_headers, github_push, sha


def metric(h: Harness, name: str, **labels: str) -> float:
    value = h.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_push_updates_version_and_rollout_succeeds(harness: Factory) -> None:
    h = await harness()
    commit = sha("release-1")
    [dep_id] = await h.push(after=commit)
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert final.triggered_at is not None and final.finished_at is not None
    cluster = await h.api.get(10702)
    assert cluster.version == commit
    # Only the version and the route's block were sent; the password came from the environment.
    assert h.puts(10702) == [{"version_control": {"account": "deploy@example.com",
                                                  "password": VC_PASSWORD, "version": commit}}]
    assert metric(h, "relay_deployments_total", cluster="10702", action="version",
                  outcome="succeeded") == 1
    assert metric(h, "relay_delivery_to_trigger_seconds_count") == 1
    assert metric(h, "relay_deployment_duration_seconds_count", cluster="10702",
                  outcome="succeeded") == 1


async def test_a_first_trigger_writes_its_snapshot_with_the_triggering_mark(
        harness: Factory) -> None:
    """The cluster as seen before the trigger is stored in the same UPDATE (and transaction)
    as the attempt's start: one fsync fewer per deployment than a write of its own."""
    h = await harness()
    statements: list[str] = []
    conn = h.store._db()  # type: ignore[attr-defined]  # the SQLite store of the harness
    conn.set_trace_callback(statements.append)
    try:
        [dep_id] = await h.push(after=sha("one-write"))
        assert (await h.final(dep_id)).status is DeploymentStatus.SUCCEEDED
    finally:
        conn.set_trace_callback(None)
    updates = [s for s in statements if s.startswith("UPDATE deployments SET")]
    with_snapshot = [s for s in updates if "snapshot = " in s]
    assert len(with_snapshot) == 1 and "trigger_started_at = " in with_snapshot[0], updates


async def test_hook_action_forwards_the_delivery(harness: Factory) -> None:
    h = await harness()
    body = github_push("acme/shop", "refs/tags/v1.0.0", after=sha("tag"))
    headers = github_headers(body, delivery="tag-delivery")
    resp = await h.client.post("/hooks/github", data=body, headers=headers)
    [dep] = (await resp.json())["deployments"]
    final = await h.final(dep["id"])
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    [post] = h.state.hook_posts
    assert post.cluster_id == 10800
    assert post.body == body
    sent = {k.lower(): v for k, v in post.headers.items()}
    assert sent["x-github-event"] == "push"
    assert sent["x-github-delivery"] == "tag-delivery"
    assert sent["content-type"].startswith("application/json")
    assert "authorization" not in sent and "x-hub-signature-256" not in sent


async def test_hook_to_a_foreign_host_is_an_error(harness: Factory) -> None:
    h = await harness(public_url="http://deploy.elsewhere.example:9")
    [dep_id] = await h.push("acme/shop", "refs/tags/v2")
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.ERROR
    assert "deploy.elsewhere.example" in (final.error or "")
    assert h.state.hook_posts == []


async def test_rollout_ending_in_fail_status_is_failed(harness: Factory) -> None:
    h = await harness()
    bad = sha("broken-build")
    h.fault(f"fail-version:{bad}")
    [dep_id] = await h.push(after=bad)
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.FAILED
    assert "_fail" in (final.error or "")


async def test_rollout_that_never_finishes_times_out_without_waiting(harness: Factory) -> None:
    clock = FakeClock()
    worker = WorkerSettings(rollout_timeout_s=10, lease_s=5, idle_poll_s=0.05,
                            follow=FollowSettings(watch_timeout_s=2, request_timeout_s=2,
                                                  min_poll_interval_s=1.0))
    h = await harness(step_s=3600, clock=clock, worker=worker)
    h.fault("watch-immediate")
    started = time.monotonic()
    [dep_id] = await h.push(after=sha("slow"))
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.TIMED_OUT
    assert "no verdict after 10 s" in (final.error or "")
    assert time.monotonic() - started < 5  # ten fake seconds, not real ones
    # one watch per poll interval at most: ten seconds, about ten watches
    assert h.state.requests["watch"] <= 11


async def test_watch_returning_at_once_does_not_spin(harness: Factory) -> None:
    interval = 0.05
    worker = WorkerSettings(rollout_timeout_s=20, lease_s=5, idle_poll_s=0.05,
                            follow=FollowSettings(watch_timeout_s=2, request_timeout_s=2,
                                                  min_poll_interval_s=interval))
    h = await harness(step_s=0.15, worker=worker)
    h.fault("watch-immediate")
    started = time.monotonic()
    [dep_id] = await h.push(after=sha("spin"))
    final = await h.final(dep_id)
    elapsed = time.monotonic() - started
    assert final.status is DeploymentStatus.SUCCEEDED
    assert h.state.requests["watch"] <= elapsed / interval + 2


async def test_server_errors_are_retried_then_succeed(harness: Factory) -> None:
    h = await harness()
    h.fault("error:apps.update:503:count=2")
    with capture_logs() as logs:
        [dep_id] = await h.push(after=sha("retry"))
        final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    [line] = [e for e in logs if e["event"] == "deployment finished"]
    assert line["api_retries"] == 2  # the canonical line carries this deployment's retries
    assert metric(h, "relay_cluster_api_retries_total", endpoint="apps.update") == 2
    assert metric(h, "relay_cluster_api_requests_total", endpoint="apps.update", code="503") == 2


async def test_lines_logged_while_deploying_carry_the_deployment_and_its_cluster(
    harness: Factory, json_log: io.StringIO,
) -> None:
    h = await harness()
    h.fault("error:apps.update:503:count=1")
    [dep_id] = await h.push(after=sha("context"))
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [retry] = [e for e in lines if e["event"] == "cluster_api_retry"]  # logged deep in run
    assert (retry["deployment_id"], retry["cluster"]) == (dep_id, 10702)
    [delivery] = [e for e in lines if e["event"] == "delivery"]  # the webhook's own task
    assert "deployment_id" not in delivery and "cluster" not in delivery


async def test_client_error_refusal_ends_error_with_platform_message(harness: Factory) -> None:
    h = await harness()
    h.fault("error:apps.update:400:count=1")
    [dep_id] = await h.push(after=sha("refused"))
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.ERROR
    assert "HTTP 400" in (final.error or "")
    assert metric(h, "relay_cluster_api_requests_total", endpoint="apps.update", code="400") == 1
    assert metric(h, "relay_cluster_api_retries_total", endpoint="apps.update") == 0


async def test_push_of_the_running_version_is_skipped(harness: Factory) -> None:
    h = await harness()
    current = (await h.api.get(10702)).version
    assert current
    [dep_id] = await h.push(after=current)
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SKIPPED
    assert "already" in (final.error or "")
    assert h.puts(10702) == []


async def test_burst_of_fifty_pushes_ends_in_one_more_rollout_of_the_newest(
    harness: Factory,
) -> None:
    h = await harness(step_s=1.0)  # the first rollout outlasts the burst
    commits = [sha(f"burst-{i}") for i in range(51)]
    [first] = await h.push(after=commits[0], before=sha("base"),
                           timestamp="2026-11-26T10:00:00+00:00")
    await h.wait_status(first, DeploymentStatus.ROLLING_OUT)
    answers = await asyncio.gather(*(
        h.push(after=commits[i], before=commits[i - 1],
               timestamp=f"2026-11-26T10:{i:02d}:00+00:00") for i in range(1, 51)))
    ids = [dep_id for answer in answers for dep_id in answer]
    running = await h.store.get_deployment(first)
    assert running is not None and running.status is DeploymentStatus.ROLLING_OUT, \
        "precondition: the burst must arrive while the first rollout runs"
    newest = await h.final(ids[-1], within=30)
    assert newest.status is DeploymentStatus.SUCCEEDED, newest.error
    assert (await h.final(first)).status is DeploymentStatus.SUCCEEDED
    versions = [body["version_control"]["version"] for body in h.puts(10702)]
    assert versions == [commits[0], commits[50]]
    assert (await h.api.get(10702)).version == commits[50]
    superseded = [await h.store.get_deployment(i) for i in ids[:-1]]
    assert all(d is not None and d.status is DeploymentStatus.SUPERSEDED
               and d.superseded_by == ids[-1] for d in superseded)


async def test_a_burst_of_pushes_of_the_running_version_costs_one_claim(
    harness: Factory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17: fifty pushes of the version the cluster will run, queued while its rollout
    runs, end in one claim (one skipped, forty-nine superseded), not one claim each."""
    h = await harness(step_s=1.0)  # the rollout outlasts the burst
    commit = sha("running")
    [first] = await h.push(after=commit, before=sha("base"))
    await h.wait_status(first, DeploymentStatus.ROLLING_OUT)
    claims: list[int] = []
    real_claim = h.store.claim

    async def counting(**kw: object) -> Claim | None:
        got = await real_claim(**kw)  # type: ignore[arg-type]
        if got is not None:
            claims.append(got.deployment.id)
        return got

    monkeypatch.setattr(h.store, "claim", counting)
    answers = await asyncio.gather(*(h.push(after=commit, before=sha("base"))
                                     for _ in range(50)))
    ids = [dep_id for answer in answers for dep_id in answer]
    assert (await h.final(first)).status is DeploymentStatus.SUCCEEDED
    ended = [await h.final(i) for i in ids]
    assert len(claims) == 1, claims
    skipped = [d for d in ended if d.status is DeploymentStatus.SKIPPED]
    assert [d.id for d in skipped] == claims and "already" in (skipped[0].error or "")
    assert sum(d.status is DeploymentStatus.SUPERSEDED for d in ended) == 49
    assert [body["version_control"]["version"] for body in h.puts(10702)] == [commit]


async def test_older_commit_delivered_late_is_skipped(harness: Factory) -> None:
    h = await harness()
    a, b = sha("older"), sha("newer")
    [dep_b] = await h.push(after=b, before=a, timestamp="2026-11-26T10:05:00+00:00")
    assert (await h.final(dep_b)).status is DeploymentStatus.SUCCEEDED
    [dep_a] = await h.push(after=a, before=sha("base"), timestamp="2026-11-26T10:00:00+00:00")
    final = await h.final(dep_a)
    assert final.status is DeploymentStatus.SKIPPED
    assert (await h.api.get(10702)).version == b


async def test_manual_rollback_is_not_skipped(harness: Factory) -> None:
    h = await harness()
    a, b = sha("v1"), sha("v2")
    [dep_a] = await h.push(after=a, timestamp="2026-11-26T10:00:00+00:00")
    await h.final(dep_a)
    [dep_b] = await h.push(after=b, before=a, timestamp="2026-11-26T10:05:00+00:00")
    await h.final(dep_b)
    resp = await h.client.post("/api/deployments", json={"cluster": 10702, "version": a},
                               headers=ADMIN_HEADERS)
    assert resp.status == 202
    rollback = await h.final((await resp.json())["id"])
    assert rollback.status is DeploymentStatus.SUCCEEDED
    assert (await h.api.get(10702)).version == a


async def test_two_clusters_roll_out_in_parallel(harness: Factory) -> None:
    h = await harness(step_s=0.1)
    [shop] = await h.push("acme/shop", after=sha("p1"))
    [api] = await h.push("acme/api", after=sha("p2"))
    one, two = await h.final(shop), await h.final(api)
    assert one.status is two.status is DeploymentStatus.SUCCEEDED
    assert one.triggered_at and two.triggered_at and one.finished_at and two.finished_at
    assert two.triggered_at < one.finished_at and one.triggered_at < two.finished_at


async def test_deployments_of_a_deleted_cluster_fail_clearly(harness: Factory) -> None:
    h = await harness(step_s=0.2)
    [dep_id] = await h.push(after=sha("gone"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    await h.api.delete(10702)
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.FAILED
    assert "no longer exists" in (final.error or "")


# -- recovery: a worker died holding a deployment ------------------------------------------


def snapshot_of(sim: TestServer, cluster_id: int) -> Observation:
    c = sim.app[SIM_STATE].clusters[cluster_id]
    return Observation(status=c.status, replicas=c.replicas,
                       container_ids=tuple(x.container_id for x in c.containers),
                       version=c.version)


async def dead_worker_claim(settings: Settings, commit: str) -> tuple[SQLiteStore, Claim]:
    store = await SQLiteStore.open(settings.store.url.removeprefix("sqlite:///"))
    body = github_push("acme/shop", after=commit)
    from relay.store import NewDelivery

    now = datetime.now(UTC)
    await store.accept(
        NewDelivery(delivery_id="github-dead", source="github", delivery_key="dead",
                    event="push", event_name="push", received_at=now,
                    content_type="application/json", headers=(), body=body),
        [NewDeployment(cluster=10702, action="version", version=commit, route_index=0)])
    claim = await store.claim(owner="dead-worker", now=now, lease_s=0)
    assert claim is not None
    return store, claim


@pytest.mark.parametrize("trigger_reached_the_cluster", [True, False])
async def test_resumed_triggering_deployment_is_triggered_once(
    harness: Factory, trigger_reached_the_cluster: bool
) -> None:
    commit = sha("crashed-mid-trigger")

    async def crashed_mid_trigger(sim: TestServer, settings: Settings) -> None:
        store, claim = await dead_worker_claim(settings, commit)
        try:
            await store.save_snapshot(claim.deployment.id, fence=claim.fence,
                                      snapshot=snapshot_of(sim, 10702))
        finally:
            await store.close()
        if trigger_reached_the_cluster:  # the PUT went out, then the worker died
            async with ClientSession() as s, s.put(
                sim.make_url("/api/v1/apps/10702"),
                json={"version_control": {"version": commit}},
                headers={"Authorization": f"Token {API_TOKEN}"},
            ) as resp:
                assert resp.status == 200

    h = await harness(step_s=0.05, before_start=crashed_mid_trigger)
    final = await h.final(1)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert [b["version_control"]["version"] for b in h.puts(10702)] == [commit]


async def test_rollout_that_completed_while_relay_was_down_ends_succeeded(
    harness: Factory,
) -> None:
    commit = sha("done-while-down")

    async def crashed_while_following(sim: TestServer, settings: Settings) -> None:
        before = snapshot_of(sim, 10702)
        store, claim = await dead_worker_claim(settings, commit)
        try:
            await store.save_snapshot(claim.deployment.id, fence=claim.fence, snapshot=before)
            await store.mark_rolling_out(claim.deployment.id, fence=claim.fence,
                                         triggered_at=datetime.now(UTC))
        finally:
            await store.close()
        state = sim.app[SIM_STATE]
        async with ClientSession() as s, s.put(
            sim.make_url("/api/v1/apps/10702"), json={"version_control": {"version": commit}},
            headers={"Authorization": f"Token {API_TOKEN}"},
        ) as resp:
            assert resp.status == 200
        done = asyncio.Event()  # the rollout finishes before relay is back

        def check() -> None:
            c = state.clusters[10702]
            if c.version == commit and c.status == "create_succ" and not (
                    {x.container_id for x in c.containers} & set(before.container_ids)):
                done.set()

        state.listeners.append(check)
        await asyncio.wait_for(done.wait(), 5)

    h = await harness(step_s=0.01, before_start=crashed_while_following)
    final = await h.final(1)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert len(h.puts(10702)) == 1  # only the dead worker's


async def test_graceful_shutdown_leaves_the_rollout_to_resume(harness: Factory,
                                                              tmp_path: Path) -> None:
    h = await harness(step_s=5)
    [dep_id] = await h.push(after=sha("shutdown"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    await h.client.close()  # runs the app's cleanup: worker stop, store close
    conn = sqlite3.connect(tmp_path / "relay.db")
    try:
        row = conn.execute("SELECT status, lease_owner, lease_expires_at, snapshot "
                           "FROM deployments WHERE id = ?", (dep_id,)).fetchone()
    finally:
        conn.close()
    status, owner, expires, snapshot = row
    assert (status, owner, expires) == ("rolling_out", None, None)
    assert snapshot is not None


async def test_watch_that_never_answers_is_cut_off_and_the_rollout_still_ends(
    harness: Factory,
) -> None:
    worker = WorkerSettings(rollout_timeout_s=20, lease_s=5, idle_poll_s=0.05,
                            follow=FollowSettings(watch_timeout_s=0.2, request_timeout_s=0.2,
                                                  min_poll_interval_s=0.01,
                                                  max_error_backoff_s=0.05))
    h = await harness(step_s=0.1, worker=worker, watch_timeout_s=0.2)
    h.fault("latency:watch:60")  # every watch hangs far past its timeout
    started = time.monotonic()
    with capture_logs() as logs:
        [dep_id] = await h.push(after=sha("hung-watch"))
        final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert time.monotonic() - started < 10
    [line] = [e for e in logs if e["event"] == "deployment finished"]
    assert line["api_errors"] >= 1  # the hung watch was cut off, counted, and retried


async def test_queue_gauges_follow_the_store(harness: Factory) -> None:
    worker = WorkerSettings(rollout_timeout_s=20, lease_s=5, idle_poll_s=0.02,
                            gauge_interval_s=0.0,
                            follow=FollowSettings(watch_timeout_s=2, request_timeout_s=2,
                                                  min_poll_interval_s=0.01))
    h = await harness(step_s=0.3, worker=worker)
    [first] = await h.push(after=sha("g1"))
    await h.wait_status(first, DeploymentStatus.ROLLING_OUT)
    [second] = await h.push(after=sha("g2"), before=sha("g1"))
    await eventually(lambda: metric(h, "relay_deployments_queued") == 1
                     and metric(h, "relay_deployments_in_progress") == 1)
    assert 0 <= metric(h, "relay_oldest_queued_deployment_age_seconds") < 30
    await h.final(second)
    await eventually(lambda: metric(h, "relay_deployments_queued") == 0
                     and metric(h, "relay_deployments_in_progress") == 0)


async def test_late_older_delivery_does_not_displace_the_newest_commit(harness: Factory) -> None:
    h = await harness(step_s=0.3)
    c1, c2, c3, c4 = (sha(f"chain-{i}") for i in range(1, 5))
    [d1] = await h.push(after=c1, before=sha("c0"), timestamp="2026-11-26T10:01:00+00:00")
    await h.wait_status(d1, DeploymentStatus.ROLLING_OUT)
    [d3] = await h.push(after=c3, before=c2, timestamp="2026-11-26T10:03:00+00:00")
    await h.wait_status(d3, DeploymentStatus.ROLLING_OUT)
    [d4] = await h.push(after=c4, before=c3, timestamp="2026-11-26T10:04:00+00:00")
    [d2] = await h.push(after=c2, before=c1, timestamp="2026-11-26T10:02:00+00:00")  # late
    final = await h.final(d4)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    late = await h.store.get_deployment(d2)
    assert late is not None and late.status is DeploymentStatus.SUPERSEDED
    assert (await h.api.get(10702)).version == c4
    assert [b["version_control"]["version"] for b in h.puts(10702)] == [c1, c3, c4]


class ClaimFailsOnce:
    """The real SQLite store, except that its first claim raises something unexpected."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def claim(self, **kw: object) -> object:
        if not self.failed:
            self.failed = True
            raise RuntimeError("an unexpected bug in claim")
        return await self._store.claim(**kw)  # type: ignore[arg-type]


@pytest.fixture
async def flaky_store(tmp_path: Path) -> AsyncIterator[ClaimFailsOnce]:
    store = await SQLiteStore.open(tmp_path / "flaky.db")
    try:
        yield ClaimFailsOnce(store)
    finally:
        await store.close()


async def test_worker_loop_survives_an_unexpected_error(flaky_store: ClaimFailsOnce,
                                                        harness: Factory) -> None:
    with capture_logs() as logs:
        h = await harness(store=flaky_store)  # type: ignore[arg-type]
        [dep_id] = await h.push(after=sha("survivor"))
        final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED
    assert flaky_store.failed
    assert any(e["event"] == "worker loop error; retrying" for e in logs)


async def test_last_success_gauge_is_set_on_success_and_primed_from_the_store(
        harness: Factory, tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "primed.db")
    try:
        earlier = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        await store.enqueue(NewDeployment(cluster=10703, action="version", version="a" * 40),
                            now=earlier)
        claim = await store.claim(owner="before", now=earlier, lease_s=30)
        assert claim is not None
        await store.finish(claim.deployment.id, fence=claim.fence,
                           status=DeploymentStatus.SUCCEEDED, now=earlier)
        h = await harness(store=store)
        name = "relay_cluster_last_success_timestamp_seconds"
        await eventually(lambda: metric(h, name, cluster="10703") == earlier.timestamp())
        [dep_id] = await h.push(after=sha("gauge"))
        final = await h.final(dep_id)
        assert final.finished_at is not None
        assert metric(h, name, cluster="10702") == final.finished_at.timestamp()
    finally:
        await store.close()


async def test_a_held_trigger_of_a_dead_worker_is_waited_out_before_triggering_again(
    harness: Factory,
) -> None:
    """Issue 16: a PUT held at the API longer than the lease must not land after a newer one."""
    old, new = sha("held-old"), sha("held-new")
    held: list[asyncio.Task[int]] = []

    async def put(sim: TestServer, version: str) -> int:
        async with ClientSession() as s, s.put(
            sim.make_url("/api/v1/apps/10702"), json={"version_control": {"version": version}},
            headers={"Authorization": f"Token {API_TOKEN}"},
        ) as resp:
            return resp.status

    async def died_while_its_put_is_held(sim: TestServer, settings: Settings) -> None:
        store, claim = await dead_worker_claim(settings, old)
        try:
            await store.mark_triggering(claim.deployment.id, fence=claim.fence,
                                        now=datetime.now(UTC), snapshot=snapshot_of(sim, 10702))
        finally:
            await store.close()
        sim.app[SIM_FAULTS].add(parse_fault("latency:apps.update:1.0:count=1"))
        held.append(asyncio.create_task(put(sim, old)))  # lands one second from now

    worker = dataclasses.replace(FAST, trigger_max_s=1.5)
    h = await harness(step_s=0.05, before_start=died_while_its_put_is_held, worker=worker)
    [newer] = await h.push(before=old, after=new)
    assert (await h.final(1)).status is DeploymentStatus.SUCCEEDED
    final = await h.final(newer)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert await held[0] == 200
    assert (await h.api.get(10702)).version == new
    # The resumed deployment found the held PUT's effect: it was not triggered again.
    assert [b["version_control"]["version"] for b in h.puts(10702)] == [old, new]


async def test_leases_are_renewed_on_the_workers_clock(harness: Factory) -> None:
    clock = FakeClock()  # three days behind the real clock: a renewal on real time shows
    start = clock.now()
    worker = WorkerSettings(rollout_timeout_s=100_000, lease_s=30, idle_poll_s=0.05,
                            follow=FollowSettings(watch_timeout_s=2, request_timeout_s=2,
                                                  min_poll_interval_s=1.0))
    h = await harness(step_s=3600, clock=clock, worker=worker)  # the rollout never ends
    [dep_id] = await h.push(after=sha("lease-clock"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    await eventually(lambda: 10.0 in clock.sleeps)  # a renewal wait: lease_s / 3
    # The idle wait goes through the clock too (once the loop finds nothing to do: a wake-up
    # pending from the rollout's own progress may come first).
    await eventually(lambda: 0.05 in clock.sleeps)
    path = h.client.app[SETTINGS].store.url.removeprefix("sqlite:///")

    def renewed() -> bool:
        with sqlite3.connect(path) as conn:
            (expires,) = conn.execute("SELECT lease_expires_at FROM deployments WHERE id = ?",
                                      (dep_id,)).fetchone()
        return start.timestamp() + 30 < expires < start.timestamp() + 86_400

    await eventually(renewed)
