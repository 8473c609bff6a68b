"""The status page's reads of features the store may not offer yet (holds, quarantine, the
outbox), each turned into a small view; None when the store has no such method.

Expected store methods (duck-typed; rows may be objects with attributes or mappings):

- `list_holds(*, now: datetime) -> Sequence[row]`: active and upcoming holds; a row has
  `cluster: int`, `reason: str | None`, `until: datetime | None`, `since: datetime | None`,
  `kind: str` (e.g. "pause", "window") and `active: bool` (default True).
- `list_quarantine() -> Sequence[row]`: quarantined versions; `cluster`, `version`,
  `reason`, `since`.
- `outbox_for(deployment_id: int) -> Sequence[row]`: the reports and notifications of one
  deployment; `kind` ("commit_status", "deployment", a sink name), `target` (no secret:
  a host or sink name), `state` (pending, sent, failed, dropped), `attempts: int`,
  `updated_at: datetime | None`, `error: str | None`.
- `pause(cluster, *, reason: str, until: datetime | None, now: datetime)` and
  `resume(cluster, *, now: datetime)`: the holds the page's buttons place and lift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _get(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True, slots=True)
class HoldView:
    cluster: int
    kind: str
    reason: str | None
    since: datetime | None
    until: datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class QuarantineView:
    cluster: int
    version: str
    reason: str | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxView:
    kind: str
    target: str | None
    state: str
    attempts: int
    updated_at: datetime | None
    error: str | None


async def holds(store: Any, now: datetime) -> tuple[HoldView, ...] | None:
    """Active and next holds, or None when the store keeps none."""
    method = getattr(store, "list_holds", None)
    if method is None:
        return None
    rows: Sequence[Any] = await method(now=now)
    return tuple(HoldView(cluster=int(_get(r, "cluster")), kind=_text(_get(r, "kind")) or "hold",
                          reason=_text(_get(r, "reason")), since=_time(_get(r, "since")),
                          until=_time(_get(r, "until")), active=bool(_get(r, "active", True)))
                 for r in rows)


async def quarantine(store: Any) -> tuple[QuarantineView, ...] | None:
    """Quarantined versions, or None when the store keeps none."""
    method = getattr(store, "list_quarantine", None)
    if method is None:
        return None
    rows: Sequence[Any] = await method()
    return tuple(QuarantineView(cluster=int(_get(r, "cluster")),
                                version=str(_get(r, "version", "")),
                                reason=_text(_get(r, "reason")), since=_time(_get(r, "since")))
                 for r in rows)


async def outbox(store: Any, deployment_id: int) -> tuple[OutboxView, ...] | None:
    """The reports and notifications of one deployment, or None when there is no outbox."""
    method = getattr(store, "outbox_for", None)
    if method is None:
        return None
    rows: Sequence[Any] = await method(deployment_id)
    return tuple(OutboxView(kind=_text(_get(r, "kind")) or "message",
                            target=_text(_get(r, "target")),
                            state=_text(_get(r, "state")) or "unknown",
                            attempts=int(_get(r, "attempts", 0) or 0),
                            updated_at=_time(_get(r, "updated_at")),
                            error=_text(_get(r, "error")))
                 for r in rows)


def can_pause(store: Any) -> bool:
    """Whether the store can place and lift pauses (the gates feature)."""
    return callable(getattr(store, "pause", None)) and callable(getattr(store, "resume", None))
