"""Row <-> value conversions shared by the SQL stores (columns are named alike in both)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any, Protocol

from relay.deployment import Deployment, DeploymentStatus, parse_iso
from relay.store.base import NewDelivery, QueueSummary


class Row(Protocol):
    """What both sqlite3.Row and asyncpg.Record offer: values by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


DEPLOYMENT_COLUMNS = (
    "id, cluster, action, version, source, repo, ref, delivery_id, status, created_at, "
    "triggered_at, finished_at, error, superseded_by, before_sha, head_commit_at, manual, "
    "attempts, route_index, progress"
)
DELIVERY_COLUMNS = (
    "delivery_id, source, delivery_key, event, event_name, received_at, content_type, headers, "
    "body, repo, ref, before_sha, after_sha, commit_sha, head_commit_at, ignored"
)


def deployment_from_row(row: Row) -> Deployment:
    created = parse_iso(_text(row["created_at"]))
    assert created is not None  # NOT NULL column
    return Deployment(
        id=int(row["id"]),
        cluster=int(row["cluster"]),
        action=row["action"],
        version=row["version"],
        source=row["source"],
        repo=row["repo"],
        ref=row["ref"],
        delivery_id=row["delivery_id"],
        status=DeploymentStatus(row["status"]),
        created_at=created,
        triggered_at=parse_iso(_text(row["triggered_at"])),
        finished_at=parse_iso(_text(row["finished_at"])),
        error=row["error"],
        superseded_by=row["superseded_by"],
        before=row["before_sha"],
        head_commit_at=parse_iso(_text(row["head_commit_at"])),
        manual=bool(row["manual"]),
        attempts=int(row["attempts"]),
        route_index=row["route_index"],
        progress=json.loads(row["progress"]) if row["progress"] else None,
    )


def delivery_from_row(row: Row) -> NewDelivery:
    received = parse_iso(_text(row["received_at"]))
    assert received is not None
    return NewDelivery(
        delivery_id=row["delivery_id"],
        source=row["source"],
        delivery_key=row["delivery_key"],
        event=row["event"],
        event_name=row["event_name"],
        received_at=received,
        content_type=row["content_type"],
        headers=tuple((str(k), str(v)) for k, v in json.loads(row["headers"])),
        body=bytes(row["body"]),
        repo=row["repo"],
        ref=row["ref"],
        before=row["before_sha"],
        after=row["after_sha"],
        commit=row["commit_sha"],
        head_commit_at=parse_iso(_text(row["head_commit_at"])),
        ignored=row["ignored"],
    )


def summary_from_rows(rows: Iterable[tuple[str, int, Any]]) -> QueueSummary:
    """(status, count, oldest created_at) rows of the open statuses -> QueueSummary."""
    counts: dict[DeploymentStatus, int] = {}
    oldest = None
    for status, count, first in rows:
        counts[DeploymentStatus(status)] = int(count)
        if status == DeploymentStatus.QUEUED.value:
            oldest = parse_iso(_text(first))
    return QueueSummary(counts=counts, oldest_queued_at=oldest)


def headers_json(headers: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([list(pair) for pair in headers])


def migrations(engine: str) -> list[tuple[int, str]]:
    """The numbered migration scripts of one engine, in order: [(1, sql), (2, sql), ...]."""
    found = []
    for entry in resources.files("relay.store.migrations").iterdir():
        name = entry.name
        if name.startswith(f"{engine}_") and name.endswith(".sql"):
            found.append((int(name.split("_")[1]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()
