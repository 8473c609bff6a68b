"""Reporting back through the outbox, against the git-host fakes on loopback and real SQLite:
commit statuses and host deployments per docs/reporting.md, retries, restarts, bursts."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from relay.deployment import DeploymentStatus
from relay.events import Source
from relay.fakegit import GitFaults, parse_fault
from relay.outbox_wiring import OUTBOX
from relay.secret import Secret
from relay.settings import NotifySettings, Settings, SinkType
from tests.fakesinks import serve_fake_sinks
from tests.harness import Factory
from tests.integration.reports_rig import GIT_TOKEN, GitRig, git_rig, reporting, wait_until
from tests.payloads import (
    gitea_headers,
    gitea_push,
    gitlab_headers,
    gitlab_push,
    sha,
)

__all__ = ["git_rig"]
CONTEXT = "relay/10702"


def states(rig: GitRig, source: Source, commit: str) -> list[str]:
    return [r.state for r in rig.hosts[source].statuses if r.sha == commit]


async def test_a_successful_github_push_shows_pending_then_success_and_a_deployment(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    h = await harness(configure=reporting(), outbox=git_rig.options())
    commit = sha("report-ok")
    [dep] = await h.push(after=commit)
    assert (await h.final(dep)).status is DeploymentStatus.SUCCEEDED
    host = git_rig.hosts[Source.GITHUB]
    await wait_until(git_rig, lambda: "success" in states(git_rig, Source.GITHUB, commit))
    got = states(git_rig, Source.GITHUB, commit)
    assert got[0] == "pending" and got[-1] == "success"
    assert {r.context for r in host.statuses} == {CONTEXT}
    final = [r for r in host.statuses if r.state == "success"][-1]
    assert final.description.startswith("rolled out to cluster 10702 in ")
    await wait_until(git_rig, lambda: bool(host.deployments)
                     and host.deployments[0].state == "success")
    [deployment] = host.deployments
    assert deployment.environment == "cluster-10702"
    assert [s.state for s in deployment.statuses] == ["queued", "in_progress", "success"]


async def test_a_failing_version_shows_failure_with_the_reason(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    h = await harness(configure=reporting(), outbox=git_rig.options())
    commit = sha("report-fail")
    h.fault(f"fail-version:{commit}")
    [dep] = await h.push(after=commit)
    ended = await h.final(dep)
    assert ended.status is DeploymentStatus.FAILED
    await wait_until(git_rig, lambda: "failure" in states(git_rig, Source.GITHUB, commit))
    last = [r for r in git_rig.hosts[Source.GITHUB].statuses if r.sha == commit][-1]
    assert last.state == "failure"
    assert last.description.startswith("rollout failed on cluster 10702")


async def test_gitlab_and_gitea_pushes_show_pending_then_success(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    h = await harness(configure=reporting(), outbox=git_rig.options())
    lab, tea = sha("report-gitlab"), sha("report-gitea")
    body = gitlab_push(after=lab)
    resp = await h.client.post("/hooks/gitlab", data=body, headers=gitlab_headers())
    assert resp.status == 202, await resp.text()
    [lab_dep] = [d["id"] for d in (await resp.json())["deployments"]]
    assert (await h.final(lab_dep)).status is DeploymentStatus.SUCCEEDED
    body = gitea_push(after=tea)
    resp = await h.client.post("/hooks/gitea", data=body, headers=gitea_headers(body))
    assert resp.status == 202, await resp.text()
    [tea_dep] = [d["id"] for d in (await resp.json())["deployments"]]
    assert (await h.final(tea_dep)).status is DeploymentStatus.SUCCEEDED
    await wait_until(git_rig, lambda: "success" in states(git_rig, Source.GITLAB, lab)
                     and "success" in states(git_rig, Source.GITEA, tea))
    lab_states = states(git_rig, Source.GITLAB, lab)
    assert lab_states[0] in ("pending", "running") and lab_states[-1] == "success"
    tea_states = states(git_rig, Source.GITEA, tea)
    assert tea_states[0] == "pending" and tea_states[-1] == "success"
    assert not git_rig.hosts[Source.GITEA].deployments  # Gitea: statuses only
    await wait_until(git_rig, lambda: bool(git_rig.hosts[Source.GITLAB].deployments)
                     and git_rig.hosts[Source.GITLAB].deployments[0].state == "success")


async def test_two_502s_then_a_201_delivers_once(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    rig_host = git_rig.hosts[Source.GITHUB]
    h = await harness(configure=reporting(), outbox=git_rig.options())
    faults = _faults(git_rig, Source.GITHUB)
    faults.add(parse_fault("error:commit_status:502:count=2"))
    commit = sha("report-502")
    [dep] = await h.push(after=commit)
    assert (await h.final(dep)).status is DeploymentStatus.SUCCEEDED
    await wait_until(git_rig, lambda: "success" in states(git_rig, Source.GITHUB, commit))
    got = states(git_rig, Source.GITHUB, commit)
    assert got.count("success") == 1
    assert len(rig_host.statuses) == len(got)
    retried = h.registry.get_sample_value(
        "relay_reports_total", {"host": "github", "kind": "commit_status", "outcome": "retried"})
    assert retried == 2


async def test_a_host_down_for_the_whole_rollout_gets_the_final_state_after(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    faults = _faults(git_rig, Source.GITHUB)
    faults.add(parse_fault("error:commit_status:503"))
    h = await harness(configure=reporting(), outbox=git_rig.options())
    commit = sha("report-down")
    [dep] = await h.push(after=commit)
    assert (await h.final(dep)).status is DeploymentStatus.SUCCEEDED
    assert states(git_rig, Source.GITHUB, commit) == []
    faults.clear()
    await wait_until(git_rig, lambda: "success" in states(git_rig, Source.GITHUB, commit))
    assert states(git_rig, Source.GITHUB, commit)[-1] == "success"


async def test_a_20_push_burst_leaves_no_commit_pending(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    h = await harness(configure=reporting(), outbox=git_rig.options())
    commits = [sha(f"burst-{i}") for i in range(20)]
    deps = [d for c in commits for d in await h.push(after=c)]
    await h.final(deps[-1])  # the newest runs last: every other one has ended by then
    for dep in deps:
        got = await h.store.get_deployment(dep)
        assert got is not None and not got.status.is_open

    def last_states() -> dict[str, str]:
        found: dict[str, str] = {}
        for r in git_rig.hosts[Source.GITHUB].statuses:
            found[r.sha] = r.state
        return found

    await wait_until(git_rig, lambda: len(last_states()) == 20
                     and "pending" not in last_states().values())
    await h.client.app[OUTBOX].drained()
    assert await h.store.outbox_pending() == 0  # type: ignore[attr-defined]


def _faults(rig: GitRig, source: Source) -> GitFaults:
    faults = rig.hosts[source].faults
    assert isinstance(faults, GitFaults)
    return faults


async def test_a_crash_between_deployment_created_and_status_set_leaves_one_deployment(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    faults = _faults(git_rig, Source.GITHUB)
    faults.add(parse_fault("error:deployment_status:503"))  # created, never moved
    h = await harness(configure=reporting(), outbox=git_rig.options())
    commit = sha("report-crash")
    [dep] = await h.push(after=commit)
    assert (await h.final(dep)).status is DeploymentStatus.SUCCEEDED
    host = git_rig.hosts[Source.GITHUB]
    await wait_until(git_rig, lambda: len(host.deployments) == 1)
    await h.client.close()  # the process ends with the status still unsent
    faults.clear()
    again = await harness(configure=reporting(), outbox=git_rig.options())  # same store file
    await again.client.app[OUTBOX].drained()
    [deployment] = host.deployments
    assert [s.state for s in deployment.statuses] == ["queued", "in_progress", "success"]


async def test_a_1000_push_burst_costs_about_one_call_per_commit(
        harness: Factory, git_rig: GitRig, tmp_path: Path) -> None:
    h = await harness(configure=reporting(), outbox=git_rig.options(), step_s=0.3)
    commits = [sha(f"big-burst-{i}") for i in range(1000)]
    deps = [d for c in commits for d in await h.push(after=c)]
    await h.final(deps[-1], within=120)
    await h.client.app[OUTBOX].drained()
    host = git_rig.hosts[Source.GITHUB]
    last = {r.sha: r.state for r in host.statuses}
    assert set(last) == set(commits)
    assert "pending" not in last.values()
    assert host.requests <= 1.1 * len(commits), host.requests


async def test_tokens_appear_in_no_log_metric_or_error(
        harness: Factory, git_rig: GitRig, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    faults = _faults(git_rig, Source.GITHUB)
    faults.add(parse_fault("error:commit_status:401:count=1"))
    faults.add(parse_fault("error:deployment:502:count=2"))
    h = await harness(configure=reporting(), outbox=git_rig.options())
    [dep] = await h.push(after=sha("report-secret"))
    assert (await h.final(dep)).status is DeploymentStatus.SUCCEEDED
    await h.client.app[OUTBOX].drained()
    metrics = await (await h.client.get("/metrics")).text()
    seen = capsys.readouterr()
    text = metrics + seen.out + seen.err + caplog.text
    assert "outbox_failed" in text or "outbox_retry" in text  # the errors were logged
    assert GIT_TOKEN not in text


WHSEC = "whsec_" + base64.b64encode(b"relay-test-signing-key-32-bytes!").decode()


async def test_a_failing_rollout_sends_one_slack_message_and_one_signed_webhook(
        harness: Factory, git_rig: GitRig, capsys: pytest.CaptureFixture[str]) -> None:
    async with serve_fake_sinks() as sinks:
        def with_sinks(settings: Settings) -> Settings:
            slack = NotifySettings(name="ops", type=SinkType.SLACK,
                                   url=Secret(sinks.url("slack-sinksecret"), "RELAY_SLACK_URL"))
            hook = NotifySettings(name="audit", type=SinkType.WEBHOOK,
                                  url=Secret(sinks.url("hook-sinksecret"), "RELAY_AUDIT_URL"),
                                  secret=Secret(WHSEC, "RELAY_AUDIT_SECRET"))
            return dataclasses.replace(reporting()(settings), notify=(slack, hook))

        h = await harness(configure=with_sinks, outbox=git_rig.options())
        commit = sha("report-notify")
        h.fault(f"fail-version:{commit}")
        [dep] = await h.push(after=commit)
        assert (await h.final(dep)).status is DeploymentStatus.FAILED
        await h.client.app[OUTBOX].drained()
        [slack] = sinks.for_sink("slack-sinksecret")
        [hook] = sinks.for_sink("hook-sinksecret")
    assert commit[:12] in json.dumps(slack.json()) and "blocks" in slack.json()
    verified = Webhook(WHSEC).verify(hook.body, {k.lower(): v for k, v in hook.headers.items()})
    assert verified["type"] == "deployment.failed"
    assert verified["deployment"]["version"] == commit
    for sink in ("ops", "audit"):
        assert h.registry.get_sample_value(
            "relay_notifications_total", {"sink": sink, "outcome": "sent"}) == 1
    metrics = await (await h.client.get("/metrics")).text()
    seen = capsys.readouterr()
    assert "sinksecret" not in metrics + seen.out + seen.err
    assert WHSEC not in metrics + seen.out + seen.err
