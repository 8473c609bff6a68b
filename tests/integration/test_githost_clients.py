"""Each git-host client against its fake over loopback: what the host receives and reads."""

from __future__ import annotations

import pytest

from relay.events import Source
from relay.fakegit import CheckRun
from relay.fakegit.state import Job
from relay.githost import (
    ChecksState,
    CommitState,
    DeploymentState,
    Head,
    NotFound,
    NotModified,
    Rejected,
    Unsupported,
)
from tests.integration import githost_rig
from tests.integration.githost_rig import BASE, HEAD, MID, REPO, Rig

rig = githost_rig.rig  # the fixture

ALL = list(Source)
# What each host receives for RUNNING then SUCCESS then CANCELED (CONTRACT section 7).
RECEIVED = {
    Source.GITHUB: ["pending", "success", "error"],
    Source.GITLAB: ["running", "success", "canceled"],
    Source.GITEA: ["pending", "success", "error"],
}


@pytest.mark.parametrize("source", ALL)
async def test_commit_statuses_arrive_in_the_hosts_words(rig: Rig, source: Source) -> None:
    client = rig.client(source)
    for state in (CommitState.RUNNING, CommitState.SUCCESS, CommitState.CANCELED):
        await client.set_commit_status(REPO, HEAD, state=state, context="relay/10702",
                                       description=f"{state} on cluster 10702",
                                       target_url="https://relay.example.com/d/1")
    received = rig.hosts[source].statuses
    assert [s.state for s in received] == RECEIVED[source]
    assert {(s.repo, s.sha, s.context, s.target_url) for s in received} == {
        (REPO, HEAD, "relay/10702", "https://relay.example.com/d/1")}
    listed = await rig.get(f"/{source.value}/statuses")
    assert [s["state"] for s in listed] == RECEIVED[source]


@pytest.mark.parametrize("source", ALL)
async def test_a_long_description_is_clipped_to_140_characters(rig: Rig, source: Source
                                                               ) -> None:
    await rig.client(source).set_commit_status(
        REPO, HEAD, state=CommitState.FAILURE, context="relay/1", description="x " * 200)
    (record,) = rig.hosts[source].statuses
    assert len(record.description) == 140 and record.description.endswith("\u2026")


async def test_github_deployment_goes_queued_in_progress_success(rig: Rig) -> None:
    client = rig.client(Source.GITHUB)
    deployment_id = await client.create_deployment(
        REPO, sha=HEAD, ref="main", environment="production", description="deploy 3333333",
        state=DeploymentState.QUEUED)
    for state in (DeploymentState.QUEUED, DeploymentState.IN_PROGRESS, DeploymentState.SUCCESS):
        await client.set_deployment_status(REPO, deployment_id, state=state,
                                           description=str(state),
                                           log_url="https://relay.example.com/d/1")
    (listed,) = await rig.get("/github/deployments")
    assert listed["id"] == int(deployment_id)
    assert (listed["sha"], listed["environment"]) == (HEAD, "production")
    assert [s["state"] for s in listed["statuses"]] == ["queued", "in_progress", "success"]
    assert listed["statuses"][0]["log_url"] == "https://relay.example.com/d/1"


async def test_github_deployment_of_an_unknown_sha_is_rejected(rig: Rig) -> None:
    with pytest.raises(Rejected, match="No ref found"):
        await rig.client(Source.GITHUB).create_deployment(
            REPO, sha="f" * 40, ref="main", environment="production", description="",
            state=DeploymentState.QUEUED)


async def test_gitlab_deployment_runs_then_succeeds_or_is_canceled(rig: Rig) -> None:
    client = rig.client(Source.GITLAB)
    first = await client.create_deployment(
        REPO, sha=HEAD, ref="main", environment="cluster-10702", description="",
        state=DeploymentState.IN_PROGRESS)
    await client.set_deployment_status(REPO, first, state=DeploymentState.SUCCESS,
                                       description="rolled out")
    second = await client.create_deployment(
        REPO, sha=HEAD, ref="v1.0", tag=True, environment="cluster-10702", description="",
        state=DeploymentState.QUEUED)
    await client.set_deployment_status(REPO, second, state=DeploymentState.INACTIVE,
                                       description="superseded")
    listed = await rig.get("/gitlab/deployments")
    assert [[s["state"] for s in d["statuses"]] for d in listed] == [
        ["running", "success"], ["running", "canceled"]]


async def test_gitlab_deployment_needs_an_existing_ref(rig: Rig) -> None:
    with pytest.raises(Rejected, match="branch or tag does not exist"):
        await rig.client(Source.GITLAB).create_deployment(
            REPO, sha=HEAD, ref="nope", environment="e", description="",
            state=DeploymentState.IN_PROGRESS)


async def test_gitea_has_no_deployments_and_sends_nothing(rig: Rig) -> None:
    client = rig.client(Source.GITEA)
    assert client.supports_deployments is False
    with pytest.raises(Unsupported):
        await client.create_deployment(REPO, sha=HEAD, ref="main", environment="e",
                                       description="", state=DeploymentState.QUEUED)
    with pytest.raises(Unsupported):
        await client.set_deployment_status(REPO, "1", state=DeploymentState.SUCCESS,
                                           description="")
    assert rig.hosts[Source.GITEA].requests == 0


# -- checks ---------------------------------------------------------------------------------




async def test_github_checks_count_statuses_and_runs(rig: Rig) -> None:
    host = rig.hosts[Source.GITHUB]
    client = rig.client(Source.GITHUB)
    host.set_check_runs(REPO, HEAD, [
        CheckRun("lint", "completed", "neutral"), CheckRun("docs", "completed", "skipped"),
        CheckRun("unit", "completed", "success")])
    host.record_status(REPO, HEAD, "success", "ci/jenkins", "", None)
    host.record_status(REPO, HEAD, "pending", "relay/10702", "", None)
    checks = await client.checks(REPO, HEAD, ignore={"relay/10702"})
    assert (checks.state, checks.total) == (ChecksState.GREEN, 4)

    host.set_check_runs(REPO, HEAD, [CheckRun("unit", "completed", "failure"),
                                     CheckRun("e2e", "in_progress", None)])
    checks = await client.checks(REPO, HEAD, ignore={"relay/10702"})
    assert checks.state is ChecksState.RED
    assert (checks.failing, checks.pending) == (("unit",), ("e2e",))

    host.set_check_runs(REPO, HEAD, [CheckRun("e2e", "queued", None)])
    assert (await client.checks(REPO, HEAD)).pending == ("e2e", "relay/10702")


async def test_github_commit_without_any_check_is_green(rig: Rig) -> None:
    checks = await rig.client(Source.GITHUB).checks(REPO, MID)
    assert (checks.state, checks.total) == (ChecksState.GREEN, 0)


async def test_gitlab_checks_read_the_latest_pipeline(rig: Rig) -> None:
    host, client = rig.hosts[Source.GITLAB], rig.client(Source.GITLAB)
    assert (await client.checks(REPO, HEAD)).state is ChecksState.GREEN  # no pipeline
    host.add_pipeline(REPO, HEAD, "failed")
    running = host.add_pipeline(REPO, HEAD, "running")
    checks = await client.checks(REPO, HEAD)
    assert (checks.state, checks.pending) == (ChecksState.PENDING, (f"pipeline {running.id}",))
    running.status = "canceled"
    assert (await client.checks(REPO, HEAD)).state is ChecksState.RED
    running.status = "success"
    assert (await client.checks(REPO, HEAD)).state is ChecksState.GREEN


async def test_gitlab_checks_leave_out_relays_own_status_joined_to_a_pipeline(rig: Rig) -> None:
    host, client = rig.hosts[Source.GITLAB], rig.client(Source.GITLAB)
    host.add_pipeline(REPO, HEAD, jobs=[Job("build"), Job("lint", "failed", allow_failure=True),
                                        Job("deploy-docs", "manual", allow_failure=True)])
    assert (await client.checks(REPO, HEAD)).state is ChecksState.GREEN
    await client.set_commit_status(REPO, HEAD, state=CommitState.RUNNING,
                                   context="relay/10702", description="rolling out")
    # GitLab now says the pipeline runs: relay's own status swayed it.
    assert (await client.checks(REPO, HEAD)).state is ChecksState.PENDING
    checks = await client.checks(REPO, HEAD, ignore={"relay/10702"})
    assert (checks.state, checks.total) == (ChecksState.GREEN, 3)
    host.add_pipeline(REPO, HEAD, jobs=[Job("build", "failed"), Job("e2e", "running")])
    checks = await client.checks(REPO, HEAD, ignore={"relay/10702"})
    assert (checks.state, checks.failing, checks.pending) == (
        ChecksState.RED, ("build",), ("e2e",))


async def test_gitlab_checks_of_an_external_pipeline_of_relays_own_status(rig: Rig) -> None:
    client = rig.client(Source.GITLAB)
    await client.set_commit_status(REPO, MID, state=CommitState.RUNNING,
                                   context="relay/10702", description="rolling out")
    (pipeline,) = rig.hosts[Source.GITLAB].pipelines_of(REPO, MID)
    assert pipeline.source == "external"
    assert (await client.checks(REPO, MID)).state is ChecksState.PENDING
    checks = await client.checks(REPO, MID, ignore={"relay/10702"})
    assert (checks.state, checks.total) == (ChecksState.GREEN, 0)


async def test_gitea_checks_count_warning_as_green(rig: Rig) -> None:
    host, client = rig.hosts[Source.GITEA], rig.client(Source.GITEA)
    host.record_status(REPO, HEAD, "warning", "lint", "", None)
    host.record_status(REPO, HEAD, "success", "build", "", None)
    assert (await client.checks(REPO, HEAD)).state is ChecksState.GREEN
    host.record_status(REPO, HEAD, "failure", "build", "", None)
    checks = await client.checks(REPO, HEAD)
    assert (checks.state, checks.failing) == (ChecksState.RED, ("build",))


@pytest.mark.parametrize("source", [Source.GITHUB, Source.GITEA])  # GitLab: no pipeline
async def test_checks_of_an_unknown_commit_is_not_found(rig: Rig, source: Source) -> None:
    with pytest.raises(NotFound):
        await rig.client(source).checks(REPO, "f" * 40)


# -- branch heads and compare -----------------------------------------------------------------


@pytest.mark.parametrize("source", ALL)
async def test_branch_head_is_read_conditionally(rig: Rig, source: Source) -> None:
    host, client = rig.hosts[source], rig.client(source)
    head = await client.branch_head(REPO, "main")
    assert isinstance(head, Head) and head.sha == HEAD and head.etag
    used = host.rate_used
    assert await client.branch_head(REPO, "main", etag=head.etag) == NotModified(head.etag)
    assert host.rate_used == used  # a 304 costs no rate limit
    host.set_branch(REPO, "main", MID)
    moved = await client.branch_head(REPO, "main", etag=head.etag)
    assert isinstance(moved, Head) and moved.sha == MID and moved.etag != head.etag


@pytest.mark.parametrize("source", ALL)
async def test_a_branch_with_a_slash_and_a_missing_branch(rig: Rig, source: Source) -> None:
    rig.hosts[source].set_branch(REPO, "feature/x", MID)
    client = rig.client(source)
    assert await client.branch_head(REPO, "feature/x") == Head(
        MID, rig.hosts[source].etag(REPO, "feature/x", MID))
    with pytest.raises(NotFound):
        await client.branch_head(REPO, "nope")


@pytest.mark.parametrize("source", ALL)
async def test_compare_lists_changed_paths(rig: Rig, source: Source) -> None:
    comparison = await rig.client(source).compare(REPO, BASE, HEAD)
    assert comparison.files == ("app.py", "docs/a.md", "lib/b.py", "moved.py")
    assert comparison.complete
    assert (await rig.client(source).compare(REPO, MID, HEAD)).files == ("lib/b.py", "moved.py")


async def test_github_compare_of_more_than_300_files_is_incomplete(rig: Rig) -> None:
    host = rig.hosts[Source.GITHUB]
    host.add_commit(REPO, "4" * 40, files=[f"f{i}.py" for i in range(301)], parent=HEAD)
    comparison = await rig.client(Source.GITHUB).compare(REPO, HEAD, "4" * 40)
    assert len(comparison.files) == 300 and not comparison.complete


@pytest.mark.parametrize("source", ALL)
async def test_unknown_repository_is_not_found(rig: Rig, source: Source) -> None:
    with pytest.raises(NotFound) as caught:
        await rig.client(source).set_commit_status(
            "acme/nope", HEAD, state=CommitState.SUCCESS, context="c", description="")
    assert caught.value.status == 404 and caught.value.host == source.value
