"""What retention may delete, as SQL shared by both engines (no I/O here).

Never pruned (docs/configuration.md, `retention`):
- a deployment that is not final (FINAL_STATUSES);
- per cluster: the newest `succeeded` deployment, the newest triggered one (the history's
  newest entry: `HISTORY_WHERE`, `HISTORY_ORDER`) and the newest triggered one with a head
  commit time, which the older-commit rule and rollbacks read (relay.scheduling.History);
- a delivery any remaining deployment refers to;
- what an undelivered outbox message or a quarantine refers to, when those tables exist
  (`guards`: the tables are optional, the columns looked up, so this module does not depend on
  the migration that adds them).

`P` is the engine's placeholder maker: `lambda n: "?"` for SQLite, `lambda n: f"${n}"` for
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from relay.store.rows import HISTORY_ORDER, HISTORY_WHERE

FINAL_STATUSES = ("succeeded", "failed", "timed_out", "superseded", "skipped", "error",
                  "canceled")
BATCH = 200  # rows per statement: a short write lock on SQLite, a short transaction on PG
BATCH_PAUSE_S = 0.02  # between two batches: another process waiting for the lock gets it
P = Callable[[int], str]

CLUSTERS_SQL = "SELECT DISTINCT cluster FROM deployments"
NEWEST_SUCCEEDED_SQL = ("SELECT MAX(id) FROM deployments WHERE status = 'succeeded' "
                        "GROUP BY cluster")


def newest_triggered_sql(p: P, *, timed: bool) -> str:
    """The id of a cluster's newest triggered deployment (with a head commit time: `timed`)."""
    extra = " AND head_commit_at IS NOT NULL" if timed else ""
    return (f"SELECT id FROM deployments WHERE cluster = {p(1)} AND {HISTORY_WHERE}{extra} "
            f"{HISTORY_ORDER} LIMIT 1")


@dataclass(frozen=True, slots=True)
class Guards:
    """Extra conditions from optional tables: SQL fragments on `deployments` (alias-free
    `id`) and on `deliveries` (`delivery_id`)."""

    deployments: tuple[str, ...] = ()
    deliveries: tuple[str, ...] = ()


def guards(columns: Mapping[str, Collection[str]]) -> Guards:
    """The guards the optional tables call for; `columns`: table name -> its column names.

    outbox (issue 12): a row not yet delivered (`delivered_at` or `sent_at` NULL; every row
    when neither column exists) keeps the deployment / delivery it names. quarantine or
    quarantines (issue 13): every row keeps what it names.
    HOOK: when those tables land with other column names, add them here.
    """
    dep: list[str] = []
    dlv: list[str] = []
    outbox = columns.get("outbox")
    if outbox:
        pending = next((f"{c} IS NULL" for c in ("delivered_at", "sent_at") if c in outbox),
                       "1 = 1")
        if "deployment_id" in outbox:
            dep.append("id NOT IN (SELECT deployment_id FROM outbox WHERE deployment_id IS NOT "
                       f"NULL AND {pending})")
        if "delivery_id" in outbox:
            dlv.append("delivery_id NOT IN (SELECT delivery_id FROM outbox WHERE delivery_id "
                       f"IS NOT NULL AND {pending})")
    for table in ("quarantine", "quarantines"):
        found = columns.get(table)
        if found and "deployment_id" in found:
            dep.append(f"id NOT IN (SELECT deployment_id FROM {table} "
                       "WHERE deployment_id IS NOT NULL)")
        if found and "delivery_id" in found:
            dlv.append(f"delivery_id NOT IN (SELECT delivery_id FROM {table} "
                       "WHERE delivery_id IS NOT NULL)")
    return Guards(tuple(dep), tuple(dlv))


OPTIONAL_TABLES = ("outbox", "quarantine", "quarantines")


def prunable_deployments_sql(p: P, protected: int, g: Guards, *, count: bool) -> str:
    """Deployments to delete: args (cutoff, *protected ids, limit) - or, `count`, their
    number: args (cutoff, *protected ids)."""
    finals = ", ".join(f"'{s}'" for s in FINAL_STATUSES)
    keep = (f" AND id NOT IN ({', '.join(p(2 + i) for i in range(protected))})"
            if protected else "")
    extra = "".join(f" AND {c}" for c in g.deployments)
    where = f"created_at < {p(1)} AND status IN ({finals}){keep}{extra}"
    if count:
        return f"SELECT COUNT(*) FROM deployments WHERE {where}"
    return f"SELECT id FROM deployments WHERE {where} ORDER BY id LIMIT {p(2 + protected)}"


def prunable_deliveries_sql(p: P, g: Guards, *, count: bool) -> str:
    """Deliveries to delete (no deployment refers to them): args (cutoff, limit) - or,
    `count`, their number: args (cutoff,)."""
    extra = "".join(f" AND {c}" for c in g.deliveries)
    where = (f"received_at < {p(1)} AND NOT EXISTS (SELECT 1 FROM deployments p "
             f"WHERE p.delivery_id = deliveries.delivery_id){extra}")
    if count:
        return f"SELECT COUNT(*) FROM deliveries WHERE {where}"
    return f"SELECT delivery_id FROM deliveries WHERE {where} LIMIT {p(2)}"


@dataclass(frozen=True, slots=True)
class Keep:
    """What one prune run must keep, read once at its start: the protected deployment ids
    and the guards of the optional tables. Deployments created later are newer than any
    cutoff, so the set stays right for the run."""

    protected: tuple[int, ...]
    guards: Guards
