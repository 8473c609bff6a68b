"""Deployment values shared by the store, the worker and the admin API (pure: no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from relay.config import Action
from relay.events import Source


class DeploymentStatus(enum.StrEnum):
    """The statuses of a deployment (docs/operations.md, "Deployments")."""

    QUEUED = "queued"
    TRIGGERING = "triggering"
    ROLLING_OUT = "rolling_out"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"
    ERROR = "error"
    CANCELED = "canceled"  # stopped by hand: relay stops following it, never touches the platform
    WAITING_CHECKS = "waiting_checks"  # gate: the commit's checks are not green yet
    HELD = "held"  # gate: a hold (freeze window or pause) covers the cluster

    @property
    def is_open(self) -> bool:
        """Waiting at a gate, queued, triggering or rolling out: it may still change."""
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({DeploymentStatus.QUEUED, DeploymentStatus.TRIGGERING,
                           DeploymentStatus.ROLLING_OUT, DeploymentStatus.WAITING_CHECKS,
                           DeploymentStatus.HELD})


class WaitingStatus(enum.StrEnum):
    """The statuses of a deployment that has not started: two gates, then the queue.

    The same spellings as DeploymentStatus (a StrEnum: `WaitingStatus.HELD == "held"`).
    """

    WAITING_CHECKS = "waiting_checks"  # the commit's checks are not green yet
    HELD = "held"  # a hold covers the cluster
    QUEUED = "queued"  # waits only for the cluster's running deployment


class DeploymentKind(enum.StrEnum):
    """Why a deployment exists (docs/operations.md, `kind`)."""

    PUSH = "push"
    MANUAL = "manual"
    REDELIVERY = "redelivery"
    ROLLBACK = "rollback"
    CATCH_UP = "catch_up"

    @property
    def automatic(self) -> bool:
        """Brought by a git host rather than asked for: quarantine and rollback apply.

        A redelivery replays a stored push, so it counts as automatic here (issue 13: "a
        redelivery of X is skipped (quarantined)"); a rollback is relay's own and is exempt.
        """
        return self in (DeploymentKind.PUSH, DeploymentKind.REDELIVERY, DeploymentKind.CATCH_UP)
FINAL_STATUSES = frozenset(DeploymentStatus) - OPEN_STATUSES


def _coerce(value: Any, kind: type[enum.StrEnum]) -> Any:
    """An enum member for a member or its string value (callers that still pass `.value`)."""
    return value if value is None or isinstance(value, kind) else kind(value)


@dataclass(frozen=True, slots=True)
class NewDeployment:
    """A deployment to queue: from a matched route, a manual request or a redelivery."""

    cluster: int
    action: Action
    version: str
    source: Source | None = None
    repo: str | None = None
    ref: str | None = None
    before: str | None = None  # the push's `before`, for the "older commit" rule
    head_commit_at: datetime | None = None
    manual: bool = False  # deliberate (admin API): never skipped for being older
    route_index: int | None = None
    forced: bool = False  # a force push (GitHub "forced": true): never older
    # Deploy gates (docs/gates.md): why it exists; its first status (queued, held or
    # waiting_checks); the reason of a manual override of a hold; the deployment it rolls back.
    kind: DeploymentKind | None = None  # None: MANUAL when `manual`, else PUSH
    status: DeploymentStatus = DeploymentStatus.QUEUED
    override_reason: str | None = None
    rollback_of: int | None = None
    # The payload's file lists were incomplete and the source has an api: the worker asks
    # the host's compare API before the deployment may run (docs/gates.md, "Path filters").
    needs_compare: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _coerce(self.action, Action))
        object.__setattr__(self, "source", _coerce(self.source, Source))
        kind = _coerce(self.kind, DeploymentKind)
        if kind is None:
            kind = DeploymentKind.MANUAL if self.manual else DeploymentKind.PUSH
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "status", _coerce(self.status, DeploymentStatus))


@dataclass(frozen=True, slots=True)
class Deployment:
    """A stored deployment, as the admin API shows it."""

    id: int
    cluster: int
    action: Action
    version: str
    source: Source | None
    repo: str | None
    ref: str | None
    delivery_id: str | None
    status: DeploymentStatus
    created_at: datetime
    triggered_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    superseded_by: int | None = None
    before: str | None = None
    head_commit_at: datetime | None = None
    manual: bool = False
    attempts: int = 0
    route_index: int | None = None
    progress: dict[str, Any] | None = None  # latest rollout progress seen by the worker
    forced: bool = False  # a force push: never older (docs/operations.md, "Deployments")
    trigger_started_at: datetime | None = None  # when the last trigger attempt began
    kind: DeploymentKind | None = None  # None: MANUAL when `manual`, else PUSH
    rollback_of: int | None = None  # the failed deployment this one rolls back
    rolled_back_by: int | None = None  # the rollback deployment queued after this one failed
    override_reason: str | None = None  # a manual deployment that overrode a hold: why
    needs_compare: bool = False  # file lists incomplete: ask the compare API before running

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _coerce(self.action, Action))
        object.__setattr__(self, "source", _coerce(self.source, Source))
        kind = _coerce(self.kind, DeploymentKind)
        if kind is None:
            kind = DeploymentKind.MANUAL if self.manual else DeploymentKind.PUSH
        object.__setattr__(self, "kind", kind)

    def to_json(self) -> dict[str, Any]:
        """The deployment object of the admin API (`GET /api/deployments/{id}`)."""
        return {
            "id": self.id,
            "cluster": self.cluster,
            "action": self.action.value,
            "version": self.version,
            "source": self.source.value if self.source is not None else None,
            "repo": self.repo,
            "ref": self.ref,
            "delivery_id": self.delivery_id,
            "status": self.status.value,
            "created_at": iso(self.created_at),
            "triggered_at": iso(self.triggered_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "superseded_by": self.superseded_by,
            "manual": self.manual,
            "attempts": self.attempts,
            "progress": self.progress,
            "kind": self.kind_value,
            "rollback_of": self.rollback_of,
            "rolled_back_by": self.rolled_back_by,
            "override_reason": self.override_reason,
        }

    @property
    def kind_value(self) -> str:
        """`kind` as its string (never None after construction)."""
        return (self.kind or DeploymentKind.PUSH).value


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a Z suffix, or None (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@overload
def to_millis(value: datetime) -> datetime: ...
@overload
def to_millis(value: None) -> None: ...
def to_millis(value: datetime | None) -> datetime | None:
    """`parse_iso(iso(value))` without the text: aware UTC, cut to the millisecond (what a
    time read back from the store holds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of `iso` (any ISO 8601 string with an offset or a Z), or None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
