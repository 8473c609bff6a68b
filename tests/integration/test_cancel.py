"""Cancel and stop (issue 11): a deployment ends `canceled` by hand, `failed` when someone else
sets another version; relay lets it go."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from relay.deployment import DeploymentStatus
from relay.store.postgres import PostgresStore
from relay.typedefs import WORKER
from tests.factories import ADMIN_HEADERS
from tests.fakes import eventually
from tests.harness import FAST, Factory, Harness
from tests.payloads import sha


async def cancel(h: Harness, dep_id: int) -> tuple[int, dict[str, object]]:
    resp = await h.client.post(f"/api/deployments/{dep_id}/cancel", headers=ADMIN_HEADERS)
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


def count(h: Harness, outcome: str) -> float:
    labels = {"cluster": "10702", "action": "version", "outcome": outcome}
    return h.registry.get_sample_value("relay_deployments_total", labels) or 0.0


async def test_a_rolling_deployment_is_canceled_and_no_longer_followed(harness: Factory) -> None:
    h = await harness(step_s=3600)  # the rollout would never end by itself
    [dep_id] = await h.push(after=sha("slow"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    status, body = await cancel(h, dep_id)
    assert status == 200, body
    assert body["status"] == "canceled" and body["id"] == dep_id
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.CANCELED
    worker = h.client.app[WORKER]
    assert worker is not None
    await eventually(lambda: dep_id not in worker.running)
    stored = await h.store.get_deployment(dep_id)
    assert stored is not None and stored.status is DeploymentStatus.CANCELED
    assert h.finals.calls[dep_id] == 1
    assert count(h, "canceled") == 1 and count(h, "error") == 0


async def test_a_queued_deployment_is_canceled_before_it_triggers(harness: Factory) -> None:
    h = await harness(step_s=3600)
    [running] = await h.push(after=sha("first"))
    await h.wait_status(running, DeploymentStatus.ROLLING_OUT)
    [queued] = await h.push(before=sha("first"), after=sha("second"))
    assert (await cancel(h, queued))[0] == 200
    assert (await cancel(h, running))[0] == 200
    worker = h.client.app[WORKER]
    assert worker is not None
    await eventually(lambda: not worker.running)
    sent = [b["version_control"]["version"] for b in h.puts(10702)]
    assert sent == [sha("first")]  # the canceled queued one never reached the platform
    stored = await h.store.get_deployment(queued)
    assert stored is not None and stored.status is DeploymentStatus.CANCELED


async def test_cancel_answers_404_for_unknown_and_409_for_final(harness: Factory) -> None:
    h = await harness()
    status, body = await cancel(h, 999)
    assert status == 404 and "999" in str(body)
    [dep_id] = await h.push(after=sha("quick"))
    assert (await h.final(dep_id)).status is DeploymentStatus.SUCCEEDED
    status, body = await cancel(h, dep_id)
    assert status == 409 and "succeeded" in str(body)


async def test_a_cancel_on_another_replica_is_noticed_at_once(
        harness: Factory, postgres_databases: Callable[[], Awaitable[str]]) -> None:
    # The lease is long: the worker must notice through the store's wake-up, not at renewal.
    url = await postgres_databases()
    here = await PostgresStore.open(url, pool_size=4)
    elsewhere = await PostgresStore.open(url, pool_size=2)
    try:
        h = await harness(step_s=3600, store=here,
                          worker=dataclasses.replace(FAST, lease_s=600))
        [dep_id] = await h.push(after=sha("slow-pg"))
        await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
        await elsewhere.cancel(dep_id, now=datetime.now(UTC), reason="from another replica")
        worker = h.client.app[WORKER]
        assert worker is not None
        await eventually(lambda: dep_id not in worker.running, within=10)
        stored = await here.get_deployment(dep_id)
        assert stored is not None and stored.status is DeploymentStatus.CANCELED
        assert stored.error == "from another replica"
    finally:
        await elsewhere.close()
        await here.close()


async def test_a_version_set_outside_relay_fails_the_rollout_at_once(harness: Factory) -> None:
    h = await harness(step_s=3600)  # the rollout would only time out
    [dep_id] = await h.push(after=sha("ours"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    theirs = sha("someone-else")
    await h.api.update(10702, {"version_control": {"version": theirs}})
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.FAILED
    assert final.error == f"version changed to {theirs} outside relay"
