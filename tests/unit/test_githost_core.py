"""The pure parts of relay.githost: check rules, rate-limit headers, messages, tables."""

from __future__ import annotations

import pytest

from relay.events import Source
from relay.fakegit import gitea as fake_gitea
from relay.fakegit import github as fake_github
from relay.fakegit import gitlab as fake_gitlab
from relay.fakegit.faults import parse_fault
from relay.githost import (
    CLIENTS,
    ChecksState,
    CommitState,
    DeploymentState,
    clip_description,
    gitea,
    github,
    gitlab,
)
from relay.githost.base import split_repo
from relay.githost.checks import (
    check_run_verdict,
    job_verdict,
    pipeline_verdict,
    status_verdict,
    summarise,
)
from relay.githost.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
    Unauthorized,
    class_for_status,
)
from relay.githost.ratelimit import MAX_WAIT_S, RateLimit, rate_limit_of
from relay.githost.retry import RetryPolicy, before_it_reached_the_host, wait_for
from relay.githost.transport import host_message

G, P, R = ChecksState.GREEN, ChecksState.PENDING, ChecksState.RED


@pytest.mark.parametrize(("status", "conclusion", "verdict"), [
    ("completed", "success", G), ("completed", "neutral", G), ("completed", "skipped", G),
    ("completed", "failure", R), ("completed", "cancelled", R), ("completed", "timed_out", R),
    ("completed", "action_required", R), ("completed", None, R),
    ("in_progress", None, P), ("queued", None, P)])
def test_check_run_rules(status: str, conclusion: str | None, verdict: ChecksState) -> None:
    assert check_run_verdict(status, conclusion) is verdict


@pytest.mark.parametrize(("state", "verdict"), [
    ("success", G), ("warning", G), ("pending", P), ("failure", R), ("error", R),
    ("something-new", P)])
def test_status_rules(state: str, verdict: ChecksState) -> None:
    assert status_verdict(state) is verdict


@pytest.mark.parametrize(("status", "verdict"), [
    ("success", G), ("skipped", G), ("failed", R), ("canceled", R), ("running", P),
    ("created", P), ("manual", P), ("waiting_for_resource", P)])
def test_pipeline_rules(status: str, verdict: ChecksState) -> None:
    assert pipeline_verdict(status) is verdict


@pytest.mark.parametrize(("status", "allow_failure", "verdict"), [
    ("failed", True, G), ("canceled", True, G), ("manual", True, G), ("failed", False, R),
    ("manual", False, P), ("running", True, P), ("success", False, G)])
def test_gitlab_job_rules(status: str, allow_failure: bool, verdict: ChecksState) -> None:
    assert job_verdict(status, allow_failure=allow_failure) is verdict


def test_summary_red_beats_pending_beats_green_and_ignores_names() -> None:
    items = [("a", G), ("b", P), ("c", R), ("relay/1", R), ("c", R)]
    checks = summarise(items, ignore={"relay/1"})
    assert (checks.state, checks.failing, checks.pending, checks.total) == (R, ("c",), ("b",), 4)
    assert summarise([("a", G), ("b", P)]).state is P
    assert summarise([]).state is G and summarise([]).total == 0


def test_clip_description() -> None:
    assert clip_description("  rolled out\n in 41 s ") == "rolled out in 41 s"
    clipped = clip_description("word " * 100)
    assert len(clipped) == 140 and clipped.endswith("\u2026")
    assert clip_description("x" * 140) == "x" * 140


def test_split_repo_names_a_bad_repository() -> None:
    assert split_repo("acme/shop") == ("acme", "shop")
    for bad in ("acme", "acme/", "/shop", "a/b/c"):
        with pytest.raises(ValueError, match=repr(bad)):
            split_repo(bad)


NOW = 1000.0


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (429, {"Retry-After": "7"}, RateLimit(7.0)),
    (429, {}, RateLimit(None)),
    (403, {"Retry-After": "12"}, RateLimit(12.0)),
    (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1060"}, RateLimit(60.0)),
    (429, {"RateLimit-Remaining": "0", "RateLimit-Reset": "1030"}, RateLimit(30.0)),
    (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "900"}, RateLimit(0.0)),
    (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999"},
     RateLimit(MAX_WAIT_S)),
    (403, {"X-RateLimit-Remaining": "12"}, None),
    (403, {}, None),
    (500, {"Retry-After": "3"}, None),
])
def test_rate_limit_headers(status: int, headers: dict[str, str],
                            expected: RateLimit | None) -> None:
    assert rate_limit_of(status, headers, now=NOW) == expected


def test_a_403_saying_rate_limit_without_headers_waits_a_minute() -> None:
    message = "You have exceeded a secondary rate limit. Please wait a few minutes."
    assert rate_limit_of(403, {}, now=NOW, message=message) == RateLimit(60.0)
    assert rate_limit_of(403, {}, now=NOW, message="Resource not accessible") is None


def test_retry_waits_the_hosts_time_capped_by_the_policy() -> None:
    policy = RetryPolicy(retry_after_max_s=30.0, wait_initial_s=0.5, jitter=False)
    limited = RateLimited("github", "branch", "slow down", status=429, retry_after=12.0)
    assert wait_for(policy, 1, limited) == 12.0
    assert wait_for(policy, 1, RateLimited("github", "b", "", status=429,
                                           retry_after=99.0)) == 30.0
    assert wait_for(policy, 2, ServerError("github", "branch", "boom", status=502)) == 1.0


def test_a_create_is_retried_only_when_it_surely_did_not_arrive() -> None:
    assert before_it_reached_the_host(ServerError("g", "deployment", "", status=503))
    assert not before_it_reached_the_host(ServerError("g", "deployment", "", status=502))
    assert before_it_reached_the_host(RateLimited("g", "d", "", status=429, retry_after=1))


@pytest.mark.parametrize(("status", "cls"), [
    (401, Unauthorized), (403, Forbidden), (404, NotFound), (422, Rejected), (400, Rejected),
    (502, ServerError)])
def test_status_ladder(status: int, cls: type) -> None:
    assert class_for_status(status) is cls


@pytest.mark.parametrize(("body", "message"), [
    (b'{"message": "Bad credentials", "documentation_url": "x"}', "Bad credentials"),
    (b'{"message": "Validation Failed", "errors": [{"message": "too long"}]}',
     "Validation Failed: too long"),
    (b'{"message": {"ref": ["The branch or tag does not exist"]}}',
     "ref The branch or tag does not exist"),
    (b'{"error": "insufficient_scope"}', "insufficient_scope"),
    (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
    (b"", "(empty body)"),
])
def test_host_message(body: bytes, message: str) -> None:
    assert host_message(body) == message


def test_errors_say_host_operation_status_and_message() -> None:
    error = RateLimited("gitlab", "commit_status", "Retry later", status=429, retry_after=3.0)
    assert str(error) == "gitlab commit_status: HTTP 429: Retry later (retry after 3 s)"
    assert error.retriable and not NotFound("g", "o", "").retriable


def test_every_source_has_a_client() -> None:
    assert set(CLIENTS) == set(Source)
    assert {c.host for c in CLIENTS.values()} == {s.value for s in Source}


@pytest.mark.parametrize(("table", "accepted"), [
    (github.COMMIT_STATES, fake_github.STATES), (gitlab.COMMIT_STATES, fake_gitlab.STATES),
    (gitea.COMMIT_STATES, fake_gitea.STATES),
    (github.DEPLOYMENT_STATES, fake_github.DEPLOYMENT_STATES),
    (gitlab.DEPLOYMENT_STATES, fake_gitlab.DEPLOYMENT_STATUSES)])
def test_every_state_maps_to_a_name_the_host_accepts(table: dict[object, str],
                                                    accepted: tuple[str, ...]) -> None:
    states = CommitState if set(table) <= set(CommitState) else DeploymentState
    assert set(table) == set(states)
    assert set(table.values()) <= set(accepted)


def test_fault_specs_name_git_host_operations() -> None:
    fault = parse_fault("error:commit_status:429:retry-after=7:count=1")
    assert (fault.operation, fault.status, fault.retry_after, fault.count) == (
        "commit_status", 429, 7, 1)
    with pytest.raises(ValueError, match="unknown operation 'apps.get'"):
        parse_fault("error:apps.get:500")
    with pytest.raises(ValueError, match="'error:branch': missing STATUS"):
        parse_fault("error:branch")
    with pytest.raises(ValueError, match="unknown kind 'fail-version'"):
        parse_fault("fail-version:abc")
