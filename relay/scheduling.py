"""Which deployment of a cluster runs next, which are superseded, which are skipped (pure).

The "older" rules (docs/deployments.md, "Order"), in the order they are asked:

1. the parent chain: a push whose `before` is the cluster's version, or the version last
   triggered there, continues it and is never older, whatever its commit dates say (only a
   queued push built on its commit outranks it);
2. a forced push (GitHub `"forced": true`: a rollback by `git push --force`) is never older;
3. a push whose commit is the `before` of a push already deployed there (or of another queued
   push) is older;
4. otherwise commit times: a push whose head commit is older than that of the deployment last
   triggered there (or of another queued push) is older. A head commit dated more than
   FUTURE_TOLERANCE after relay received it (a clock gone wrong) ranks nothing: it makes
   neither itself nor a later push older.

A deployment asked for through the admin API (`manual`) is deliberate: never older.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.config import Action
from relay.deployment import Deployment

FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Plan:
    run: Deployment | None
    superseded: tuple[Deployment, ...]  # each superseded by `run`


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One deployment triggered on a cluster (and not refused), as the history reads it."""

    version: str
    before: str | None
    head_commit_at: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class History:
    """What relay has deployed to one cluster, for the "older" rules."""

    deployed_befores: frozenset[str]  # `before` of pushes already triggered there
    last_head_commit_at: datetime | None  # newest trusted head commit time triggered there
    last_version: str | None = None  # the version last triggered there

    @classmethod
    def from_entries(cls, entries: Iterable[HistoryEntry]) -> History:
        """Entries newest first (triggered_at descending) -> History.

        The newest trusted head commit time counts: a deployment by hand has none, and must
        not turn the time rule off for the pushes that follow it; a future-dated one
        (`trusted_time`) ranks nothing.
        """
        listed = list(entries)
        befores = frozenset(e.before for e in listed if e.before)
        last = next((t for e in listed
                     if (t := trusted_time(e.head_commit_at, e.received_at)) is not None), None)
        version = listed[0].version if listed else None
        return cls(deployed_befores=befores, last_head_commit_at=last, last_version=version)


EMPTY_HISTORY = History(deployed_befores=frozenset(), last_head_commit_at=None)


def trusted_time(head_commit_at: datetime | None, received_at: datetime) -> datetime | None:
    """The head commit time, or None when absent or dated more than FUTURE_TOLERANCE after
    relay received the push (the committer's clock was wrong: the date says nothing)."""
    if head_commit_at is None or head_commit_at > received_at + FUTURE_TOLERANCE:
        return None
    return head_commit_at


def plan(queued: Sequence[Deployment], history: History | None = None) -> Plan:
    """The most recently received queued deployment runs; the older ones are superseded.

    The caller has checked that nothing of the cluster is active. Git hosts may deliver out
    of order, so a push known to be older (than another queued push, or than what the
    cluster already runs) never wins unless it was asked for by hand.

    Linear in len(queued): the other queued pushes are summed up once (`_Queue`), so a
    claim over a burst of 1,000 queued pushes costs a few milliseconds, not a second.
    """
    if not queued:
        return Plan(None, ())
    history = history or EMPTY_HISTORY
    index = _Queue(queued)
    candidates = [d for d in queued
                  if _older(d, history=history, cluster_version=None, index=index) is None]
    newest = max(candidates or queued, key=lambda d: (d.created_at, d.id))
    return Plan(newest, tuple(d for d in queued if d is not newest))


class _Queue:
    """What the "older than a queued push" rules need of the queued pushes, computed once.

    `others` in `older_reason` are the queued non-manual deployments other than the one
    asked about; this keeps, over all of them, how many name each commit as their `before`
    and the two newest trusted head commit times, so that leaving one out is O(1).
    """

    __slots__ = ("_befores", "_members", "_top")

    def __init__(self, queued: Sequence[Deployment]) -> None:
        queued = list({id(d): d for d in queued}.values())  # "other" means another object
        self._members = {id(d) for d in queued}
        self._befores: dict[str, int] = {}
        top: list[tuple[datetime, int]] = []  # (time, position), newest first, at most 2
        for pos, d in enumerate(queued):
            if d.manual:
                continue
            if d.before is not None:
                self._befores[d.before] = self._befores.get(d.before, 0) + 1
            at = trusted_time(d.head_commit_at, d.created_at)
            if at is not None:
                top.append((at, pos))
                top.sort(key=lambda t: t[0], reverse=True)
                del top[2:]
        self._top = [(at, queued[pos]) for at, pos in top]

    def built_on(self, dep: Deployment) -> bool:
        """Another queued non-manual push has `dep`'s commit as its `before`."""
        n = self._befores.get(dep.version, 0)
        if not dep.manual and dep.before == dep.version and id(dep) in self._members:
            n -= 1  # dep itself (a push whose before is its own commit) is not another
        return n > 0

    def newest_other(self, dep: Deployment) -> datetime | None:
        """The newest trusted head commit time among the other queued non-manual pushes."""
        for at, d in self._top:
            if d is not dep:
                return at
        return None


def older_reason(dep: Deployment, *, history: History, cluster_version: str | None,
                 queued: Sequence[Deployment] = ()) -> str | None:
    """Why `dep` is known to be older than what runs or waits for its cluster (None: it is not).

    `queued`: the other queued deployments of the cluster (`dep` among them is ignored).
    """
    return _older(dep, history=history, cluster_version=cluster_version,
                  index=_Queue(queued))


def _older(dep: Deployment, *, history: History, cluster_version: str | None,
           index: _Queue) -> str | None:
    if dep.manual or dep.forced:
        return None  # deliberate, or a deliberate rewrite (rule 2)
    if index.built_on(dep):
        return f"commit {dep.version[:12]} is older: a queued push is built on it"
    if dep.before is not None and dep.before in {cluster_version, history.last_version} - {None}:
        return None  # rule 1: it continues what the cluster runs
    if dep.version in history.deployed_befores:
        return f"commit {dep.version[:12]} is older: a later push built on it is already deployed"
    at = trusted_time(dep.head_commit_at, dep.created_at)
    if at is None:
        return None
    last = history.last_head_commit_at
    if last is not None and at < last:
        return (f"head commit of {dep.version[:12]} ({at.isoformat()}) is older "
                f"than the one last deployed ({last.isoformat()})")
    theirs = index.newest_other(dep)
    if theirs is not None and theirs > at:
        return f"head commit of {dep.version[:12]} is older than that of a queued push"
    return None


def skip_reason(dep: Deployment, *, cluster_version: str | None, cluster_failed: bool = False,
                history: History) -> str | None:
    """Why a deployment must not run (None: run it); the rules of docs/operations.md.

    A commit that is already the cluster's version is skipped: the platform would not roll
    anything. Deployments asked for through the admin API are deliberate: never skipped for
    being older, and a `hook` one or one for a cluster in a `_fail` status (a retry of a
    failed rollout) runs even for the version the cluster reports.
    """
    same = cluster_version is not None and cluster_version == dep.version
    if same and not (dep.manual and (dep.action is Action.HOOK or cluster_failed)):
        return f"commit {dep.version[:12]} is already the cluster's version"
    return older_reason(dep, history=history, cluster_version=cluster_version)
