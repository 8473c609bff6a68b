"""relay.ingest: a verified delivery in, the row to store, the deployments and the reason out."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from relay.events import Delivery, EventKind, Source, parse_delivery
from relay.ingest import NothingToDeploy, delivery_id_for, ingest, redelivery
from tests.factories import routes
from tests.payloads import (
    SECRET,
    ZERO40,
    github_headers,
    github_ping,
    github_push,
    sha,
)

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def github(body: bytes, *, event: str = "push", key: str = "d-1") -> tuple[Delivery, bytes]:
    return parse_delivery(Source.GITHUB, github_headers(body, event=event, delivery=key), body,
                          [SECRET]), body


def test_a_matching_push_plans_one_deployment_per_route() -> None:
    delivery, body = github(github_push("acme/shop", "refs/heads/main", after=sha("a")))
    plan = ingest(delivery, body, routes(), NOW)
    assert plan.ignored is None
    assert [(d.cluster, d.action, d.version, d.route_index) for d in plan.deployments] == [
        (10702, "version", sha("a"), 0)]
    record = plan.record
    assert record.delivery_id == "github-d-1" and record.received_at == NOW
    assert record.body == body and record.repo == "acme/shop" and record.commit == sha("a")
    assert record.ignored is None and record.event == "push"


def test_no_route_is_an_ignore_reason_and_plans_nothing() -> None:
    delivery, body = github(github_push("acme/other", "refs/heads/main"))
    plan = ingest(delivery, body, routes(), NOW)
    assert plan.deployments == ()
    assert plan.ignored == plan.record.ignored == "no route matches acme/other refs/heads/main"


def test_a_ping_is_stored_without_a_push() -> None:
    delivery, body = github(github_ping(), event="ping")
    plan = ingest(delivery, body, routes(), NOW)
    assert plan.ignored == "ping" and plan.deployments == ()
    assert plan.record.event == EventKind.PING.value and plan.record.repo is None


def test_a_deletion_is_stored_with_its_ref_and_ignored() -> None:
    delivery, body = github(github_push("acme/shop", after=ZERO40))
    plan = ingest(delivery, body, routes(), NOW)
    assert plan.ignored == "branch deleted" and plan.deployments == ()
    assert plan.record.ref == "refs/heads/main" and plan.record.after == ZERO40


def test_every_actionable_push_of_a_delivery_is_planned() -> None:
    # A host that sends several refs per delivery: each push is routed on its own.
    shop, body = github(github_push("acme/shop", "refs/heads/main", after=sha("s")))
    api, _ = github(github_push("acme/api", "refs/heads/main", after=sha("p")))
    gone, _ = github(github_push("acme/shop", "refs/tags/v1", after=ZERO40))
    assert shop.push and api.push and gone.push
    several = dataclasses.replace(shop, pushes=(gone.push, shop.push, api.push))
    plan = ingest(several, body, routes(), NOW)
    assert [(d.cluster, d.version) for d in plan.deployments] == [
        (10702, sha("s")), (10703, sha("p"))]
    assert plan.record.ref == "refs/tags/v1"  # the row's columns hold the first push


def test_delivery_ids_readable_or_hashed_never_ambiguous() -> None:
    assert delivery_id_for(Source.GITLAB, "a1.b_c-d") == "gitlab-a1.b_c-d"
    long_id = delivery_id_for(Source.GITHUB, "k" * 129)
    assert long_id.startswith("github~") and len(long_id) == len("github~") + 40
    spaced = delivery_id_for(Source.GITHUB, "a b")
    assert spaced.startswith("github~")
    assert delivery_id_for(Source.GITHUB, spaced.removeprefix("github~")) != spaced
    assert delivery_id_for(Source.GITHUB, "a b") == spaced  # stable


def test_redelivery_plans_deliberate_deployments() -> None:
    delivery, body = github(github_push("acme/shop", "refs/tags/v2", after=sha("t")))
    stored = ingest(delivery, body, (), NOW).record
    [planned] = redelivery(stored, routes())
    assert planned.manual and planned.cluster == 10800 and planned.version == sha("t")
    assert planned.route_index == 1 and planned.ref == "refs/tags/v2"


@pytest.mark.parametrize(("body", "event", "reason"), [
    (github_ping(), "ping", "is not a push"),
    (github_push("acme/shop", after=ZERO40), "push", "deleted refs/heads/main"),
    (github_push("acme/other"), "push", "no route matches acme/other refs/heads/main"),
])
def test_redelivery_refuses_what_it_cannot_deploy(body: bytes, event: str, reason: str) -> None:
    delivery, raw = github(body, event=event)
    stored = ingest(delivery, raw, routes(), NOW).record
    with pytest.raises(NothingToDeploy, match=reason) as caught:
        redelivery(stored, routes())
    assert caught.value.status == 409
