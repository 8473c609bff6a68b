"""Which deployment runs next, which are superseded or skipped (pure)."""

from __future__ import annotations

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
