"""Retention: delete old deliveries and finished deployments in small batches.

`prune` runs once (the background task and `relay prune` both call it): it reads what must be
kept (relay.store.retention_sql: open deployments, each cluster's newest succeeded and newest
triggered deployment, what an undelivered outbox message or a quarantine refers to), deletes
deployments created more than `retention.deployments_days` ago, then deliveries received
more than `retention.deliveries_days` ago that no deployment refers to any more, each batch
one short transaction, yielding between batches so that ingest goes on; then, on SQLite, it
gives the freed pages back in small steps. `run_retention` repeats it every `PRUNE_EVERY_S`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from relay.clock import Clock
from relay.metrics import Metrics
from relay.settings import RetentionSettings
from relay.store.base import Store, StoreError
from relay.store.retention_sql import BATCH, BATCH_PAUSE_S

log = structlog.get_logger("relay.retention")

PRUNE_EVERY_S = 3600.0  # between two background runs
RETRY_AFTER_S = 60.0  # after a run that met a store error
MAX_VACUUM_STEPS = 100_000  # bounds the space loop (each step frees up to 1 MiB)


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one run removed (or, `dry_run`, would remove): row counts; `deliveries_before`
    and `deployments_before` are the cutoffs (aware UTC)."""

    deliveries: int
    deployments: int
    deliveries_before: datetime
    deployments_before: datetime
    dry_run: bool = False

    def describe(self) -> str:
        """One line for a person: `removed 12 deliveries (before ...) and 3 deployments ...`."""
        verb = "would remove" if self.dry_run else "removed"
        return (f"{verb} {self.deliveries} deliveries (received before "
                f"{self.deliveries_before:%Y-%m-%dT%H:%M:%SZ}) and {self.deployments} "
                f"deployments (created before {self.deployments_before:%Y-%m-%dT%H:%M:%SZ})")


def cutoffs(retention: RetentionSettings, now: datetime) -> tuple[datetime, datetime]:
    """(deliveries_before, deployments_before) for `now` (aware UTC)."""
    return (now - timedelta(days=retention.deliveries_days),
            now - timedelta(days=retention.deployments_days))


async def prune(store: Store, retention: RetentionSettings, now: datetime, *,
                dry_run: bool = False, batch: int = BATCH,
                metrics: Metrics | None = None) -> PruneReport:
    """Prune once; raises StoreError (what was deleted before it stays deleted)."""
    deliveries_before, deployments_before = cutoffs(retention, now)
    keep = await store.prune_keep()
    if dry_run:
        dlv, dep = await store.count_prunable(deliveries_before=deliveries_before,
                                              deployments_before=deployments_before, keep=keep)
        return PruneReport(dlv, dep, deliveries_before, deployments_before, dry_run=True)
    deployments = await _batches(lambda: store.prune_deployments(
        before=deployments_before, keep=keep, limit=batch), batch, metrics, "deployments")
    deliveries = await _batches(lambda: store.prune_deliveries(
        before=deliveries_before, keep=keep, limit=batch), batch, metrics, "deliveries")
    if deliveries or deployments:
        for _ in range(MAX_VACUUM_STEPS):
            if await store.give_back_space() == 0:
                break
            await asyncio.sleep(BATCH_PAUSE_S)
    return PruneReport(deliveries, deployments, deliveries_before, deployments_before)


async def _batches(step: Callable[[], Awaitable[int]], batch: int, metrics: Metrics | None,
                   kind: str) -> int:
    total = 0
    while True:
        removed = int(await step())
        total += removed
        if metrics is not None and removed:
            metrics.store_pruned.labels(kind=kind).inc(removed)
        if removed < batch:
            return total
        # Let deliveries in between two batches: SQLite's busy handler in another process
        # (relay serve, while `relay prune` runs) polls for the lock, and would starve if
        # the next batch took it at once.
        await asyncio.sleep(BATCH_PAUSE_S)


async def run_retention(store: Store, retention: RetentionSettings, clock: Clock,
                        metrics: Metrics, *, every_s: float = PRUNE_EVERY_S) -> None:
    """Prune at start and every `every_s` seconds until cancelled; a store error is logged
    and the run retried after RETRY_AFTER_S."""
    while True:
        wait = every_s
        try:
            report = await prune(store, retention, clock.now(), metrics=metrics)
        except StoreError as exc:
            log.warning("prune_failed", error=str(exc))
            wait = min(every_s, RETRY_AFTER_S)
        else:
            if report.deliveries or report.deployments:
                log.info("pruned", deliveries=report.deliveries,
                         deployments=report.deployments)
        await clock.sleep(wait)
