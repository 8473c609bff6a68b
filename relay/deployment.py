"""Deployment values shared by the store, the worker and the admin API (pure: no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

    @property
    def is_open(self) -> bool:
        """Queued, triggering or rolling out: the deployment may still change."""
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({DeploymentStatus.QUEUED, DeploymentStatus.TRIGGERING,
                           DeploymentStatus.ROLLING_OUT})
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _coerce(self.action, Action))
        object.__setattr__(self, "source", _coerce(self.source, Source))


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _coerce(self.action, Action))
        object.__setattr__(self, "source", _coerce(self.source, Source))

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
        }


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and a Z suffix, or None (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of `iso` (any ISO 8601 string with an offset or a Z), or None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
