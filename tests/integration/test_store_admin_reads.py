"""The admin API's reads (relay.store.admin_reads) on both stores: filters and cursor pages."""

from __future__ import annotations

from datetime import timedelta

from relay.deployment import DeploymentStatus, NewDeployment
from relay.store import Store
from relay.store.admin_reads import DeliveryFilter, DeploymentFilter
from tests.integration.test_store import NOW, delivery, planned, store  # noqa: F401 - fixture


async def test_deployment_filters_and_cursor(store: Store) -> None:  # noqa: F811
    await store.accept(delivery("k1"), [planned(10702), planned(10800)])
    later = NOW + timedelta(hours=1)
    await store.accept(delivery("k2", received_at=later, repo="acme/api"),
                       [NewDeployment(cluster=10703, action="version", version="c" * 40,
                                      repo="acme/api")])
    hand = await store.enqueue(NewDeployment(cluster=10702, action="hook", version="d" * 40,
                                             manual=True), now=later)
    ids = [d.id for d in await store.query_deployments(DeploymentFilter())]
    assert ids == sorted(ids, reverse=True) and len(ids) == 4
    first = await store.query_deployments(DeploymentFilter(limit=2))
    rest = await store.query_deployments(DeploymentFilter(before_id=first[-1].id))
    assert [d.id for d in first + rest] == ids
    by_repo = await store.query_deployments(DeploymentFilter(repo="acme/api"))
    assert [d.cluster for d in by_repo] == [10703]
    manual = await store.query_deployments(DeploymentFilter(kind="manual"))
    assert [d.id for d in manual] == [hand.id]
    pushes = await store.query_deployments(DeploymentFilter(kind="push", cluster=10702))
    assert [d.version for d in pushes] == ["b" * 40]
    since = await store.query_deployments(DeploymentFilter(since=later))
    assert {d.cluster for d in since} == {10703, 10702} and len(since) == 2
    queued = await store.query_deployments(DeploymentFilter(status=DeploymentStatus.QUEUED))
    assert len(queued) == 4
    assert await store.query_deployments(DeploymentFilter(kind="redelivery")) == ()


async def test_delivery_list_and_cursor(store: Store) -> None:  # noqa: F811
    for i in range(5):
        await store.accept(delivery(f"k{i}", received_at=NOW + timedelta(seconds=i),
                                    event="ping" if i == 0 else "push"), [])
    page = await store.query_deliveries(DeliveryFilter(limit=2))
    assert [d.delivery_id for d in page] == ["github-k4", "github-k3"]
    assert page[0].body_bytes == len(b'{"ref": "refs/heads/main"}')
    rest = await store.query_deliveries(DeliveryFilter(cursor=(page[-1].received_at,
                                                               page[-1].delivery_id)))
    assert [d.delivery_id for d in rest] == ["github-k2", "github-k1", "github-k0"]
    pings = await store.query_deliveries(DeliveryFilter(event="ping"))
    assert [d.delivery_id for d in pings] == ["github-k0"]
    recent = await store.query_deliveries(DeliveryFilter(since=NOW + timedelta(seconds=3)))
    assert len(recent) == 2


async def test_known_versions_by_prefix(store: Store) -> None:  # noqa: F811
    await store.accept(delivery("k1"), [planned(10702, version="abcdef1" + "0" * 33),
                                        planned(10800, version="abcdef2" + "0" * 33)])
    assert await store.known_versions(10702, "abcdef") == ("abcdef1" + "0" * 33,)
    assert await store.known_versions(10702, "ffff") == ()
