"""relay.reports: the state table, descriptions, coalescing keys, sinks (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from relay.deployment import Deployment, DeploymentStatus
from relay.events import Source
from relay.notify import Notification, NotifyEvent, SinkSettings, SinkType
from relay.reports import (
    AWAIT_VERDICT_S,
    PENDING_SETTLE_S,
    REPORTS,
    MessageKind,
    ReportPolicy,
    describe,
    messages_for,
)
from relay.secret import Secret
from relay.settings import Action

T = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)
POLICY = ReportPolicy(hosts={Source.GITHUB: True, Source.GITLAB: True, Source.GITEA: False},
                      public_url="https://relay.example.com/")


def dep(status: DeploymentStatus, *, source: Source = Source.GITHUB, error: str | None = None,
        version: str = "a" * 40, id: int = 7) -> Deployment:  # noqa: A002
    return Deployment(id=id, cluster=10702, action=Action.VERSION, version=version,
                      source=source, repo="acme/shop", ref="refs/heads/main",
                      delivery_id="d", status=status, created_at=T,
                      triggered_at=T, finished_at=T + timedelta(seconds=41), error=error,
                      route_index=0)


def commit_states(messages: tuple[object, ...]) -> list[str]:
    return [m.payload["state"] for m in messages  # type: ignore[attr-defined]
            if m.kind is MessageKind.COMMIT_STATUS]  # type: ignore[attr-defined]


def test_every_status_has_a_row() -> None:
    assert set(REPORTS) == set(DeploymentStatus)


@pytest.mark.parametrize(("status", "state"), [
    (DeploymentStatus.QUEUED, "pending"), (DeploymentStatus.TRIGGERING, "running"),
    (DeploymentStatus.SUCCEEDED, "success"), (DeploymentStatus.FAILED, "failure"),
    (DeploymentStatus.TIMED_OUT, "failure"), (DeploymentStatus.ERROR, "error"),
    (DeploymentStatus.CANCELED, "canceled"),
])
def test_the_commit_state_of_each_status(status: DeploymentStatus, state: str) -> None:
    assert commit_states(messages_for(dep(status), POLICY)) == [state]


def test_a_succeeded_deployment_says_where_and_how_long_and_links_the_status_page() -> None:
    [status, move] = messages_for(dep(DeploymentStatus.SUCCEEDED), POLICY)
    assert status.payload["description"] == "rolled out to cluster 10702 in 41 s"
    assert status.payload["target_url"] == "https://relay.example.com/ui/deployments/7"
    assert status.payload["context"] == "relay/10702"
    assert status.key == "github|acme/shop|" + "a" * 40 + "|relay/10702"
    assert move.kind is MessageKind.DEPLOYMENT and move.payload["state"] == "success"


def test_a_queued_deployment_gets_a_settling_pending_and_no_host_deployment() -> None:
    [status] = messages_for(dep(DeploymentStatus.QUEUED), POLICY)
    assert status.payload["state"] == "pending" and status.delay_s == PENDING_SETTLE_S


def test_a_claimed_deployment_creates_its_host_deployment_queued_then_in_progress() -> None:
    found = messages_for(dep(DeploymentStatus.TRIGGERING), POLICY)
    moves = [(m.payload["state"], m.payload["create"]) for m in found
             if m.kind is MessageKind.DEPLOYMENT]
    assert moves == [("queued", True), ("in_progress", False)]


def test_gitea_gets_statuses_only() -> None:
    found = messages_for(dep(DeploymentStatus.TRIGGERING, source=Source.GITEA), POLICY)
    assert [m.kind for m in found] == [MessageKind.COMMIT_STATUS]


def test_a_superseded_commit_gets_the_final_state_of_its_superseder() -> None:
    old = dataclasses.replace(dep(DeploymentStatus.SUPERSEDED, version="b" * 40, id=6),
                              superseded_by=7)
    [placeholder, _inactive] = messages_for(old, POLICY)
    assert placeholder.delay_s == AWAIT_VERDICT_S  # waits for the verdict
    found = messages_for(dep(DeploymentStatus.SUCCEEDED), POLICY, superseded=(old,))
    final = [m for m in found if m.deployment_id == 6]
    assert [(m.payload["state"], m.payload["description"]) for m in final] == [
        ("success", "superseded by aaaaaaaaaaaa (succeeded)")]
    assert final[0].key == placeholder.key  # replaces it


def test_a_skipped_commit_already_deployed_is_a_success_else_canceled_with_the_reason() -> None:
    same = dep(DeploymentStatus.SKIPPED, error="commit aaaaaaaaaaaa is already the cluster's "
                                               "version")
    older = dep(DeploymentStatus.SKIPPED, error="commit aaaaaaaaaaaa is older: ...")
    assert commit_states(messages_for(same, POLICY)) == ["success"]
    [status, _] = messages_for(older, POLICY)
    assert status.payload["state"] == "canceled"  # GitHub: error; GitLab: canceled
    assert status.payload["description"] == "skipped: commit aaaaaaaaaaaa is older: ..."


def test_canceled_says_so_in_words() -> None:
    assert describe(dep(DeploymentStatus.CANCELED)) == "canceled by hand"


def test_descriptions_are_at_most_140_characters() -> None:
    long = dep(DeploymentStatus.FAILED, error="x " * 200)
    assert len(describe(long)) <= 140 and describe(long).endswith("\u2026")


def test_environment_and_context_come_from_the_route() -> None:
    policy = dataclasses.replace(POLICY, environments={0: "production"},
                                 context="deploy/{environment}")
    [status, _] = messages_for(dep(DeploymentStatus.SUCCEEDED), policy)
    assert status.payload["context"] == "deploy/production"


def test_a_deployment_from_a_host_without_api_reports_nothing() -> None:
    assert messages_for(dep(DeploymentStatus.SUCCEEDED),
                        ReportPolicy(hosts={Source.GITLAB: True})) == ()


def test_sinks_get_the_statuses_they_ask_for_within_their_filters() -> None:
    def sink(name: str, **kw: Any) -> SinkSettings:
        return SinkSettings(name=name, type=SinkType.SLACK,
                            url=Secret("https://hooks.example.com/x", "URL"), **kw)

    policy = dataclasses.replace(POLICY, sinks=(
        sink("ops"), sink("audit", on=frozenset({NotifyEvent.SUCCEEDED}),
                          clusters=frozenset({10702}), repos=("acme/*",)),
        sink("other", on=frozenset({NotifyEvent.SUCCEEDED}), repos=("else/*",))))
    notes = [m.target for m in messages_for(dep(DeploymentStatus.SUCCEEDED), policy)
             if m.kind is MessageKind.NOTIFICATION]
    assert notes == ["audit"]
    failed = [m for m in messages_for(dep(DeploymentStatus.FAILED), policy)
              if m.kind is MessageKind.NOTIFICATION]
    assert [m.target for m in failed] == ["ops"]
    note = Notification.from_json(failed[0].payload["notification"])
    assert (note.event, note.deployment_id, note.cluster) == (NotifyEvent.FAILED, 7, 10702)
