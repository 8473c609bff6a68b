"""Retries, rate limits, final errors and secrecy of the git-host clients, against the fakes'
injected faults (no real sleeping: the policy's sleep records the waits asked for)."""

from __future__ import annotations

import json
import logging

import pytest
from structlog.testing import capture_logs

from relay.events import Source
from relay.fakegit import MAX_STATUSES_PER_CONTEXT
from relay.githost import (
    BadResponse,
    CommitState,
    DeploymentState,
    GitHost,
    RateLimited,
    Rejected,
    RetryPolicy,
    ServerError,
    Unauthorized,
    Unavailable,
    client_for,
)
from relay.secret import Secret
from tests.integration import githost_rig
from tests.integration.githost_rig import HEAD, REPO, TOKEN, Rig

rig = githost_rig.rig  # the fixture

ALL = list(Source)


async def _status(client: GitHost, state: CommitState = CommitState.SUCCESS) -> None:
    await client.set_commit_status(REPO, HEAD, state=state, context="relay/10702",
                                   description="rolled out to cluster 10702 in 41 s")


@pytest.mark.parametrize("source", ALL)
async def test_two_502s_then_201_delivers_once(rig: Rig, source: Source) -> None:
    host = rig.hosts[source]
    host.faults.add("error:commit_status:502:count=2")
    with capture_logs() as logs:
        await _status(rig.client(source))
    assert len(host.statuses) == 1
    assert len(host.faults.fired) == 2
    retries = [e for e in logs if e["event"] == "githost_retry"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert all(e["host"] == source.value and "HTTP 502" in e["error"] for e in retries)


@pytest.mark.parametrize("source", ALL)
async def test_429_with_retry_after_waits_what_the_host_asks(rig: Rig, source: Source) -> None:
    rig.hosts[source].faults.add("error:commit_status:429:retry-after=7:count=1")
    await _status(rig.client(source))
    assert rig.sleeps == [7.0]
    assert len(rig.hosts[source].statuses) == 1


async def test_github_secondary_rate_limit_403_with_retry_after_waits(rig: Rig) -> None:
    rig.hosts[Source.GITHUB].faults.add("error:commit_status:403:retry-after=12:count=1")
    await _status(rig.client(Source.GITHUB))
    assert rig.sleeps == [12.0]
    assert len(rig.hosts[Source.GITHUB].statuses) == 1


async def test_github_primary_rate_limit_waits_until_the_reset(rig: Rig) -> None:
    rig.hosts[Source.GITHUB].faults.add("error:branch:403:count=1")  # reset 60 s ahead
    client = rig.client(Source.GITHUB, retry_after_max_s=120.0, total_s=300.0)
    await client.branch_head(REPO, "main")
    assert rig.sleeps == [60.0]


@pytest.mark.parametrize("source", [Source.GITHUB, Source.GITLAB])
async def test_a_wait_longer_than_the_policy_allows_is_raised_with_the_wait(
        rig: Rig, source: Source) -> None:
    spec = "error:commit_status:403" if source is Source.GITHUB else "error:commit_status:429"
    rig.hosts[source].faults.add(spec)
    with pytest.raises(RateLimited) as caught:
        await _status(rig.client(source, retry_after_max_s=30.0))
    assert caught.value.retry_after == 60.0
    assert rig.sleeps == [] and len(rig.hosts[source].faults.fired) == 1


@pytest.mark.parametrize("source", ALL)
async def test_a_bad_token_is_final(rig: Rig, source: Source) -> None:
    with pytest.raises(Unauthorized) as caught:
        await _status(rig.client(source, token="wrong-token-value"))
    assert caught.value.status == 401 and rig.sleeps == []
    assert "wrong-token-value" not in str(caught.value) + repr(caught.value)


async def test_github_1000_statuses_per_context_are_the_limit(rig: Rig) -> None:
    host = rig.hosts[Source.GITHUB]
    for _ in range(MAX_STATUSES_PER_CONTEXT):
        host.record_status(REPO, HEAD, "pending", "relay/10702", "", None)
    with pytest.raises(Rejected, match="maximum number of statuses") as caught:
        await _status(rig.client(Source.GITHUB))
    assert caught.value.status == 422 and rig.sleeps == []


@pytest.mark.parametrize("source", ALL)
async def test_server_errors_stop_after_the_bounded_attempts(rig: Rig, source: Source) -> None:
    rig.hosts[source].faults.add("error:checks:503")
    with pytest.raises(ServerError):
        await rig.client(source, attempts=3).checks(REPO, HEAD)
    assert len(rig.hosts[source].faults.fired) == 3


@pytest.mark.parametrize("source", ALL)
async def test_a_reset_connection_is_retried(rig: Rig, source: Source) -> None:
    rig.hosts[source].faults.add("reset:commit_status:count=1")
    await _status(rig.client(source))
    assert len(rig.hosts[source].statuses) == 1


async def test_a_hanging_host_times_out_within_the_bound(rig: Rig) -> None:
    rig.hosts[Source.GITEA].faults.add("latency:branch:60")
    client = rig.client(Source.GITEA, attempts=2, timeout_s=0.2)
    with pytest.raises(Unavailable) as caught:
        await client.branch_head(REPO, "main")
    assert caught.value.reason == "timeout"
    assert len(rig.hosts[Source.GITEA].faults.fired) == 2


@pytest.mark.parametrize("source", ALL)
async def test_a_html_error_page_is_a_server_error(rig: Rig, source: Source) -> None:
    rig.hosts[source].faults.add("html:compare:502")
    with pytest.raises(ServerError) as caught:
        await rig.client(source, attempts=1).compare(REPO, HEAD, HEAD)
    assert "502 Bad Gateway" in str(caught.value)


async def test_a_create_is_not_retried_once_it_may_have_reached_the_host(rig: Rig) -> None:
    host = rig.hosts[Source.GITHUB]
    client = rig.client(Source.GITHUB)
    host.faults.add("error:deployment:502:count=1")
    with pytest.raises(ServerError):
        await client.create_deployment(REPO, sha=HEAD, ref="main", environment="production",
                                       description="", state=DeploymentState.QUEUED)
    host.faults.add("error:deployment:503:count=1")  # refused before processing: retried
    await client.create_deployment(REPO, sha=HEAD, ref="main", environment="production",
                                   description="", state=DeploymentState.QUEUED)
    assert len(host.deployments) == 1 and len(host.faults.fired) == 2


@pytest.mark.parametrize("source", ALL)
async def test_the_token_never_reaches_a_log_line_or_an_error(
        rig: Rig, source: Source, caplog: pytest.LogCaptureFixture) -> None:
    host = rig.hosts[source]
    host.faults.add("error:commit_status:502:count=2")
    host.faults.add("reset:checks:count=1")
    host.faults.add("html:compare:500")
    client = rig.client(source)
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG), capture_logs() as logs:
        await _status(client)
        await client.checks(REPO, HEAD)
        for call in (client.compare(REPO, HEAD, HEAD),
                     rig.client(source, token=TOKEN + "x").branch_head(REPO, "main"),
                     client.branch_head("acme/nope", "main")):
            try:
                await call
            except Exception as exc:  # every error is inspected below
                errors.append(exc)
    assert len(errors) == 3 and len(logs) >= 3
    seen = json.dumps(logs, default=str) + caplog.text + repr(client) + "".join(
        f"{e}{e!r}{e.args}{e.__cause__!r}{e.__context__!r}" for e in errors)
    assert TOKEN not in seen


async def test_a_refused_connection_is_retried_even_for_a_create(rig: Rig) -> None:
    calls: list[float] = []

    async def sleep(seconds: float) -> None:
        calls.append(seconds)

    client = client_for(Source.GITHUB, rig.session, "http://127.0.0.1:9/nothing",
                        Secret(TOKEN), retry=RetryPolicy.no_wait(attempts=3, sleep=sleep))
    with pytest.raises(Unavailable) as caught:
        await client.create_deployment(REPO, sha=HEAD, ref="main", environment="e",
                                       description="", state=DeploymentState.QUEUED)
    assert (caught.value.reason, caught.value.reached) == ("refused", False)
    assert len(calls) == 2  # three attempts: it surely never reached the host
    assert TOKEN not in str(caught.value) + repr(caught.value.__cause__)


@pytest.mark.parametrize("source", ALL)
async def test_a_cut_json_body_is_a_bad_response_not_retried(rig: Rig, source: Source) -> None:
    rig.hosts[source].faults.add("truncated:branch")
    with pytest.raises(BadResponse, match="not JSON"):
        await rig.client(source).branch_head(REPO, "main")
    assert len(rig.hosts[source].faults.fired) == 1
