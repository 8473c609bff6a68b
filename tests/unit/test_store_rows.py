"""relay.store.rows: the `headers` column's text, read back by json.loads; Deployments read
from rows by position and by name alike."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from relay.deployment import DeploymentStatus, parse_iso
from relay.store.rows import DEPLOYMENT_COLUMNS, deployment_from_row, headers_json

HEADERS = [
    (("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")),
    (("X-Gitlab-Event", "Push Hook"), ("Idempotency-Key", "caf\u00e9 \N{SNOWMAN}")),
    (("X-Odd", "\udcff"),),  # a lone surrogate (a header that was not UTF-8): orjson refuses
    (),
]


@pytest.mark.parametrize("headers", HEADERS)
def test_headers_read_back_as_written(headers: tuple[tuple[str, str], ...]) -> None:
    assert tuple(tuple(pair) for pair in json.loads(headers_json(headers))) == headers


NAMES = [name.strip() for name in DEPLOYMENT_COLUMNS.split(",")]
FULL = {"id": 7, "cluster": 10702, "action": "version", "version": "a" * 40,
        "source": "github", "repo": "acme/shop", "ref": "refs/heads/main",
        "delivery_id": "github-d1", "status": "succeeded",
        "created_at": "2026-11-29T10:00:00.000000Z", "triggered_at": "2026-11-29T10:00:01Z",
        "finished_at": "2026-11-29T10:00:02+00:00", "error": None, "superseded_by": None,
        "before_sha": "b" * 40, "head_commit_at": "2026-11-29T09:59:00Z", "manual": 0,
        "attempts": 2, "route_index": 0, "progress": '{"ready": 1}', "forced": 1,
        "trigger_started_at": "2026-11-29T10:00:00.5Z", "kind": "push", "rollback_of": None,
        "rolled_back_by": 9, "override_reason": None, "needs_compare": 0}
SPARSE = {name: None for name in NAMES} | {
    "id": 8, "cluster": 1, "action": "hook", "version": "c" * 40, "status": "queued",
    "created_at": "2026-11-29T10:00:00Z", "manual": 1, "attempts": 0, "forced": 0,
    "kind": "manual", "needs_compare": 1}


@pytest.mark.parametrize("values", [FULL, SPARSE])
@pytest.mark.parametrize("select", [
    f"SELECT {DEPLOYMENT_COLUMNS}, 3 AS fence, NULL AS snapshot FROM deployments",  # by position
    f"SELECT 3 AS fence, {DEPLOYMENT_COLUMNS} FROM deployments",  # other columns first
    f"SELECT {', '.join(reversed(NAMES))} FROM deployments",  # another order
])
def test_a_deployment_reads_the_same_by_position_and_by_name(values: dict[str, Any],
                                                             select: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute(f"CREATE TABLE deployments ({DEPLOYMENT_COLUMNS})")
    conn.execute(f"INSERT INTO deployments VALUES ({', '.join('?' for _ in NAMES)})",
                 [values[name] for name in NAMES])
    row = conn.execute(select).fetchone()
    if select.startswith(f"SELECT {DEPLOYMENT_COLUMNS},"):  # the guard of the positional read
        assert row.keys()[:len(NAMES)] == NAMES
    read = deployment_from_row(row)
    assert read == deployment_from_row(values)  # a dict: by name
    # Each field from its own column (distinct values: a swap in the unpacking shows).
    assert read.status is DeploymentStatus(values["status"])
    assert read.progress == (json.loads(values["progress"]) if values["progress"] else None)
    for name in ("manual", "forced", "needs_compare"):
        assert getattr(read, name) is bool(values[name])
    for name in ("created_at", "triggered_at", "finished_at", "head_commit_at",
                 "trigger_started_at"):
        assert getattr(read, name) == parse_iso(values[name])
    assert read.before == values["before_sha"]
    for name in ("id", "cluster", "version", "repo", "ref", "delivery_id", "error",
                 "superseded_by", "attempts", "route_index", "rollback_of", "rolled_back_by",
                 "override_reason"):
        assert getattr(read, name) == values[name], name
    assert (read.action.value, read.kind.value) == (values["action"], values["kind"])
    assert (read.source.value if read.source else None) == values["source"]
