"""Catch-up's SQL, shared by both engines (no I/O here; `P` as in retention_sql).

A push and a `catch_up` delivery of the same head are the same push: same source, repository,
ref and `after` commit. Whichever is stored second makes no deployment (relay.store.*_catchup).
"""

from __future__ import annotations

from collections.abc import Callable

CATCH_UP_EVENT = "catch_up"
LEASE_NAME = "reconcile"
P = Callable[[int], str]


def twin_sql(p: P, *, catch_up: bool) -> str:
    """The delivery id of an earlier delivery of the same push: args (source, ref, after,
    repo).

    `catch_up`: the one being stored is a catch_up delivery, so any stored delivery of that
    head is its twin; else only a catch_up delivery is (two real deliveries of one head, a
    re-push, stay two).
    """
    kind = "" if catch_up else f" AND event = '{CATCH_UP_EVENT}'"
    return (f"SELECT delivery_id FROM deliveries WHERE source = {p(1)} AND ref = {p(2)} "
            f"AND after_sha = {p(3)} AND repo = {p(4)}{kind} ORDER BY received_at LIMIT 1")


def triggered_sql(p: P, clusters: int) -> str:
    """1 when `version` was triggered on one of the clusters: args (version, *clusters)."""
    marks = ", ".join(p(2 + i) for i in range(clusters))
    return (f"SELECT 1 FROM deployments WHERE version = {p(1)} AND cluster IN ({marks}) "
            "AND triggered_at IS NOT NULL LIMIT 1")


def last_head_sql(p: P) -> str:
    """The `after` of the newest stored delivery of a ref: args (source, ref, repo)."""
    return (f"SELECT after_sha FROM deliveries WHERE source = {p(1)} AND ref = {p(2)} "
            f"AND repo = {p(3)} AND after_sha IS NOT NULL ORDER BY received_at DESC LIMIT 1")


def lease_sqls(p: P) -> tuple[str, str]:
    """(insert, take): args (name, owner, expires_at) and (owner, expires_at, name, now)."""
    insert = (f"INSERT INTO reconcile_lease (name, owner, expires_at) VALUES ({p(1)}, {p(2)}, "
              f"{p(3)}) ON CONFLICT (name) DO NOTHING")
    take = (f"UPDATE reconcile_lease SET owner = {p(1)}, expires_at = {p(2)} "
            f"WHERE name = {p(3)} AND (expires_at <= {p(4)} OR owner = {p(1)})")
    return insert, take


def is_deletion(after: str | None) -> bool:
    return after is None or after.strip("0") == ""
