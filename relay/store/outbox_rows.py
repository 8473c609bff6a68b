"""The outbox's shared, SQL-free parts: the row a sender claims, and a message's stored values.

Both engines keep the same columns (migrations `*_003_outbox.sql`); times are Unix seconds
(floats) so that lease and backoff arithmetic is the same everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relay.reports import MessageKind, OutboxMessage

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
