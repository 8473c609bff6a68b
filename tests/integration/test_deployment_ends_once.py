"""A deployment ends once (issue 10): a raising listener never re-finishes it, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.deployment import Deployment, DeploymentStatus, NewDeployment
from relay.store import Store
from relay.store.base import LeaseLost
from relay.store.postgres import PostgresStore
from relay.store.sqlite import SQLiteStore
from tests.harness import Factory


@pytest.fixture(params=["sqlite", "postgres"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path,
                    postgres_databases: Callable[[], Awaitable[str]]) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "postgres":
        opened = await PostgresStore.open(await postgres_databases(), pool_size=5)
    else:
        opened = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_raising_listener_does_not_end_a_deployment_twice(
        harness: Factory, any_store: Store) -> None:
    seen: list[DeploymentStatus] = []

    def raising(dep: Deployment) -> None:
        seen.append(dep.status)
        if dep.status is DeploymentStatus.SUCCEEDED:
            raise RuntimeError("a listener broke")

    # Registered before the harness's own listener: that one must still be called, once.
    h = await harness(store=any_store, listeners=[raising])
    [dep_id] = await h.push()
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    stored = await h.store.get_deployment(dep_id)
    assert stored is not None and stored.status is DeploymentStatus.SUCCEEDED, stored
    assert seen == [DeploymentStatus.SUCCEEDED]
    assert h.finals.calls[dep_id] == 1

    def count(outcome: str) -> float:
        labels = {"cluster": "10702", "action": "version", "outcome": outcome}
        return h.registry.get_sample_value("relay_deployments_total", labels) or 0.0

    assert count("succeeded") == 1
    assert count("error") == 0


async def test_a_second_finish_is_refused(any_store: Store) -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    await any_store.enqueue(NewDeployment(cluster=1, action="version", version="a" * 40),
                            now=now)
    claim = await any_store.claim(owner="w", now=now, lease_s=30)
    assert claim is not None
    done = await any_store.finish(claim.deployment.id, fence=claim.fence,
                                  status=DeploymentStatus.SUCCEEDED, now=now)
    assert done.status is DeploymentStatus.SUCCEEDED
    with pytest.raises(LeaseLost):
        await any_store.finish(claim.deployment.id, fence=claim.fence,
                               status=DeploymentStatus.ERROR, now=now, error="again")
    stored = await any_store.get_deployment(claim.deployment.id)
    assert stored is not None and stored.status is DeploymentStatus.SUCCEEDED
