"""The store interface: what the web layer and the worker need from SQLite or PostgreSQL.

Invariants every implementation keeps (tests/integration/test_store.py runs them on both):

- **Fence on every write.** A claim moves the deployment's `fence` on and hands it out; every
  later write about that deployment (renew, snapshot, progress, rolling out, finish, release)
  says `WHERE id = ? AND fence = ?` and raises LeaseLost when the fence moved: a worker whose
  lease was taken over (or whose deployment was canceled) writes nothing.
- **One active deployment per cluster.** At most one deployment of a cluster is `triggering`
  or `rolling_out`; SQLite by its single writer, PostgreSQL by a per-cluster transaction lock
  backed by a partial unique index.
- **Atomic claim.** Choosing a deployment, moving it to `triggering` and taking its lease is
  one transaction: two workers never hold the same deployment.
- **Supersede inside the claim.** The queued deployments `scheduling.plan` does not pick are
  ended `superseded` in the same transaction as the claim of the one it picks.
- **Finish moves only an open deployment.** `finish` and `cancel` end a deployment that is
  still queued, triggering or rolling out, and move the fence on; a second `finish` (or a
  finish after a cancel) is refused with LeaseLost, so a deployment ends exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from relay.deployment import Deployment, DeploymentStatus, NewDeployment, iso
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.rollout import Observation
from relay.scheduling import History

if TYPE_CHECKING:
    from relay.store.admin_reads import DeliveryFilter, DeliverySummary, DeploymentFilter
    from relay.store.outbox_rows import PendingMessage
    from relay.store.retention_sql import Keep


class StoreError(Exception):
    """The store could not do what was asked (unreachable, disk full, locked): retry later."""


class LeaseLost(Exception):
    """Another worker took this deployment over, or it ended (its fence moved on): stop."""


class NotFound(LookupError):
    """No deployment with that id."""


class Conflict(Exception):
    """The deployment is already final: it cannot be canceled (or finished) again."""

    def __init__(self, message: str, deployment: Deployment) -> None:
        super().__init__(message)
        self.deployment = deployment


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
    history: History | None = None  # the cluster's history as the claim's plan read it


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

    async def ping(self) -> None:
        """A cheap read; raise StoreError when the store cannot be reached or is gone."""
        ...

    async def ready(self) -> None:
        """Raise StoreError unless the store can take writes now.

        Not ready when the last write failed (until a write succeeds again) or when a small
        write probe fails (SQLite: also when the path no longer names the open file).
        """
        ...

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
        """Extend the lease to `now` (the worker's clock) + `lease_s`; raise LeaseLost when
        another worker holds it now or the deployment ended (canceled)."""
        ...

    async def save_snapshot(self, deployment_id: int, *, fence: int,
                            snapshot: Observation) -> None:
        """Store the cluster as seen before the trigger (a resume judges against it)."""
        ...

    async def save_progress(self, deployment_id: int, *, fence: int,
                            progress: dict[str, Any]) -> None: ...

    async def mark_rolling_out(self, deployment_id: int, *, fence: int,
                               triggered_at: datetime) -> None: ...

    async def mark_triggering(self, deployment_id: int, *, fence: int, now: datetime,
                              snapshot: Observation | None = None) -> None:
        """Record that a trigger attempt starts now (`trigger_started_at`), and with
        `snapshot` the cluster as seen before it (what `save_snapshot` stores), in the same
        transaction: a first attempt costs one write, not two."""
        ...

    async def finish(self, deployment_id: int, *, fence: int, status: DeploymentStatus,
                     now: datetime, error: str | None = None) -> Deployment:
        """Record a final status, drop the lease and move the fence; return the final row.

        Raise LeaseLost when the fence is not ours or the deployment is no longer open (it
        was finished, canceled or taken over): a deployment ends once.
        """
        ...

    async def cancel(self, deployment_id: int, *, now: datetime, reason: str) -> Deployment:
        """End a queued or active deployment `canceled` with `reason`; move its fence.

        A worker following it gets LeaseLost on its next write. Raise NotFound for an
        unknown id and Conflict for a deployment already final.
        """
        ...

    async def last_successes(self) -> dict[int, datetime]:
        """cluster -> finished_at of its newest succeeded deployment (primes a gauge)."""
        ...

    async def release(self, deployment_id: int, *, fence: int) -> None:
        """Give the lease up at once (graceful shutdown): the next claim resumes it."""
        ...

    async def history(self, cluster: int) -> History:
        """What was triggered on `cluster` (newest 200, refused ones left out), for the
        "older" rules of relay/scheduling.py; built from rows by rows.history_from_rows."""
        ...

    # -- catch-up (relay.reconcile; SQL in *_catchup.py) ------------------------------------

    async def head_known(self, *, source: str, repo: str, ref: str, sha: str,
                         clusters: Sequence[int]) -> bool:
        """True when a stored delivery brought `sha` to `ref` (source and ref as stored), or
        `sha` was triggered on one of `clusters`."""
        ...

    async def last_head(self, *, source: str, repo: str, ref: str) -> str | None:
        """The head the newest stored delivery of `ref` brought (None: none, or a deletion)."""
        ...

    async def take_reconcile_lease(self, *, owner: str, now: datetime, hold_s: float) -> bool:
        """Take (or keep, when `owner` holds it) the single catch-up lease until
        now + hold_s seconds; False while another owner holds it."""
        ...

    # -- retention and schema (relay.retention; SQL in *_retention.py) ----------------------

    async def prune_keep(self) -> Keep:
        """What a prune run must keep: protected deployment ids, optional-table guards."""
        ...

    async def count_prunable(self, *, deliveries_before: datetime, deployments_before: datetime,
                             keep: Keep) -> tuple[int, int]:
        """(deliveries, deployments) a prune would remove now (`relay prune --dry-run`)."""
        ...

    async def prune_deployments(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete at most `limit` final deployments created before `before` that `keep` does
        not protect, in one short transaction; returns how many."""
        ...

    async def prune_deliveries(self, *, before: datetime, keep: Keep, limit: int) -> int:
        """Delete at most `limit` deliveries received before `before` that no deployment
        refers to, in one short transaction; returns how many."""
        ...

    async def give_back_space(self) -> int:
        """One small step of giving freed space back to the file system; free pages left."""
        ...

    async def schema_versions(self) -> list[tuple[int, str]]:
        """(version, applied_at ISO 8601) of every applied migration, oldest first."""

    # -- deploy gates (docs/gates.md) -------------------------------------------------------

    async def gate_waiting(self) -> tuple[Deployment, ...]:
        """Every `held` / `waiting_checks` deployment and the `queued` ones of their
        clusters, oldest first: what the gate pass (relay.gatekeeper) decides about."""
        ...

    async def gate_move(self, deployment_id: int, *, expect: DeploymentStatus,
                        to: DeploymentStatus, now: datetime, superseded_by: int | None = None,
                        error: str | None = None) -> Deployment | None:
        """Move a deployment from `expect` to `to` only while it is still `expect` (a final
        `to` sets finished_at): the moved row, or None when another writer was first.
        Several replicas applying the same decision move it once."""
        ...

    async def hold_claimed(self, deployment_id: int, *, fence: int, now: datetime) -> bool:
        """A fresh claim (`triggering`, not triggered) that a hold covers goes back to `held`,
        letting its lease go; False when the fence moved (canceled, taken over). Like every
        status change, it writes its outbox messages in the same transaction (as gate_move)."""
        ...

    async def pauses(self) -> tuple[Pause, ...]:
        """Every pause by hand (at most one per cluster), expired ones included."""
        ...

    async def set_pause(self, pause: Pause) -> None:
        """Pause `pause.cluster` (replacing its pause, if any)."""
        ...

    async def clear_pause(self, cluster: int) -> bool:
        """Resume `cluster`; False when it was not paused."""
        ...

    async def quarantine(self) -> tuple[QuarantineEntry, ...]:
        """Every quarantined (cluster, version); versions stored in lower case."""
        ...

    async def add_quarantine(self, entry: QuarantineEntry) -> None:
        """Quarantine `entry.version` on `entry.cluster` (replacing an older entry)."""
        ...

    async def clear_quarantine(self, cluster: int, version: str) -> bool:
        """Lift a quarantine; False when there was none."""
        ...

    # -- the outbox (docs/reporting.md) -----------------------------------------------------

    async def outbox_for(self, deployment_id: int) -> tuple[PendingMessage, ...]:
        """The reports and notifications of `deployment_id` still waiting in the outbox, oldest
        first (at most 100). Sent, failed-for-good and dropped messages are deleted by the
        sender, so they are never among them; an empty tuple for an unknown deployment."""
        ...

    async def link_rollback(self, failed_id: int, rollback_id: int) -> None:
        """Record `rolled_back_by` on the failed deployment."""
        ...

    async def last_succeeded_version(self, cluster: int) -> str | None:
        """The version of the newest `succeeded` deployment of `cluster`, or None."""
        ...
