"""The outbox's shared, SQL-free parts: the row a sender claims, and a message's stored values.

Both engines keep the same columns (migrations `*_003_outbox.sql`); times are Unix seconds
(floats) so that lease and backoff arithmetic is the same everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relay.reports import MessageKind, OutboxMessage

PENDING_COLUMNS = ("id, kind, host, target, created_at, next_attempt_at, attempts, "
                   "lease_expires_at")
OUTBOX_COLUMNS = ("id, deployment_id, kind, host, target, coalesce_key, payload, created_at, "
                  "attempts")
INSERT_COLUMNS = ("deployment_id, kind, host, target, coalesce_key, payload, created_at, "
                  "next_attempt_at")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox message: the message, its row id, when it was written (Unix s) and
    how many delivery attempts it had before this one."""

    id: int
    message: OutboxMessage
    created_at: float
    attempts: int


def insert_values(message: OutboxMessage, now: float) -> tuple[Any, ...]:
    """The values of `INSERT_COLUMNS` for `message` written at `now` (Unix seconds)."""
    return (message.deployment_id, message.kind.value, message.host, message.target,
            message.key, json.dumps(message.to_json(), sort_keys=True), now,
            now + message.delay_s)


def row_from(row: Mapping[str, Any]) -> OutboxRow:
    """An `OutboxRow` from a database row with `OUTBOX_COLUMNS`."""
    message = OutboxMessage(
        deployment_id=int(row["deployment_id"]), kind=MessageKind(row["kind"]),
        host=str(row["host"]), target=str(row["target"]), key=row["coalesce_key"],
        payload=json.loads(row["payload"]))
    return OutboxRow(int(row["id"]), message, float(row["created_at"]), int(row["attempts"]))


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A report or notification of one deployment that is still in the outbox (the sender
    deletes a message once it is sent, failed for good or dropped, so only these are kept).

    `kind`: commit_status, deployment or notification; `host`: github, gitlab, gitea or
    "notify"; `target`: the commit status context, the environment or the sink's name (never
    a URL or secret); `attempts`: failed tries so far; `next_attempt_at`: not sent before
    then; `leased_until`: a sender claimed it and holds it until then (None: not claimed, or
released after a failed try). Times are aware UTC datetimes.
    """

    id: int
    kind: MessageKind
    host: str
    target: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    leased_until: datetime | None


def pending_from(row: Mapping[str, Any]) -> PendingMessage:
    """A `PendingMessage` from a database row with `PENDING_COLUMNS`."""
    lease = row["lease_expires_at"]
    return PendingMessage(
        id=int(row["id"]), kind=MessageKind(row["kind"]), host=str(row["host"]),
        target=str(row["target"]),
        created_at=datetime.fromtimestamp(float(row["created_at"]), UTC),
        next_attempt_at=datetime.fromtimestamp(float(row["next_attempt_at"]), UTC),
        attempts=int(row["attempts"]),
        leased_until=None if lease is None else datetime.fromtimestamp(float(lease), UTC))
