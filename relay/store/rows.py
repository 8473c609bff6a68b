"""What the SQL stores share, free of SQL dialect: column lists, row <-> value conversions,
the cluster history built from rows, and the queue-summary query (columns named alike in both).

The claims stay in sqlite_queue.py and postgres_queue.py: their locking differs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import resources
from typing import Any, Protocol, TypeVar

import orjson

from relay.deployment import (
    OPEN_STATUSES,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    NewDeployment,
    parse_iso,
    to_millis,
)
from relay.scheduling import History, HistoryEntry
from relay.store.base import NewDelivery, QueueSummary

T = TypeVar("T")


class Row(Protocol):
    """What both sqlite3.Row and asyncpg.Record offer: values by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


DEPLOYMENT_COLUMNS = (
    "id, cluster, action, version, source, repo, ref, delivery_id, status, created_at, "
    "triggered_at, finished_at, error, superseded_by, before_sha, head_commit_at, manual, "
    "attempts, route_index, progress, forced, trigger_started_at, kind, rollback_of, "
    "rolled_back_by, override_reason, needs_compare"
)
# The columns a new deployment is inserted with, in the order of `insert_values`.
INSERT_COLUMNS = (
    "cluster, action, version, source, repo, ref, delivery_id, route_index, manual, before_sha, "
    "head_commit_at, forced, status, created_at, kind, override_reason, rollback_of, "
    "needs_compare"
)
OPEN = tuple(s.value for s in sorted(OPEN_STATUSES))  # ('queued', 'rolling_out', 'triggering')
_OPEN_SQL = ", ".join(f"'{s}'" for s in OPEN)
# Open rows only (an index range, cheap however long the history): QueueSummary's source.
QUEUE_SUMMARY_SQL = (
    "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM deployments "
    f"WHERE status IN ({_OPEN_SQL}) GROUP BY status"
)
# What `history_from_rows` reads: newest first, triggered and not refused (one placeholder
# for the cluster, one for the depth, in each dialect's own spelling).
HISTORY_COLUMNS = "version, before_sha, head_commit_at, created_at"
HISTORY_WHERE = "triggered_at IS NOT NULL AND status != 'error'"
HISTORY_ORDER = "ORDER BY triggered_at DESC, id DESC"
HISTORY_DEPTH = 200
DELIVERY_COLUMNS = (
    "delivery_id, source, delivery_key, event, event_name, received_at, content_type, headers, "
    "body, repo, ref, before_sha, after_sha, commit_sha, head_commit_at, ignored"
)


_DEPLOYMENT_NAMES = [name.strip() for name in DEPLOYMENT_COLUMNS.split(",")]
_N_DEPLOYMENT = len(_DEPLOYMENT_NAMES)


def deployment_from_row(row: Row) -> Deployment:
    """The Deployment of a row that has the columns of DEPLOYMENT_COLUMNS (others ignored).

    sqlite3.Row finds a column by name by comparing the name with each column's in turn, so
    looking up 27 names costs about 3-4 µs a row (of about 12 in all), and a claim over a
    burst reads every queued row: a sqlite3.Row whose first columns are DEPLOYMENT_COLUMNS in
    order (as the store's queries select them) is read by position instead. Any other row
    (an asyncpg.Record, other columns first) is read by name.
    """
    if type(row) is sqlite3.Row and row.keys()[:_N_DEPLOYMENT] == _DEPLOYMENT_NAMES:
        values: Sequence[Any] = row[:_N_DEPLOYMENT]
    else:
        values = [row[name] for name in _DEPLOYMENT_NAMES]
    (id_, cluster, action, version, source, repo, ref, delivery_id, status, created_at,
     triggered_at, finished_at, error, superseded_by, before_sha, head_commit_at, manual,
     attempts, route_index, progress, forced, trigger_started_at, kind, rollback_of,
     rolled_back_by, override_reason, needs_compare) = values
    created = parse_iso(_text(created_at))
    assert created is not None  # NOT NULL column
    return Deployment(
        id=int(id_),
        cluster=int(cluster),
        action=action,
        version=version,
        source=source,
        repo=repo,
        ref=ref,
        delivery_id=delivery_id,
        status=DeploymentStatus(status),
        created_at=created,
        triggered_at=parse_iso(_text(triggered_at)),
        finished_at=parse_iso(_text(finished_at)),
        error=error,
        superseded_by=superseded_by,
        before=before_sha,
        head_commit_at=parse_iso(_text(head_commit_at)),
        manual=bool(manual),
        attempts=int(attempts),
        route_index=route_index,
        progress=_json_value(progress),
        forced=bool(forced),
        trigger_started_at=parse_iso(_text(trigger_started_at)),
        kind=kind,
        rollback_of=rollback_of,
        rolled_back_by=rolled_back_by,
        override_reason=override_reason,
        needs_compare=bool(needs_compare),
    )


def insert_values(dep: NewDeployment, delivery_id: str | None, now: datetime, *,
                  time: Callable[[datetime | None], Any],
                  flag: Callable[[bool], Any]) -> tuple[Any, ...]:
    """The values of INSERT_COLUMNS for a new deployment (in `dep.status`: queued, held, ...).

    `time` and `flag` turn a datetime and a bool into what the dialect stores (SQLite: ISO
    text and 0/1; PostgreSQL: the values themselves).
    """
    return (
        dep.cluster, dep.action.value, dep.version,
        dep.source.value if dep.source is not None else None, dep.repo, dep.ref, delivery_id,
        dep.route_index, flag(dep.manual), dep.before, time(dep.head_commit_at),
        flag(dep.forced), dep.status.value, time(now),
        (dep.kind or "push"), dep.override_reason, dep.rollback_of, flag(dep.needs_compare),
    )


def deployment_from_insert(dep: NewDeployment, dep_id: int, delivery_id: str | None,
                           now: datetime) -> Deployment:
    """The Deployment that reading back the row `insert_values` wrote under `dep_id` gives,
    built without the read (a batch insert knows its ids: one writer holds the lock).

    Times go through `iso` and back, as they do through the column (UTC, milliseconds).
    A test holds the two equal for generated deployments (tests/integration/test_store_batch.py).
    """
    return Deployment(
        id=dep_id, cluster=dep.cluster, action=dep.action, version=dep.version,
        source=dep.source, repo=dep.repo, ref=dep.ref, delivery_id=delivery_id,
        status=dep.status, created_at=to_millis(now), before=dep.before,
        head_commit_at=to_millis(dep.head_commit_at), manual=dep.manual,
        route_index=dep.route_index, forced=dep.forced, kind=dep.kind or DeploymentKind.PUSH,
        override_reason=dep.override_reason, rollback_of=dep.rollback_of,
        needs_compare=dep.needs_compare,
    )


IN_CHUNK = 200  # values per IN (...) list: far below any SQLite's limit on bound parameters


def in_chunks(values: Sequence[T]) -> list[Sequence[T]]:
    """`values` cut into IN_CHUNK-long pieces, for `IN (...)` lists of set-based statements."""
    return [values[at:at + IN_CHUNK] for at in range(0, len(values), IN_CHUNK)]


def history_from_rows(rows: Iterable[Row]) -> History:
    """HISTORY_COLUMNS rows, newest first -> the History of one cluster."""
    entries = []
    for r in rows:
        created = parse_iso(_text(r["created_at"]))
        assert created is not None  # NOT NULL column
        entries.append(HistoryEntry(version=r["version"], before=r["before_sha"],
                                    head_commit_at=parse_iso(_text(r["head_commit_at"])),
                                    received_at=created))
    return History.from_entries(entries)


def _json_value(value: Any) -> Any:
    if not value:
        return None
    return json.loads(value) if isinstance(value, str | bytes) else value


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
    """The forwarded headers as a JSON array of [name, value] pairs (the `headers` column).

    orjson (a tenth of the standard library's cost; this runs for every delivery stored),
    or json.dumps for what orjson refuses (a lone surrogate, from a header that was not
    UTF-8). Either text reads back the same (`delivery_from_row`).
    """
    try:
        return orjson.dumps(headers).decode()
    except TypeError:  # orjson.JSONEncodeError
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
