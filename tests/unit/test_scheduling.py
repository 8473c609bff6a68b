"""Which deployment runs next, which are superseded or skipped (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.deployment import Deployment, DeploymentStatus
from relay.scheduling import History, HistoryEntry, older_reason, plan, skip_reason

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NO_HISTORY = History(deployed_befores=frozenset(), last_head_commit_at=None)


def dep(i: int, version: str, *, before: str | None = None, manual: bool = False,
        head_at: datetime | None = None, forced: bool = False) -> Deployment:
    return Deployment(
        id=i, cluster=10702, action="version", version=version, source="github",
        repo="acme/shop", ref="refs/heads/main", delivery_id=None,
        status=DeploymentStatus.QUEUED, created_at=T0 + timedelta(seconds=i), before=before,
        head_commit_at=head_at, manual=manual, forced=forced,
    )


def test_newest_received_runs_and_the_rest_are_superseded() -> None:
    queued = [dep(i, f"v{i}") for i in range(1, 51)]
    decided = plan(queued)
    assert decided.run is not None and decided.run.id == 50
    assert {d.id for d in decided.superseded} == set(range(1, 50))


def test_nothing_queued_plans_nothing() -> None:
    assert plan([]).run is None


def test_out_of_order_delivery_does_not_win_over_the_push_built_on_it() -> None:
    # B (built on A) arrived first, A arrived later: A is known older and must not run.
    b = dep(1, "B", before="A")
    a = dep(2, "A", before="Z")
    decided = plan([b, a])
    assert decided.run is b
    assert decided.superseded == (a,)


def test_manual_deployment_is_chosen_even_when_older() -> None:
    b = dep(1, "B", before="A")
    a = dep(2, "A", manual=True)
    assert plan([b, a]).run is a


def test_skip_when_commit_is_already_the_cluster_version() -> None:
    reason = skip_reason(dep(1, "abc"), cluster_version="abc", history=NO_HISTORY)
    assert reason is not None and "already" in reason


def test_skip_when_commit_is_the_before_of_a_deployed_push() -> None:
    history = History(deployed_befores=frozenset({"abc"}), last_head_commit_at=None)
    reason = skip_reason(dep(1, "abc"), cluster_version="def", history=history)
    assert reason is not None and "older" in reason


def test_skip_when_head_commit_is_older_than_the_last_triggered() -> None:
    history = History(deployed_befores=frozenset(), last_head_commit_at=T0)
    older = dep(1, "abc", head_at=T0 - timedelta(minutes=1))
    newer = dep(2, "def", head_at=T0 + timedelta(minutes=1))
    assert skip_reason(older, cluster_version=None, history=history) is not None
    assert skip_reason(newer, cluster_version=None, history=history) is None


def test_manual_deployments_are_never_skipped_for_being_older() -> None:
    history = History(deployed_befores=frozenset({"abc"}), last_head_commit_at=T0)
    rollback = dep(1, "abc", manual=True, head_at=T0 - timedelta(days=1))
    assert skip_reason(rollback, cluster_version="def", history=history) is None


def test_manual_deployment_of_the_running_version_is_skipped() -> None:
    reason = skip_reason(dep(1, "abc", manual=True), cluster_version="abc", history=NO_HISTORY)
    assert reason is not None and "already" in reason


def test_late_delivery_older_than_the_deployed_commit_never_wins() -> None:
    # C3 (built on C2) is deployed; C4 (built on C3) is queued; then C2's delivery arrives
    # late (built on C1). C4 must run, not C2.
    history = History(deployed_befores=frozenset({"C2"}), last_head_commit_at=T0)
    c4 = dep(1, "C4", before="C3", head_at=T0 + timedelta(minutes=1))
    c2 = dep(2, "C2", before="C1", head_at=T0 - timedelta(minutes=1))
    decided = plan([c4, c2], history)
    assert decided.run is c4 and decided.superseded == (c2,)


def test_queued_push_with_an_older_head_commit_does_not_win() -> None:
    newer = dep(1, "N", head_at=T0 + timedelta(minutes=5))
    late = dep(2, "O", head_at=T0)  # received last, but its head commit is older
    assert plan([newer, late]).run is newer


def test_when_every_queued_push_is_older_the_newest_received_runs_to_be_skipped() -> None:
    history = History(deployed_befores=frozenset({"A"}), last_head_commit_at=T0)
    only = dep(1, "A", head_at=T0 - timedelta(minutes=1))
    assert plan([only], history).run is only
    assert skip_reason(only, cluster_version="B", history=history) is not None


def test_manual_retry_of_a_failed_rollout_runs_for_the_reported_version() -> None:
    retry = dep(1, "abc", manual=True)
    assert skip_reason(retry, cluster_version="abc", cluster_failed=True,
                       history=NO_HISTORY) is None
    hook = dataclasses.replace(retry, action="hook")
    assert skip_reason(hook, cluster_version="abc", history=NO_HISTORY) is None
    git = dep(2, "abc")
    assert skip_reason(git, cluster_version="abc", cluster_failed=True,
                       history=NO_HISTORY) is not None


# -- the "older" rules, one table per rule (CONTRACT section 5) ---------------------------------

DEPLOYED_B = History(deployed_befores=frozenset({"A"}), last_head_commit_at=T0,
                     last_version="B")  # A, then B (before=A) deployed; B's head dated T0
OLD = T0 - timedelta(days=1)


@pytest.mark.parametrize(("candidate", "cluster_version", "older"), [
    # before = the cluster's version: continues it, never older, whatever its dates say
    (dep(1, "A", before="B", head_at=OLD), "B", False),
    # before = the version last triggered there (the cluster reports something else)
    (dep(1, "A", before="B", head_at=OLD), "X", False),
    (dep(1, "A", before="B", head_at=OLD), None, False),
    # before = neither: the other rules decide (A is B's before: older)
    (dep(1, "A", before="Z", head_at=OLD), "B", True),
])
def test_rule_1_the_parent_chain_continues(candidate: Deployment, cluster_version: str | None,
                                           older: bool) -> None:
    reason = older_reason(candidate, history=DEPLOYED_B, cluster_version=cluster_version)
    assert (reason is not None) is older, reason


@pytest.mark.parametrize(("forced", "older"), [(True, False), (False, True)])
def test_rule_2_a_forced_push_is_never_older(forced: bool, older: bool) -> None:
    rollback = dep(1, "A", before="Z", head_at=OLD, forced=forced)  # Z: not the chain
    reason = skip_reason(rollback, cluster_version="B", history=DEPLOYED_B)
    assert (reason is not None) is older, reason


@pytest.mark.parametrize(("version", "older"), [("A", True), ("C", False)])
def test_rule_3_the_before_of_a_deployed_push_is_older(version: str, older: bool) -> None:
    history = History(deployed_befores=frozenset({"A"}), last_head_commit_at=None,
                      last_version="B")
    reason = skip_reason(dep(1, version, before="Y"), cluster_version="B", history=history)
    assert (reason is not None) is older, reason


@pytest.mark.parametrize(("head_at", "older"), [
    (T0 - timedelta(seconds=1), True),  # older than the last triggered head commit
    (T0 + timedelta(seconds=1), False),
    (None, False),  # no date: the time rule says nothing
    (T0 + timedelta(days=2), False),  # future-dated: ranks nothing (and is not ranked)
])
def test_rule_4_commit_times_last(head_at: datetime | None, older: bool) -> None:
    history = History(deployed_befores=frozenset(), last_head_commit_at=T0, last_version="B")
    candidate = dep(1, "C", before="Y", head_at=head_at)
    reason = skip_reason(candidate, cluster_version="B", history=history)
    assert (reason is not None) is older, reason


def test_a_future_dated_deployed_commit_ranks_no_later_push() -> None:
    # A dated two days ahead was deployed; an unrelated push dated now is not older than it.
    received = T0
    history = History.from_entries([
        HistoryEntry(version="A", before="Z", head_commit_at=T0 + timedelta(days=2),
                     received_at=received),
        HistoryEntry(version="Z", before=None, head_commit_at=T0 - timedelta(hours=1),
                     received_at=received - timedelta(hours=1)),
    ])
    assert history.last_head_commit_at == T0 - timedelta(hours=1)
    assert history.last_version == "A"
    later = dep(5, "C", before="Q", head_at=T0)
    assert skip_reason(later, cluster_version="A", history=history) is None


def test_a_future_dated_queued_push_does_not_outrank_one_dated_now() -> None:
    future = dep(1, "F", head_at=T0 + timedelta(days=2))
    now = dep(2, "N", head_at=T0)
    # N (received last) runs; F's date ranks nothing.
    assert plan([future, now]).run is now
    assert plan([now, dataclasses.replace(future, id=3, created_at=T0 + timedelta(seconds=3))]
                ).run.id == 3  # type: ignore[union-attr]


def test_a_forced_queued_push_is_not_older_than_the_push_built_on_its_commit() -> None:
    b = dep(1, "B", before="A")
    rollback = dep(2, "A", before="B", forced=True)
    assert plan([b, rollback]).run is rollback


# -- the linear plan is the quadratic one of the rules, faster ------------------------------

def _reference_older(dep: Deployment, *, history: History, cluster_version: str | None,
                     queued: list[Deployment]) -> str | None:
    """The rules as first written: every other queued push scanned for every candidate."""
    from relay.scheduling import trusted_time

    if dep.manual or dep.forced:
        return None
    others = [d for d in queued if d is not dep and not d.manual]
    if any(d.before == dep.version for d in others):
        return "built on"
    if dep.before is not None and dep.before in {cluster_version, history.last_version} - {None}:
        return None
    if dep.version in history.deployed_befores:
        return "deployed before"
    at = trusted_time(dep.head_commit_at, dep.created_at)
    if at is None:
        return None
    last = history.last_head_commit_at
    if last is not None and at < last:
        return "older than last"
    if any((t := trusted_time(d.head_commit_at, d.created_at)) is not None and t > at
           for d in others):
        return "older than queued"
    return None


def _reference_plan(queued: list[Deployment], history: History) -> Deployment:
    candidates = [d for d in queued
                  if _reference_older(d, history=history, cluster_version=None,
                                      queued=queued) is None]
    return max(candidates or queued, key=lambda d: (d.created_at, d.id))


_COMMITS = ["a", "b", "c", "d", "e"]


@st.composite
def _queues(draw: st.DrawFn) -> tuple[list[Deployment], History]:
    n = draw(st.integers(min_value=1, max_value=8))
    queued = [
        dep(i + 1, draw(st.sampled_from(_COMMITS)),
            before=draw(st.none() | st.sampled_from(_COMMITS)),
            manual=draw(st.booleans()), forced=draw(st.booleans()),
            head_at=draw(st.none() | st.integers(-5, 5).map(
                lambda m: T0 + timedelta(minutes=m)) | st.just(T0 + timedelta(hours=2))))
        for i in range(n)
    ]
    history = History(
        deployed_befores=frozenset(draw(st.lists(st.sampled_from(_COMMITS), max_size=2))),
        last_head_commit_at=draw(st.none() | st.integers(-5, 5).map(
            lambda m: T0 + timedelta(minutes=m))),
        last_version=draw(st.none() | st.sampled_from(_COMMITS)))
    return queued, history


@settings(max_examples=400, deadline=None)
@given(_queues())
def test_plan_picks_what_the_rules_scanned_pairwise_pick(case: tuple[list[Deployment],
                                                                     History]) -> None:
    queued, history = case
    decided = plan(queued, history)
    assert decided.run is _reference_plan(queued, history)
    for d in queued:
        mine = older_reason(d, history=history, cluster_version="c", queued=queued)
        theirs = _reference_older(d, history=history, cluster_version="c", queued=queued)
        assert (mine is None) == (theirs is None), (d, mine, theirs)


def test_a_burst_of_a_thousand_queued_pushes_is_planned_in_one_pass() -> None:
    # Each push builds on the one before: the last one runs, 999 are superseded. The old
    # pairwise scan did ~10^6 comparisons here; this one is linear (the bench shows timing).
    queued = [dep(i, f"c{i}", before=f"c{i - 1}", head_at=T0 + timedelta(seconds=i))
              for i in range(1, 1001)]
    decided = plan(queued, NO_HISTORY)
    assert decided.run is queued[-1]
    assert len(decided.superseded) == 999


def test_the_same_deployment_listed_twice_is_not_another_push() -> None:
    same = dep(1, "a" * 40, before="a" * 40)
    assert older_reason(same, history=NO_HISTORY, cluster_version=None,
                        queued=[same, same]) is None
    assert _reference_older(same, history=NO_HISTORY, cluster_version=None,
                            queued=[same, same]) is None
