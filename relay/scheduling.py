"""Which deployment of a cluster runs next, which are superseded, which are skipped (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.deployment import Deployment


@dataclass(frozen=True, slots=True)
class Plan:
    run: Deployment | None
    superseded: tuple[Deployment, ...]  # each superseded by `run`


def plan(queued: Sequence[Deployment]) -> Plan:
    """The most recently received queued deployment runs; the older ones are superseded.

    CONTRACT section 5. The caller has checked that nothing of the cluster is active.
    """
    if not queued:
        return Plan(None, ())
    # Git hosts may deliver out of order: a push whose commit is the `before` of another
    # queued push is known to be older, so it never wins unless asked for by hand.
    befores = {d.before for d in queued if d.before}
    candidates = [d for d in queued if d.manual or d.version not in befores] or list(queued)
    newest = max(candidates, key=lambda d: (d.created_at, d.id))
    return Plan(newest, tuple(d for d in queued if d is not newest))


@dataclass(frozen=True, slots=True)
class History:
    """What relay has deployed to one cluster, for the "older commit" rule."""

    deployed_befores: frozenset[str]  # `before` of pushes already triggered there
    last_head_commit_at: datetime | None  # head commit time of the last triggered deployment


def skip_reason(dep: Deployment, *, cluster_version: str | None, history: History) -> str | None:
    """Why a deployment must not run (None: run it). CONTRACT section 5.

    A commit that is already the cluster's version is skipped whoever asked for it: the
    platform would not roll anything. Deployments asked for through the admin API are
    deliberate (a rollback) and are never skipped for being older.
    """
    if cluster_version is not None and cluster_version == dep.version:
        return f"commit {dep.version[:12]} is already the cluster's version"
    if dep.manual:
        return None
    if dep.version in history.deployed_befores:
        return f"commit {dep.version[:12]} is older: a later push built on it is already deployed"
    last = history.last_head_commit_at
    if last is not None and dep.head_commit_at is not None and dep.head_commit_at < last:
        return (f"head commit of {dep.version[:12]} ({dep.head_commit_at.isoformat()}) is older "
                f"than the one last deployed ({last.isoformat()})")
    return None
