"""relay.notify.message: what a notification says, and its round trip through the outbox."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from relay.deployment import DeploymentKind, DeploymentStatus
from relay.notify import NotifyEvent, Tone, build_notification, event_for
from relay.notify.message import Notification, format_duration, short_version
from tests.notify_samples import FINISHED, OLD_SHA, SHA, deployment, notification


def test_a_failed_deployment_names_repo_ref_commit_cluster_reason_duration_and_link() -> None:
    n = notification(NotifyEvent.FAILED)
    assert (n.repo, n.ref_name, n.commit, n.cluster) == ("acme/shop", "main", SHA[:12], 10702)
    assert n.status == "failed" and n.reason == "cluster reported deploy_fail"
    assert n.duration_s == 41.0
    assert n.link == "https://relay.example.com/ui/deployments/42"
    assert n.title == f"Rollout of {SHA[:12]} to cluster 10702 failed after 41 s"
    assert n.tone is Tone.BAD and n.kind == "push"
    assert n.deployment["id"] == 42 and n.deployment["status"] == "failed"


def test_without_public_url_there_is_no_link() -> None:
    assert notification(public_url=None).link is None
    assert "http" not in notification(public_url=None).text


@pytest.mark.parametrize(("event", "title"), [
    (NotifyEvent.SUCCEEDED, f"Rolled out {SHA[:12]} to cluster 10702 in 41 s"),
    (NotifyEvent.TIMED_OUT, f"Rollout of {SHA[:12]} to cluster 10702 timed out after 41 s"),
    (NotifyEvent.ERROR, f"Deployment of {SHA[:12]} to cluster 10702 could not be triggered"),
    (NotifyEvent.SKIPPED, f"Deployment of {SHA[:12]} to cluster 10702 skipped"),
    (NotifyEvent.CANCELED, f"Deployment of {SHA[:12]} to cluster 10702 canceled by hand"),
    (NotifyEvent.HELD, f"Deployment of {SHA[:12]} to cluster 10702 is held"),
    (NotifyEvent.WAITING_CHECKS,
     f"Deployment of {SHA[:12]} to cluster 10702 waits for the commit's checks"),
])
def test_every_event_has_its_words(event: NotifyEvent, title: str) -> None:
    assert notification(event).title == title


def test_every_event_has_a_title_and_a_tone() -> None:
    for event in NotifyEvent:
        n = notification(event)
        assert n.title and n.tone in Tone


def test_superseded_names_the_deployment_that_superseded_it() -> None:
    n = notification(NotifyEvent.SUPERSEDED, status=DeploymentStatus.SUPERSEDED,
                     superseded_by=57, triggered_at=None, finished_at=None, error=None)
    assert n.title.endswith("superseded by deployment #57")
    assert n.duration_s is None and n.reason is None


def test_a_rollback_names_both_deployments_and_links_to_the_rollback() -> None:
    n = notification(NotifyEvent.ROLLBACK)
    assert n.title == f"Rolling back cluster 10702 to {OLD_SHA[:12]} after {SHA[:12]} went wrong"
    assert n.rollback_id == 43 and n.rollback_commit == OLD_SHA[:12]
    assert n.link == "https://relay.example.com/ui/deployments/43"
    assert n.deployment_id == 42


def test_a_rollback_without_the_rollback_deployment_is_refused() -> None:
    with pytest.raises(ValueError, match="rollback deployment"):
        build_notification(deployment(), NotifyEvent.ROLLBACK, at=FINISHED)


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError):
        build_notification(deployment(), "exploded", at=FINISHED)


def test_a_manual_deployment_is_of_kind_manual() -> None:
    assert notification(manual=True, kind=DeploymentKind.MANUAL).kind == "manual"


def test_no_duration_before_the_trigger() -> None:
    assert notification(NotifyEvent.HELD, triggered_at=None, finished_at=None).duration_s is None


def test_a_long_reason_is_clipped() -> None:
    n = notification(error="x" * 5000)
    assert n.reason is not None and len(n.reason) == 1000 and n.reason.endswith("...")


@pytest.mark.parametrize(("version", "shown"), [
    (SHA, SHA[:12]), ("a" * 64, "a" * 12), ("v1.2.3", "v1.2.3"), ("ABC" * 14, "ABC" * 14),
    ("v" * 200, "v" * 77 + "..."),
])
def test_short_version(version: str, shown: str) -> None:
    assert short_version(version) == shown


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "0 s"), (41.4, "41 s"), (60, "1 min"), (185, "3 min 5 s"), (7440, "2 h 4 min"),
    (7200, "2 h"),
])
def test_format_duration(seconds: float, words: str) -> None:
    assert format_duration(seconds) == words


@pytest.mark.parametrize("event", list(NotifyEvent))
def test_round_trip_through_json(event: NotifyEvent) -> None:
    n = notification(event)
    stored = json.loads(json.dumps(n.to_json()))
    assert Notification.from_json(stored) == n


def test_a_damaged_stored_notification_is_refused_by_key() -> None:
    data = notification().to_json()
    data["cluster"] = "10702"
    with pytest.raises(ValueError, match="cluster"):
        Notification.from_json(data)
    del data["cluster"]
    with pytest.raises(ValueError, match="cluster"):
        Notification.from_json(data)


def test_a_negative_clock_step_gives_no_negative_duration() -> None:
    d = deployment(finished_at=deployment().triggered_at - timedelta(seconds=5))  # type: ignore[operator]
    assert build_notification(d, NotifyEvent.FAILED, at=FINISHED).duration_s == 0.0


@pytest.mark.parametrize(("status", "event"), [
    *[(s, None) for s in ("queued", "triggering", "rolling_out", "rollback", "nonsense")],
    *[(s.value, NotifyEvent(s.value)) for s in DeploymentStatus if not s.is_open],
    ("held", NotifyEvent.HELD), ("waiting_checks", NotifyEvent.WAITING_CHECKS),
    (DeploymentStatus.FAILED, NotifyEvent.FAILED),
])
def test_event_for_a_status(status: str, event: NotifyEvent | None) -> None:
    assert event_for(status) is event
