"""A running relay (worker included) wired to a simulator on loopback, for end-to-end tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.clock import Clock
from relay.cluster import ClusterClient, RetryPolicy
from relay.config import Settings
from relay.deployment import Deployment, DeploymentStatus
from relay.follow import FollowSettings
from relay.gates.holds import ScheduledHold
from relay.simulator import SIM_FAULTS, SIM_STATE, create_simulator_app, parse_fault
from relay.store import Store
from relay.typedefs import API, STORE, WORKER
from relay.worker import WorkerSettings
from tests.factories import API_TOKEN, make_settings, routes
from tests.fakes import Finals, Statuses
from tests.payloads import github_headers, github_push

FAST = WorkerSettings(
    rollout_timeout_s=20, lease_s=5, idle_poll_s=0.05, shutdown_grace_s=1,
    follow=FollowSettings(watch_timeout_s=2, request_timeout_s=2, min_poll_interval_s=0.01,
                          max_error_backoff_s=0.05),
)


@dataclass
class Harness:
    client: TestClient[Any, Any]
    sim: TestServer
    api: ClusterClient
    finals: Finals
    statuses: Statuses
    registry: CollectorRegistry

    @property
    def state(self) -> Any:
        return self.sim.app[SIM_STATE]

    @property
    def store(self) -> Store:
        return self.client.app[STORE]

    def fault(self, spec: str) -> None:
        self.sim.app[SIM_FAULTS].add(parse_fault(spec))

    async def push(self, repo: str = "acme/shop", ref: str = "refs/heads/main", **kw: Any
                   ) -> list[int]:
        body = github_push(repo, ref, **kw)
        resp = await self.client.post("/hooks/github", data=body, headers=github_headers(body))
        assert resp.status == 202, await resp.text()
        return [d["id"] for d in (await resp.json())["deployments"]]

    async def final(self, dep_id: int, within: float = 15.0) -> Deployment:
        return await self.finals.wait(dep_id, within)

    async def wait_status(self, dep_id: int, status: DeploymentStatus) -> None:
        await self.statuses.wait(dep_id, status)

    def puts(self, cluster: int) -> list[Any]:
        return list(self.state.put_bodies.get(cluster, []))


Factory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def harness(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                  tmp_path: Path) -> AsyncIterator[Factory]:
    servers: list[TestServer] = []

    async def build(*, step_s: float = 0.02, clock: Clock | None = None,
                    worker: WorkerSettings = FAST, public_url: str | None = None,
                    settings: Settings | None = None, watch_timeout_s: float = 2.0,
                    store: Store | None = None,
                    before_start: Callable[[TestServer, Settings], Awaitable[None]] | None = None,
                    listeners: Sequence[Callable[[Deployment], None]] = (),
                    outbox: Any = None,
                    configure: Callable[[Settings], Settings] | None = None,
                    run_background: bool | None = None,
                    adjust: Callable[[Settings], Settings] | None = None,
                    holds: tuple[ScheduledHold, ...] = (),
                    route_changes: dict[str, Any] | None = None,
                    ) -> Harness:
        sim = TestServer(create_simulator_app(token=API_TOKEN, step_s=step_s,
                                              public_url=public_url, watch_timeout_s=5))
        await sim.start_server()
        servers.append(sim)
        base = str(sim.make_url("")).rstrip("/")
        settings = settings or make_settings(tmp_path, base_url=base, routes=routes(vc=True))
        if configure is not None:
            settings = configure(settings)
        if adjust is not None:
            settings = adjust(settings)
        api = settings.cluster_api
        settings = dataclasses.replace(settings, cluster_api=dataclasses.replace(
            api, request_timeout_s=2.0, watch_timeout_s=watch_timeout_s))
        if holds or route_changes:  # deploy gates: holds, and keys of the first route
            first = dataclasses.replace(settings.routes[0], **(route_changes or {}))
            settings = dataclasses.replace(settings, holds=holds or settings.holds,
                                           routes=(first, *settings.routes[1:]))
        if before_start is not None:
            await before_start(sim, settings)
        registry = CollectorRegistry()
        app = create_app(settings, store=store, clock=clock, registry=registry,
                         worker_settings=worker,
                         retry=RetryPolicy.no_wait(attempts=4), outbox=outbox,
                         run_background=run_background)
        client = await aiohttp_client(app)
        finals, statuses = Finals(), Statuses()
        for listener in listeners:  # called before the harness's own
            client.app[WORKER].add_listener(listener)
        client.app[WORKER].add_listener(finals)
        client.app[WORKER].add_status_listener(statuses)
        return Harness(client, sim, client.app[API], finals, statuses, registry)

    yield build
    for server in servers:
        await server.close()
