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


def plan(queued: Sequence[Deployment], history: History | None = None) -> Plan:
    """The most recently received queued deployment runs; the older ones are superseded.

    The ordering rules of docs/operations.md ("Deployments"). The caller has checked that
    nothing of the cluster is active.
    Git hosts may deliver out of order, so a push known to be older (than another queued
    push, or than what the cluster already runs) never wins unless it was asked for by hand.
    """
    if not queued:
        return Plan(None, ())
    candidates = [d for d in queued if d.manual or not _known_older(d, queued, history)]
    newest = max(candidates or queued, key=lambda d: (d.created_at, d.id))
    return Plan(newest, tuple(d for d in queued if d is not newest))


def _known_older(dep: Deployment, queued: Sequence[Deployment], history: History | None) -> bool:
    others = [d for d in queued if d is not dep and not d.manual]
    if any(d.before == dep.version for d in others):
        return True  # another queued push was built on this commit
    at = dep.head_commit_at
    if at is not None and any(d.head_commit_at is not None and d.head_commit_at > at
                              for d in others):
        return True
    return history is not None and _older_than_deployed(dep, history)


def _older_than_deployed(dep: Deployment, history: History) -> bool:
    last = history.last_head_commit_at
    return dep.version in history.deployed_befores or (
        last is not None and dep.head_commit_at is not None and dep.head_commit_at < last)


@dataclass(frozen=True, slots=True)
class History:
    """What relay has deployed to one cluster, for the "older commit" rule."""

    deployed_befores: frozenset[str]  # `before` of pushes already triggered there
    last_head_commit_at: datetime | None  # head commit time of the last triggered deployment


def skip_reason(dep: Deployment, *, cluster_version: str | None, cluster_failed: bool = False,
                history: History) -> str | None:
    """Why a deployment must not run (None: run it); the rules of docs/operations.md.

    A commit that is already the cluster's version is skipped: the platform would not roll
    anything. Deployments asked for through the admin API are deliberate: never skipped for
    being older, and a `hook` one or one for a cluster in a `_fail` status (a retry of a
    failed rollout) runs even for the version the cluster reports.
    """
    same = cluster_version is not None and cluster_version == dep.version
    if same and not (dep.manual and (dep.action == "hook" or cluster_failed)):
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
