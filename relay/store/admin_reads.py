"""Read-only queries of the admin API (filtered, cursor-paged lists), for both SQL stores.

The filters are values; `deployment_query` and `delivery_query` turn them into one SELECT
in either dialect (`?` placeholders for SQLite, `$n` for PostgreSQL). Pages are newest
first; the cursor is the last row's key, so a page never repeats or skips a row that was
there when the first page was read, whatever is inserted meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from relay.deployment import DeploymentStatus, iso, parse_iso
from relay.store.rows import DEPLOYMENT_COLUMNS, Row

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class DeploymentFilter:
    """Which deployments to list: every given field must match; `before_id` is the cursor."""

    cluster: int | None = None
    status: DeploymentStatus | None = None
    repo: str | None = None
    kind: str | None = None  # push, manual, redelivery, rollback, catch_up
    since: datetime | None = None  # created at or after
    before_id: int | None = None  # only ids below this one
    limit: int = 50


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    source: str | None = None
    repo: str | None = None
    event: str | None = None
    since: datetime | None = None  # received at or after
    cursor: tuple[datetime, str] | None = None  # (received_at, delivery_id) of the last seen
    limit: int = 50


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    """One row of `GET /api/deliveries` (no body, no headers)."""

    delivery_id: str
    source: str
    event: str
    event_name: str
    received_at: datetime
    repo: str | None
    ref: str | None
    commit: str | None
    ignored: str | None
    body_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "source": self.source, "event": self.event,
                "event_name": self.event_name, "received_at": iso(self.received_at),
                "repo": self.repo, "ref": self.ref, "commit": self.commit,
                "ignored": self.ignored, "body_bytes": self.body_bytes}

    def cursor(self) -> str:
        return encode_cursor(self.received_at, self.delivery_id)


DELIVERY_SUMMARY_COLUMNS = ("delivery_id, source, event, event_name, received_at, repo, ref, "
                            "commit_sha, ignored, {length}(body) AS body_bytes")


class _Params:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.args.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.args)}"

    def time(self, value: datetime) -> str:
        return self(iso(value) if self.dialect == "sqlite" else value)


def deployment_query(f: DeploymentFilter, dialect: Dialect) -> tuple[str, list[Any]]:
    """SELECT of the deployments `f` names, newest first, at most `f.limit` rows."""
    p = _Params(dialect)
    where: list[str] = []
    if f.cluster is not None:
        where.append(f"cluster = {p(f.cluster)}")
    if f.status is not None:
        where.append(f"status = {p(f.status.value)}")
    if f.repo is not None:
        where.append(f"repo = {p(f.repo)}")
    if f.kind is not None:
        where.append(f"kind = {p(f.kind)}")
    if f.since is not None:
        where.append(f"created_at >= {p.time(f.since)}")
    if f.before_id is not None:
        where.append(f"id < {p(f.before_id)}")
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    sql = (f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments {clause}"
           f"ORDER BY id DESC LIMIT {p(f.limit)}")
    return sql, p.args


def delivery_query(f: DeliveryFilter, dialect: Dialect) -> tuple[str, list[Any]]:
    """SELECT of the delivery summaries `f` names, newest first, at most `f.limit` rows."""
    p = _Params(dialect)
    where: list[str] = []
    if f.source is not None:
        where.append(f"source = {p(f.source)}")
    if f.repo is not None:
        where.append(f"repo = {p(f.repo)}")
    if f.event is not None:
        where.append(f"event = {p(f.event)}")
    if f.since is not None:
        where.append(f"received_at >= {p.time(f.since)}")
    if f.cursor is not None:
        at, last_id = f.cursor
        t1, t2, i = p.time(at), p.time(at), p(last_id)
        where.append(f"(received_at < {t1} OR (received_at = {t2} AND delivery_id < {i}))")
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    columns = DELIVERY_SUMMARY_COLUMNS.format(
        length="length" if dialect == "sqlite" else "octet_length")
    sql = (f"SELECT {columns} FROM deliveries {clause}"
           f"ORDER BY received_at DESC, delivery_id DESC LIMIT {p(f.limit)}")
    return sql, p.args


def known_versions_query(cluster: int, prefix: str, dialect: Dialect,
                         limit: int = 10) -> tuple[str, list[Any]]:
    """SELECT DISTINCT of the versions deployed (or asked for) on `cluster` starting with
    `prefix` (a hex string: no LIKE wildcards can occur in it)."""
    p = _Params(dialect)
    sql = (f"SELECT DISTINCT version FROM deployments WHERE cluster = {p(cluster)} "
           f"AND version LIKE {p(prefix + '%')} ORDER BY version LIMIT {p(limit)}")
    return sql, p.args


def delivery_summary_from_row(row: Row) -> DeliverySummary:
    raw = row["received_at"]
    received = parse_iso(raw if isinstance(raw, str) else raw.isoformat())
    assert received is not None  # NOT NULL column
    return DeliverySummary(
        delivery_id=row["delivery_id"], source=row["source"], event=row["event"],
        event_name=row["event_name"], received_at=received, repo=row["repo"],
        ref=row["ref"], commit=row["commit_sha"], ignored=row["ignored"],
        body_bytes=int(row["body_bytes"] or 0))


def encode_cursor(at: datetime, delivery_id: str) -> str:
    """An opaque page cursor for deliveries: the last row's receive time and id."""
    text = f"{at.astimezone(UTC).isoformat()}|{delivery_id}"
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(value: str) -> tuple[datetime, str] | None:
    """Inverse of `encode_cursor`, or None when `value` is not one."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        at, _, delivery_id = text.partition("|")
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None or not delivery_id:
            return None
        return parsed.astimezone(UTC), delivery_id
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        return None
