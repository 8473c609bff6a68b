"""Are a commit's checks green, and what to do while waiting (relay.gates.checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.gates.checks import (
    Check,
    CheckRun,
    ChecksDecision,
    ChecksResult,
    CheckSuite,
    CommitStatus,
    OnTimeout,
    Outcome,
    State,
    WaitForChecks,
    decide_checks,
    gitea_checks,
    github_checks,
    gitlab_checks,
    poll_delay,
    verdict,
)

GREEN, PENDING, RED = State.GREEN, State.PENDING, State.RED
T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)


def run(name: str, conclusion: str | None, status: str = "completed") -> CheckRun:
    return CheckRun(name, status, conclusion)


@pytest.mark.parametrize(("statuses", "runs", "suites", "expected"), [
    ([], [], [], ChecksResult(PENDING)),  # nothing reported yet: pending, as GitHub says
    ([CommitStatus("ci/build", "success")], [], [], ChecksResult(GREEN)),
    ([CommitStatus("ci/build", "pending")], [], [], ChecksResult(PENDING, (), ("ci/build",))),
    ([CommitStatus("ci/build", "error")], [], [], ChecksResult(RED, ("ci/build",))),
    ([CommitStatus("ci/build", "failure")], [run("lint", "success")], [],
     ChecksResult(RED, ("ci/build",))),
    ([], [run("test", "neutral"), run("lint", "skipped"), run("build", "success")], [],
     ChecksResult(GREEN)),  # neutral and skipped count as green
    ([], [run("test", None, "in_progress"), run("lint", "success")], [],
     ChecksResult(PENDING, (), ("test",))),
    ([], [run("test", None, "queued")], [], ChecksResult(PENDING, (), ("test",))),
    ([], [run("a", "cancelled"), run("b", "timed_out"), run("c", "action_required"),
          run("d", "startup_failure"), run("e", "stale"), run("f", "failure")], [],
     ChecksResult(RED, ("a", "b", "c", "d", "e", "f"))),
    ([], [run("x", "something_new")], [], ChecksResult(PENDING, (), ("x",))),  # never green
    # A suite with no runs (an app that never reports) is ignored ...
    ([], [run("test", "success")], [CheckSuite("dependabot", "queued", 0)], ChecksResult(GREEN)),
    ([CommitStatus("ci", "success")], [], [CheckSuite("dependabot", "queued", 0)],
     ChecksResult(GREEN)),
    # ... but one whose runs are being created keeps the commit pending.
    ([CommitStatus("ci", "success")], [], [CheckSuite("github-actions", "queued", 2)],
     ChecksResult(PENDING, (), ("github-actions",))),
    ([], [run("test", "failure"), run("test", "success")], [],
     ChecksResult(RED, ("test",))),  # the same name twice: the worst counts
    ([], [run("b", "failure"), run("a", None, "queued")], [],
     ChecksResult(RED, ("b",), ("a",))),  # red wins over pending
])
def test_github_aggregation(statuses: list[CommitStatus], runs: list[CheckRun],
                            suites: list[CheckSuite], expected: ChecksResult) -> None:
    assert verdict(github_checks(statuses, runs, suites)) == expected


@pytest.mark.parametrize(("contexts", "expected"), [
    ((), ChecksResult(RED, ("lint",))),  # every reported check counts
    (("build",), ChecksResult(GREEN)),  # only the required ones count
    (("build", "deploy-preview"), ChecksResult(PENDING, (), ("deploy-preview",))),  # missing
    (("lint", "missing"), ChecksResult(RED, ("lint",), ("missing",))),
])
def test_required_contexts(contexts: tuple[str, ...], expected: ChecksResult) -> None:
    checks = github_checks([CommitStatus("build", "success")], [run("lint", "failure")])
    assert verdict(checks, contexts) == expected


@pytest.mark.parametrize(("status", "expected"), [
    (None, ChecksResult(PENDING)),  # no pipeline yet
    ("success", ChecksResult(GREEN)),
    ("skipped", ChecksResult(GREEN)),
    ("failed", ChecksResult(RED, ("pipeline",))),
    ("canceled", ChecksResult(RED, ("pipeline",))),
    ("canceling", ChecksResult(RED, ("pipeline",))),
    ("running", ChecksResult(PENDING, (), ("pipeline",))),
    ("created", ChecksResult(PENDING, (), ("pipeline",))),
    ("waiting_for_resource", ChecksResult(PENDING, (), ("pipeline",))),
    ("manual", ChecksResult(PENDING, (), ("pipeline",))),  # waits for someone to start it
    ("scheduled", ChecksResult(PENDING, (), ("pipeline",))),
])
def test_gitlab_latest_pipeline(status: str | None, expected: ChecksResult) -> None:
    assert verdict(gitlab_checks(status)) == expected


@pytest.mark.parametrize(("states", "expected"), [
    (["success", "warning"], GREEN),
    (["success", "pending"], PENDING),
    (["success", "error"], RED),
    (["failure", "pending"], RED),
    ([], PENDING),
])
def test_gitea_combined_status(states: list[str], expected: State) -> None:
    checks = gitea_checks([CommitStatus(f"c{i}", s) for i, s in enumerate(states)])
    assert verdict(checks).state is expected


@pytest.mark.parametrize(("result", "minutes", "on_timeout", "outcome", "reason"), [
    (ChecksResult(GREEN), 5, OnTimeout.SKIP, Outcome.RELEASE, "checks green"),
    (ChecksResult(RED, ("lint", "test")), 5, OnTimeout.DEPLOY, Outcome.SKIP,
     "checks failed: lint, test"),
    (ChecksResult(PENDING, (), ("test",)), 59, OnTimeout.SKIP, Outcome.WAIT,
     "checks pending: test"),
    (ChecksResult(PENDING, (), ("test",)), 60, OnTimeout.SKIP, Outcome.SKIP,
     "checks not green after 3600 s (checks pending: test)"),
    (ChecksResult(PENDING), 61, OnTimeout.DEPLOY, Outcome.RELEASE,
     "checks not green after 3600 s (checks pending: none reported yet); "
     "deploying (on_timeout: deploy)"),
    (ChecksResult(GREEN), 600, OnTimeout.SKIP, Outcome.RELEASE, "checks green"),  # late green
])
def test_decide_checks(result: ChecksResult, minutes: int, on_timeout: OnTimeout,
                       outcome: Outcome, reason: str) -> None:
    config = WaitForChecks(timeout_s=3600, on_timeout=on_timeout)
    decided = decide_checks(config, result, waiting_since=T0, now=T0 + timedelta(minutes=minutes))
    assert decided == ChecksDecision(outcome, reason, T0 + timedelta(hours=1))


@pytest.mark.parametrize("timeout", [0, -1, True, 1.5])
def test_wait_for_checks_refuses_a_bad_timeout(timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        WaitForChecks(timeout_s=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempt", "kwargs", "expected"), [
    (0, {}, 10.0),
    (3, {}, 80.0),
    (10, {}, 300.0),  # capped
    (10, {"jitter": 0.0}, 150.0),  # equal jitter keeps half
    (0, {"retry_after_s": 60.0}, 60.0),  # the host's Retry-After
    (0, {"rate_reset_at": T0 + timedelta(seconds=900)}, 900.0),  # rate limit used up
    (10, {"deadline": T0 + timedelta(seconds=42)}, 42.0),  # never past the deadline
    (0, {"deadline": T0 - timedelta(seconds=1)}, 0.0),
])
def test_poll_delay(attempt: int, kwargs: dict[str, object], expected: float) -> None:
    args: dict[str, object] = {"now": T0, "deadline": T0 + timedelta(hours=1)} | kwargs
    assert poll_delay(attempt, **args) == expected  # type: ignore[arg-type]


def test_poll_delay_refuses_a_bad_jitter() -> None:
    with pytest.raises(ValueError, match="jitter"):
        poll_delay(0, now=T0, deadline=T0, jitter=1.5)


states = st.sampled_from(list(State))
names = st.sampled_from(["a", "b", "c", "d"])


@given(checks=st.lists(st.builds(Check, name=names, state=states), max_size=8))
def test_verdict_laws(checks: list[Check]) -> None:
    result = verdict(checks)
    assert (result.state is GREEN) == (bool(checks) and all(c.state is GREEN for c in checks))
    assert (result.state is RED) == any(c.state is RED for c in checks)
    assert set(result.failing) == {c.name for c in checks if c.state is RED}
    assert verdict(list(reversed(checks))) == result  # order does not matter
