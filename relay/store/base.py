"""The store interface: what the web layer and the worker need from SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from relay.deployment import Deployment, DeploymentStatus, NewDeployment, iso
from relay.rollout import Observation
from relay.scheduling import History

if TYPE_CHECKING:
    from relay.store.admin_reads import DeliveryFilter, DeliverySummary, DeploymentFilter


class StoreError(Exception):
    """The store could not do what was asked (unreachable, disk full, locked): retry later."""


class LeaseLost(Exception):
    """Another worker took this deployment over (its fence moved on): stop working on it."""


@dataclass(frozen=True, slots=True)
class QueueSummary:
    counts: dict[DeploymentStatus, int]  # queued, triggering, rolling_out (absent: 0)
    oldest_queued_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A deployment this worker now holds the lease of, ready to run or to resume."""

    deployment: Deployment
    fence: int  # every write about this deployment must carry it
    snapshot: Observation | None  # the cluster before the trigger, once stored
    resumed: bool  # taken over from an expired lease (after a crash or on another replica)
    superseded: tuple[Deployment, ...] = ()  # older queued ones this claim finished


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A verified delivery to store, with the bytes and headers needed to forward it later."""

    delivery_id: str
    source: str
    delivery_key: str
    event: str
    event_name: str
    received_at: datetime
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    repo: str | None = None
    ref: str | None = None
    before: str | None = None
    after: str | None = None
    commit: str | None = None
    head_commit_at: datetime | None = None
    ignored: str | None = None


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    delivery: NewDelivery
    deployments: tuple[Deployment, ...]

    def to_json(self) -> dict[str, Any]:
        """The delivery object of `GET /api/deliveries/{id}` (body and headers left out)."""
        d = self.delivery
        return {
            "delivery_id": d.delivery_id,
            "source": d.source,
            "delivery_key": d.delivery_key,
            "event": d.event,
            "event_name": d.event_name,
            "received_at": iso(d.received_at),
            "repo": d.repo,
            "ref": d.ref,
            "before": d.before,
            "after": d.after,
            "commit": d.commit,
            "ignored": d.ignored,
            "content_type": d.content_type,
            "body_bytes": len(d.body),
            "deployments": [dep.to_json() for dep in self.deployments],
        }


@dataclass(frozen=True, slots=True)
class Accepted:
    delivery_id: str
    duplicate: bool
    deployments: tuple[Deployment, ...]


class Store(Protocol):
    """Implemented by SQLiteStore and PostgresStore; every method may raise StoreError."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when any process stores new work; return the way to unsubscribe.

        PostgreSQL: LISTEN/NOTIFY, so every replica's worker wakes. SQLite: nothing (one
        process; the web layer wakes its own worker). Missing a call only delays work until
        the worker's next idle poll.
        """
        ...

    async def accept(
        self, delivery: NewDelivery, deployments: Sequence[NewDeployment]
    ) -> Accepted:
        """Store the delivery and queue its deployments in one transaction, or find it stored."""
        ...

    async def get_delivery(self, delivery_id: str) -> StoredDelivery | None: ...

    async def get_deployment(self, deployment_id: int) -> Deployment | None: ...

    async def list_deployments(
        self,
        *,
        cluster: int | None = None,
        status: DeploymentStatus | None = None,
        limit: int = 50,
    ) -> tuple[Deployment, ...]: ...

    # -- the admin API's reads (relay.store.admin_reads) ---------------------------------

    async def query_deployments(self, query: DeploymentFilter) -> tuple[Deployment, ...]:
        """The deployments `query` names, newest first (cursor: `before_id`)."""
        ...

    async def query_deliveries(self, query: DeliveryFilter) -> tuple[DeliverySummary, ...]:
        """Summaries of the deliveries `query` names, newest first (cursor: `cursor`)."""
        ...

    async def known_versions(self, cluster: int, prefix: str) -> tuple[str, ...]:
        """Up to 10 distinct versions of `cluster`'s deployments that start with `prefix`."""
        ...

    async def enqueue(
        self, deployment: NewDeployment, *, delivery_id: str | None = None, now: datetime
    ) -> Deployment:
        """Queue one deployment outside a delivery (admin API: by hand, or a redelivery)."""
        ...

    async def queue_summary(self) -> QueueSummary:
        """Counts of the open statuses and the oldest queued deployment (cheap: open rows only)."""
        ...

    # -- the worker's side: claims with leases and fencing ---------------------------------

    async def claim(self, *, owner: str, now: datetime, lease_s: float) -> Claim | None:
        """Take the next deployment to work on, or None.

        First an active deployment whose lease expired (resume it); else, for a cluster with
        nothing active, the deployment `scheduling.plan` picks (the others are superseded).
        """
        ...

    async def renew(self, deployment_id: int, *, fence: int, now: datetime,
                    lease_s: float) -> None:
        """Extend the lease; raise LeaseLost when another worker holds it now."""
        ...

    async def save_snapshot(self, deployment_id: int, *, fence: int,
                            snapshot: Observation) -> None: ...

    async def save_progress(self, deployment_id: int, *, fence: int,
                            progress: dict[str, Any]) -> None: ...

    async def mark_rolling_out(self, deployment_id: int, *, fence: int,
                               triggered_at: datetime) -> None: ...

    async def finish(self, deployment_id: int, *, fence: int, status: DeploymentStatus,
                     now: datetime, error: str | None = None) -> Deployment:
        """Record a final status and drop the lease; raise LeaseLost if it is not ours."""
        ...

    async def release(self, deployment_id: int, *, fence: int) -> None:
        """Give the lease up at once (graceful shutdown): the next claim resumes it."""
        ...

    async def history(self, cluster: int) -> History: ...
