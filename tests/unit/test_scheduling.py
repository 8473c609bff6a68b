"""Which deployment runs next, which are superseded or skipped (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from relay.deployment import Deployment, DeploymentStatus
from relay.scheduling import History, plan, skip_reason

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NO_HISTORY = History(deployed_befores=frozenset(), last_head_commit_at=None)


def dep(i: int, version: str, *, before: str | None = None, manual: bool = False,
        head_at: datetime | None = None) -> Deployment:
    return Deployment(
        id=i, cluster=10702, action="version", version=version, source="github",
        repo="acme/shop", ref="refs/heads/main", delivery_id=None,
        status=DeploymentStatus.QUEUED, created_at=T0 + timedelta(seconds=i), before=before,
        head_commit_at=head_at, manual=manual,
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
